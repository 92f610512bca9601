"""The rules view explains each rule on demand and the rule editor validates as one types:
every rule has an accessible explain button whose partial is fetched lazily, and a typed
spec is answered in iptables' own words with the bad token marked, or its saved form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


def _lab(client: TestClient, lang: str = "en") -> tuple[str, str]:
    page = client.get(f"/lab?lang={lang}")
    assert page.status_code == 200
    return re.search(r'data-lab="(\w+)"', page.text).group(1), page.text


def test_every_rule_row_has_a_keyboard_reachable_explain_button(client: TestClient) -> None:
    lab_id, page = _lab(client)
    rows = page.count('<td class="xr-host">')
    buttons = re.findall(r'<button type="button" class="xr"[^>]*>', page)
    assert rows > 5 and len(buttons) == rows
    for button in buttons:
        assert 'aria-expanded="false"' in button and "aria-controls=" in button
        assert re.search(r'aria-label="Explain rule \d+ of [\w-]+"', button)
        assert f'hx-get="/lab/{lab_id}/rules/explain?n=' in button
        assert "mouseenter once" in button and "focus once" in button and "click once" in button
    # The explanation itself is not in the page: it is fetched when asked for.
    assert "xr-body" not in page


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["appends to chain KUBE-SERVICES", "destination port is 8080", "jumps to chain"]),
        ("zh", ["追加到链 KUBE-SERVICES", "目的端口为 8080", "跳转到链"]),
    ],
)
def test_the_explanation_speaks_the_page_language(
    client: TestClient, lang: str, words: list[str]
) -> None:
    lab_id, _ = _lab(client, lang)
    query = {"table": "nat", "chain": "KUBE-SERVICES", "n": 1, "lang": lang}
    answer = client.get(f"/lab/{lab_id}/rules/explain", params=query)
    assert answer.status_code == 200
    for word in words:
        assert word in answer.text
    assert "<code>-m tcp --dport 8080</code>" in answer.text


def test_a_missing_rule_or_lab_is_a_clear_404(client: TestClient) -> None:
    lab_id, _ = _lab(client)
    for query in (
        {"table": "nat", "chain": "KUBE-SERVICES", "n": 999},
        {"table": "nat", "chain": "NOPE", "n": 1},
        {"table": "bogus", "chain": "X", "n": 1},
        {"table": "nat", "chain": "KUBE-SERVICES", "n": 1, "node": "no-such-node"},
    ):
        answer = client.get(f"/lab/{lab_id}/rules/explain", params=query)
        assert answer.status_code == 404 and "no longer there" in answer.text
    assert client.get("/lab/0000/rules/explain", params={"n": 1}).status_code == 404
    bad = client.get(f"/lab/{lab_id}/rules/explain", params={"n": "x"})
    assert bad.status_code == 422


def _validate(client: TestClient, lab_id: str, spec: str, **extra: object):
    query = {"table": "nat", "chain": "KUBE-SERVICES", "op": "insert", "number": 1}
    return client.get(f"/lab/{lab_id}/rules/validate", params={**query, **extra, "spec": spec})


def test_a_typo_is_shown_in_iptables_words_with_the_token_underlined(client: TestClient) -> None:
    lab_id, _ = _lab(client)
    answer = _validate(client, lab_id, "-p tcp --dportt 80 -j ACCEPT")
    assert answer.status_code == 200 and answer.headers["X-Rule-Invalid"] == "true"
    assert "iptables v1.8.9 (nf_tables): unknown option &#34;--dportt&#34;" in answer.text
    assert '<mark class="bad-token">--dportt</mark>' in answer.text
    missing = _validate(client, lab_id, "-j KUBE-NOPE")
    assert "Chain &#39;KUBE-NOPE&#39; does not exist" in missing.text
    assert '<mark class="bad-token">KUBE-NOPE</mark>' in missing.text


def test_a_valid_rule_shows_how_it_will_be_saved_and_changes_nothing(client: TestClient) -> None:
    lab_id, _ = _lab(client)
    before = client.get(f"/lab/{lab_id}/rules?fmt=save&lang=en").text
    answer = _validate(client, lab_id, "-p tcp --dport 80 -j ACCEPT", lang="zh")
    assert answer.headers["X-Rule-Invalid"] == "false"
    assert "将保存为" in answer.text
    assert "-A KUBE-SERVICES -p tcp -m tcp --dport 80 -j ACCEPT" in answer.text
    assert client.get(f"/lab/{lab_id}/rules?fmt=save&lang=en").text == before


def test_empty_policy_and_unclosed_quotes_do_not_error(client: TestClient) -> None:
    lab_id, _ = _lab(client)
    assert _validate(client, lab_id, "   ").text == ""
    assert _validate(client, lab_id, "DROP", op="policy").text == ""
    unclosed = _validate(client, lab_id, '-m comment --comment "abc')
    assert unclosed.status_code == 200 and "quote is not closed" in unclosed.text
    assert _validate(client, lab_id, "-j ACCEPT", node="nope").status_code == 404
    assert _validate(client, lab_id, "x" * 5000).status_code == 422


def test_the_spec_input_asks_for_live_validation(client: TestClient) -> None:
    lab_id, page = _lab(client)
    inputs = re.findall(r'<input name="spec"[^>]*>', page)
    assert inputs
    for field in inputs:
        assert f'hx-get="/lab/{lab_id}/rules/validate"' in field
        assert 'hx-trigger="input changed delay:300ms, change from:closest form"' in field
        check = re.search(r'hx-target="#([\w-]+)"', field).group(1)
        assert check in re.search(r'aria-describedby="([^"]+)"', field).group(1)
        assert f'id="{check}"' in page


def test_a_shared_read_only_lab_explains_its_rules_too(client: TestClient) -> None:
    lab_id, page = _lab(client)
    version = re.search(r'id="lab-version" name="version" value="(\d+)"', page).group(1)
    shared = client.post(f"/lab/{lab_id}/do", data={"op": "share", "version": version})
    path = re.search(r'value="http://testserver(/lab/shared/[^"]+)"', shared.text).group(1)
    visitor = type(client)(client.app)
    view = visitor.get(path + "?lang=en").text
    assert f'hx-get="{path}/rules/explain?n=1"' in view
    assert 'name="spec"' not in view  # read-only: no editor, nothing to validate
    query = {"table": "nat", "chain": "KUBE-SERVICES", "n": 1}
    answer = visitor.get(f"{path}/rules/explain", params=query)
    assert answer.status_code == 200 and "appends to chain KUBE-SERVICES" in answer.text
    assert visitor.get("/lab/shared/nope/rules/explain", params=query).status_code == 404
