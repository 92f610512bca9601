"""The packet player in real Chromium, on the /trace page's example (the seed cluster: a pod
asks the my-first-deploy ClusterIP on node1). What the player shows at step N must be the
engine's step N; the keys, the buttons, the matched-only filter and the branches must work;
screenshots of several states are saved in both languages and in presenter mode."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from app.sim.netfilter.engine import trace_json
from app.web.i18n import translate
from app.web.routers.trace import example

Shot = Callable[..., object]


@pytest.fixture(scope="module")
def seed_trace() -> dict[str, Any]:
    """The engine's trace of the page's example, computed here, independently of the page."""
    fields = example()
    packet: dict[str, Any] = {k: fields[k] for k in ("origin", "src", "dst", "proto")}
    packet |= {"sport": int(fields["sport"]), "dport": int(fields["dport"])}
    packet |= {k: fields[k] for k in ("in_iface", "node_ip", "pod_iface")}
    packet["pod_cidr"] = [fields["pod_cidr"]]
    return trace_json(fields["ruleset"], packet, seed=int(fields["seed"]), all_branches=True)


def _open(page: Page, lang: str = "en", query: str = "") -> None:
    page.goto(f"/trace?lang={lang}{query}")
    page.wait_for_selector("[data-player] .pl-pill")
    page.locator("#player").scroll_into_view_if_needed()


def _index(page: Page) -> int:
    return int(page.locator("[data-player]").get_attribute("data-index") or "-99")


def _shown(page: Page) -> tuple[str, str, str]:
    field = page.locator("[data-player] [data-field]")
    texts = {
        name: field.and_(page.locator(f'[data-field="{name}"]')).inner_text()
        for name in ("chain", "rule", "verdict")
    }
    return texts["chain"], texts["rule"], texts["verdict"]


def _expected(step: dict[str, Any], lang: str = "en") -> tuple[str, str, str]:
    if step["kind"] == "policy":
        rule = translate(lang, "player.step.policy")
    elif step["kind"] == "return":
        rule = translate(lang, "player.step.return")
    else:
        rule = translate(lang, "player.step.rule", n=str(step["rule"]))
    return step["chain"], rule, step["verdict"]


def test_each_step_shows_the_engines_step_forward_and_back(
    page: Page, seed_trace: dict[str, Any], browser_errors: list[str], screenshot: Shot
) -> None:
    steps = seed_trace["steps"]
    _open(page)
    assert _index(page) == -1  # before netfilter
    forward = page.get_by_role("button", name=translate("en", "player.forward"))
    for n in range(len(steps)):
        forward.click()
        assert _index(page) == n
        assert _shown(page) == _expected(steps[n]), f"step {n}"
    back = page.get_by_role("button", name=translate("en", "player.back"))
    for n in range(len(steps) - 2, 2, -1):
        back.click()
        assert _index(page) == n
        assert _shown(page) == _expected(steps[n]), f"back to step {n}"
    assert browser_errors == []


def test_the_dnat_step_highlights_the_new_destination(
    page: Page, seed_trace: dict[str, Any], browser_errors: list[str], screenshot: Shot
) -> None:
    steps = seed_trace["steps"]
    n = next(i for i, s in enumerate(steps) if s["verdict"] == "DNAT")
    _open(page)
    for _ in range(n + 1):
        page.keyboard.press("ArrowRight")
    assert _shown(page) == _expected(steps[n])
    row = page.locator('table.headers tr[data-header="dst"]')
    expect(row).to_have_class("changed")
    assert row.locator("mark").inner_text() == steps[n]["packet"]["dst"]
    assert row.locator("td").first.inner_text() == steps[n - 1]["packet"]["dst"]
    assert page.locator('table.headers tr[data-header="src"]').get_attribute("class") == ""
    expect(page.locator(".pl-token")).to_have_class(re.compile(r"\bnat\b"))
    expect(page.locator(".rule-text mark.hit")).to_contain_text("-j DNAT")
    # The chain stack: KUBE-SERVICES -> KUBE-SVC-... -> KUBE-SEP-..., the SEP on top.
    chains = page.locator(".stack-frame .stack-chain").all_inner_texts()
    assert chains[0] == "PREROUTING" and chains[1] == "KUBE-SERVICES"
    assert chains[2].startswith("KUBE-SVC-") and chains[3] == steps[n]["chain"]
    expect(page.locator(".stack-frame.top .stack-chain")).to_have_text(steps[n]["chain"])
    screenshot(page, "player-dnat-en-1280x720")
    assert browser_errors == []


def test_keyboard_shortcuts_drive_the_player(
    page: Page, seed_trace: dict[str, Any], browser_errors: list[str]
) -> None:
    steps = seed_trace["steps"]
    _open(page)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("PageDown")
    assert _index(page) == 2
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("PageUp")
    assert _index(page) == 0
    page.keyboard.press("End")
    assert _index(page) == len(steps)  # after netfilter: the final frame
    final = seed_trace["final"]
    expect(page.locator(".final")).to_contain_text(
        translate("en", "player.final.out", iface=final["out_iface"])
    )
    expect(page.locator("dl.conntrack")).to_contain_text(seed_trace["conntrack"]["reply"])
    expect(page.locator(".reply-steps li.unnat")).to_contain_text(
        translate("en", "player.reply.undnat", addr="10.97.139.74:8080")
    )
    page.keyboard.press("Home")
    assert _index(page) == -1
    page.keyboard.press(" ")  # play
    play = page.locator('[data-action="play"]')
    expect(play).to_have_attribute("aria-pressed", "true")
    expect(play).to_contain_text(translate("en", "player.pause"))
    # A function, not an expression: Playwright evaluates expressions with eval, which the CSP
    # refuses.
    page.wait_for_function("() => +document.querySelector('[data-player]').dataset.index >= 1")
    page.keyboard.press(" ")  # pause
    expect(play).to_have_attribute("aria-pressed", "false")
    stopped = _index(page)
    page.wait_for_timeout(1800)
    assert _index(page) == stopped, "a paused player must not move"
    assert stopped >= 1
    assert browser_errors == []


def test_matched_only_skips_the_rules_that_missed(
    page: Page, seed_trace: dict[str, Any], browser_errors: list[str]
) -> None:
    matched = [s for s in seed_trace["steps"] if s["matched"]]
    _open(page)
    page.get_by_role("button", name=translate("en", "player.matched_only")).click()
    expect(page.locator('[data-toggle="matched"]')).to_have_attribute("aria-pressed", "true")
    for n in range(len(matched)):
        page.keyboard.press("ArrowRight")
        assert _shown(page) == _expected(matched[n]), f"matched step {n}"
    assert int(page.locator("[data-scrubber]").get_attribute("max") or 0) == len(matched) + 1
    assert browser_errors == []


def test_all_branches_lists_both_endpoints_at_fifty_percent(
    page: Page, seed_trace: dict[str, Any], browser_errors: list[str], screenshot: Shot
) -> None:
    _open(page, "zh")
    panel = page.locator("[data-branches]")
    expect(panel).to_be_hidden()
    page.get_by_role("button", name=translate("zh", "player.branches")).click()
    expect(panel).to_be_visible()
    rows = panel.locator("tbody tr")
    expect(rows).to_have_count(2)
    endpoints = sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.endpoint)"))
    assert endpoints == ["10.244.1.137:8080", "10.244.1.138:8080"]
    assert rows.locator(".branch-p").all_inner_texts() == ["50%", "50%"]
    taken = panel.locator("tr.taken")
    assert taken.get_attribute("data-endpoint") == seed_trace["conntrack"]["dnat_to"]
    page.keyboard.press("End")
    screenshot(page, "player-end-branches-zh-1280x720", full_page=True)
    assert browser_errors == []


def test_controls_are_labelled_buttons_reachable_by_tab_in_chinese(
    page: Page, browser_errors: list[str]
) -> None:
    _open(page, "zh")
    for key in ("player.restart", "player.back", "player.forward", "player.end"):
        expect(page.get_by_role("button", name=translate("zh", key))).to_be_visible()
    expect(page.locator("[data-live]")).to_have_attribute("aria-live", "polite")
    play = page.locator('[data-action="play"]')
    page.locator("#ruleset").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if play.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("the play button cannot be reached with Tab")
    assert play.evaluate("el => getComputedStyle(el).outlineStyle") != "none"
    page.keyboard.press("ArrowRight")
    assert _index(page) == 0
    live = page.locator("[data-live]").inner_text()
    assert translate("zh", "player.step.counter", n="1", total="25").split("，")[0] in live
    assert browser_errors == []


def test_a_new_trace_swapped_in_by_htmx_is_replayed(
    page: Page, browser_errors: list[str], screenshot: Shot
) -> None:
    rules = "\n".join(
        [
            "*filter",
            ":INPUT ACCEPT [0:0]",
            ":FORWARD DROP [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            "-A FORWARD -p tcp --dport 22 -j ACCEPT",
            "COMMIT",
            "",
        ]
    )
    _open(page)
    page.keyboard.press("End")
    page.locator("#ruleset").fill(rules)
    page.locator("#f-src").fill("192.168.49.100")
    page.locator("#f-in_iface").fill("eth0")
    page.locator("#f-dst").fill("10.244.1.9")
    page.get_by_role("button", name=translate("en", "trace.submit")).click()
    page.wait_for_function("() => document.querySelector('[data-player]').dataset.index === '-1'")
    page.keyboard.press("End")
    expect(page.locator(".final")).to_contain_text(translate("en", "player.final.dropped"))
    expect(page.locator('[data-field="verdict"]')).to_have_text("DROP")
    assert page.locator(".pl-token.dropped").count() == 1
    screenshot(page, "player-dropped-en-1280x720")
    # A bad rule answers under the field, in iptables' words, without losing the page.
    page.locator("#ruleset").fill(rules.replace("--dport 22", "--dport"))
    page.get_by_role("button", name=translate("en", "trace.submit")).click()
    expect(page.locator("#err-ruleset")).to_contain_text("iptables-restore")
    assert browser_errors == []


def test_presenter_mode_at_1920x1080_and_reduced_motion(
    page: Page, browser_errors: list[str], screenshot: Shot
) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.emulate_media(reduced_motion="reduce")
    _open(page, "zh", "&present=1")
    assert page.evaluate("document.body.classList.contains('present')")
    width = page.locator(".player-stage").evaluate("el => el.getBoundingClientRect().width")
    assert width > 1500, "presenter mode gives the diagram the full width"
    for _ in range(8):
        page.keyboard.press("PageDown")
    assert page.evaluate("document.querySelector('.pl-token').getAnimations().length") == 0
    screenshot(page, "player-present-zh-1920x1080")
    # Browser zoom at 200% on 1280x720 lays the page out in 640x360 CSS pixels.
    page.set_viewport_size({"width": 640, "height": 360})
    # Nothing of the form or the player sticks out (the drawing scrolls inside its frame).
    wide = page.evaluate(
        """() => [...document.querySelectorAll('#trace-workspace *')]
            .filter(el => !el.closest('.player-stage') || el.matches('.player-stage'))
            .filter(el => el.getBoundingClientRect().right > innerWidth + 1)
            .map(el => el.tagName + '.' + el.className)"""
    )
    assert wide == [], "zoomed to 200%, these stick out: " + ", ".join(wide)
    assert browser_errors == []


def test_an_ipvs_trace_shows_the_director_where_the_kernel_runs_it(
    page: Page, browser_errors: list[str], screenshot: Shot
) -> None:
    from app.sim.kubeproxy.ipvs import IpvsOptions, render_ipvs
    from app.sim.kubeproxy.ipvs_trace import trace_sync_json
    from app.sim.kubeproxy.state import ProxyState
    from app.sim.scenarios import build

    cluster = build("seed", 0)
    data = {**cluster.to_proxy_dict("node1"), "mode": "ipvs"}
    sync = render_ipvs(ProxyState.from_dict(data), IpvsOptions.from_dict(data))
    packet = {"origin": "external", "src": "10.244.1.137", "dst": "10.97.139.74",
              "proto": "tcp", "sport": 40000, "dport": 8080, "in_iface": "cni0",
              "node_ip": "192.168.49.3/24", "pod_cidr": ["10.244.1.0/24"]}  # fmt: skip
    trace = trace_sync_json(sync, packet)
    n = next(i for i, s in enumerate(trace["steps"]) if s["kind"] == "ipvs")
    _open(page)
    # The lab swaps a new trace into #trace-data; the player picks it up on the next htmx
    # settle, which this stands in for.
    page.evaluate(
        """trace => {
            document.getElementById('trace-data').textContent = JSON.stringify(trace);
            document.dispatchEvent(new Event('htmx:afterSettle'));
        }""",
        trace,
    )
    page.wait_for_selector('.pl-pill[data-pill="INPUT/ipvs"]')
    for _ in range(n + 1):
        page.keyboard.press("ArrowRight")
    step = trace["steps"][n]
    expect(page.locator('[data-field="verdict"]')).to_have_text(step["verdict"])
    expect(page.locator('[data-field="chain"]')).to_have_text(step["virtual_server"])
    expect(page.locator('.pl-pill[data-pill="INPUT/ipvs"]')).to_have_class(
        re.compile(r"\bactive\b")
    )
    screenshot(page, "player-ipvs-en-1280x720")
    page.keyboard.press("End")
    expect(page.locator('[data-field="verdict"]')).to_have_text(trace["final"]["verdict"])
    assert browser_errors == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sending_many_requests_draws_the_load_chart(
    page: Page, lang: str, browser_errors: list[str], screenshot: Shot
) -> None:
    _open(page, lang)
    page.locator('input[name="count"]').fill("400")
    page.get_by_role("button", name=translate(lang, "loadchart.submit")).click()
    plot = page.locator(".loadchart-plot")
    expect(plot.locator(".main-svg").first).to_be_visible(timeout=20_000)
    assert page.evaluate("window.Plotly && Plotly.version") == "4.1.1"  # the vendored copy
    expect(plot.locator(".bars .point")).to_have_count(2)
    expect(plot.locator(".gtitle")).to_have_text(translate(lang, "chart.title", n="400"))
    rows = page.locator(".loadchart-table tbody tr")
    expect(rows).to_have_count(2)
    counts = [int(c) for c in rows.locator("td:nth-child(2)").all_inner_texts()]
    assert sum(counts) == 400 and all(100 < c < 300 for c in counts)
    assert rows.locator("td:nth-child(4)").all_inner_texts() == ["50.0%", "50.0%"]
    page.locator(".loadchart-panel").scroll_into_view_if_needed()
    screenshot(page, f"player-loadchart-{lang}-1280x720")
    assert browser_errors == []
