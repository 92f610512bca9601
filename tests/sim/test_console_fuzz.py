"""The lab console fed whatever a learner might type or paste (see console_fuzz_lines.py for
the lines and the properties checked): each program of `COMMANDS`, iptables-restore pastes,
arbitrary text, control bytes and NUL, inputs around the size limit; and the inputs the
fuzz found, as plain regression tests."""

from __future__ import annotations

import pytest
from console_fuzz_lines import (
    EXAMPLES,
    FUZZ,
    MODE,
    PROGRAM,
    console_line,
    lab_data,
    restore_paste,
    run_and_check,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from app.sim.lab import COMMANDS, Lab
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
