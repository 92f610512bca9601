"""The lab console fed whatever a learner might type or paste (see console_fuzz_lines.py for
the lines and the properties checked): each program of `COMMANDS`, iptables-restore pastes,
arbitrary text, control bytes and NUL, inputs around the size limit; and the inputs the
fuzz found, as plain regression tests."""

from __future__ import annotations

import pytest
from console_fuzz_lines import (
    EXAMPLES,
    FUZZ,
    INTERNAL,
    MODE,
    PROGRAM,
    check_line,
    console_line,
    lab_data,
    restore_paste,
    run_and_check,
    session,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sim.lab import COMMANDS, Lab, complete
from app.sim.lab.console import MAX_INPUT
from app.sim.lab.text import say


@pytest.mark.parametrize("program", list(COMMANDS))
def test_every_program_answers_and_a_failure_changes_nothing(program: str) -> None:
    @settings(FUZZ, max_examples=max(5, EXAMPLES // 3))
    @given(console_line(program), st.sampled_from(["en", "zh"]))
    def check(case: tuple[str, str], lang: str) -> None:
        mode, line = case
        run_and_check(mode, line, lang)

    check()


@FUZZ
@given(restore_paste())
def test_iptables_restore_pastes_answer_and_a_refusal_changes_nothing(
    case: tuple[str, str],
) -> None:
    mode, paste = case
    run_and_check(mode, paste)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
@given(session())
def test_lines_in_a_row_each_answer_and_each_failure_changes_nothing(
    case: tuple[str, list[str]],
) -> None:
    key, lines = case
    lab = Lab.from_data(lab_data(key))
    for line in lines:
        check_line(lab, line)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
@given(PROGRAM.flatmap(console_line), st.integers(0, 400))
def test_tab_completion_of_any_partial_line_lists_words(case: tuple[str, str], cut: int) -> None:
    key, line = case
    lab = Lab.from_data(lab_data(key))
    words = complete(lab, line[:cut])
    assert isinstance(words, list) and all(isinstance(w, str) for w in words)
    assert words == sorted(words)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
@given(restore_paste())
def test_importing_a_mutated_dump_answers_and_a_refusal_changes_nothing(
    case: tuple[str, str],
) -> None:
    key, paste = case
    dump = "\n".join(paste.split("\n")[1:-1])  # the here-document's body
    lab = Lab.from_data(lab_data(key))
    before = lab.to_data()
    result = lab.import_dump(dump)
    assert result.error not in INTERNAL
    if not result.ok:
        assert result.error.strip()
        assert lab.to_data() == before


@settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
@given(MODE, st.text(max_size=300))
def test_arbitrary_text_in_every_mode(mode: str, text: str) -> None:
    run_and_check(mode, text)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 2))
@given(MODE, PROGRAM, st.binary(max_size=64))
def test_control_bytes_and_nul(mode: str, program: str, raw: bytes) -> None:
    run_and_check(mode, program + " " + raw.decode("latin-1"))


def test_input_over_the_limit_is_refused_in_the_learners_language_and_not_recorded() -> None:
    lab = Lab.from_data(lab_data("iptables"))
    before = lab.to_data()
    line = "iptables -A INPUT -j ACCEPT " + "x" * MAX_INPUT
    for lang in ("en", "zh"):
        result = lab.run(line, lang=lang)
        assert not result.ok
        assert result.error == say("too_big", lang, size=len(line) // 1024, limit=MAX_INPUT // 1024)
    assert lab.to_data() == before


def test_input_just_under_the_limit_still_runs() -> None:
    lab = Lab.from_data(lab_data("iptables"))
    line = "kubectl get pods # " + "x" * (MAX_INPUT - 100)
    result = lab.run(line)
    assert result.ok and "my-first-deploy" in result.output


# -- inputs the fuzz found ---------------------------------------------------------------------


def test_a_failed_iptables_command_on_a_table_never_loaded_leaves_no_table() -> None:
    """nf_tables aborts the failed batch: `iptables-save` must not show a new empty table."""
    lab = Lab.from_data(lab_data("nftables"))  # kube-proxy's rules are nft only: no iptables
    before = lab.run("iptables-save").output
    result = lab.run("iptables -t nat -D INPUT 1")
    assert not result.ok and result.error
    assert lab.run("iptables-save").output == before
    assert "*nat" not in lab.run("iptables-save").output


def test_nft_with_an_option_where_the_object_kind_goes_is_a_syntax_error() -> None:
    """`nft add -a ip kube-proxy CHAIN ...` raised KeyError: the console showed its internal
    error instead of nft's own refusal."""
    lab = Lab.from_data(lab_data("nftables"))
    before = lab.run("nft list ruleset").output
    result = lab.run("nft add -a ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject")
    assert not result.ok
    assert result.error == "Error: syntax error, unexpected -a\n"
    assert lab.run("nft list ruleset").output == before


def test_a_refused_kubectl_create_leaves_the_next_objects_names_as_they_were() -> None:
    """`kubectl expose` of a Service that exists drew a UID before the AlreadyExists check:
    every object created afterwards got another UID than without the refused command."""
    plain, refused = Lab.from_data(lab_data("iptables")), Lab.from_data(lab_data("iptables"))
    answer = refused.run("kubectl expose deployment/my-first-deploy --port=80")
    assert not answer.ok and "AlreadyExists" in answer.error
    for lab in (plain, refused):
        assert lab.run("kubectl create deployment web --image=nginx").ok

    def uid(lab: Lab) -> list[str]:
        shown = lab.run("kubectl get deployment web -o yaml").output.splitlines()
        return [line.strip() for line in shown if line.strip().startswith("uid:")]

    assert uid(refused) == uid(plain) != []
