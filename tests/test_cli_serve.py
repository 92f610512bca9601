"""The console script: sub-commands from the registry, and bad input as a message, never a
traceback (exit status 2 for usage errors)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import cli
from app.config import ROOT


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port", "0"),
        ("serve", "--port", "70000"),
        ("serve", "--workers", "many"),
        ("no-such-command",),
        (),
    ],
)
def test_bad_arguments_exit_2_without_a_traceback(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "error:" in result.stderr


def test_serve_reports_an_unusable_database_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {"DATABASE_URL": f"sqlite:///{blocker}/db.sqlite3", "PATH": "/usr/bin:/bin"}
    result = _run("serve", "--port", "8999", env=env)
    assert result.returncode == 1
    assert "cannot prepare the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_module_is_wired_into_the_console_script() -> None:
    modules = {f"app.{path.stem}" for path in (ROOT / "app").glob("cli_*.py")}
    assert modules <= set(cli.COMMAND_MODULES)
    result = _run("--help")
    assert result.returncode == 0
    cli.build_parser()  # imports COMMAND_MODULES, as the console script does
    for name in ("serve", "trace", "render", *cli.COMMANDS):
        assert name in result.stdout


@pytest.fixture
def echo_command() -> Iterator[None]:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("word")

    def run(args: argparse.Namespace) -> int:
        if args.word == "bad":
            raise cli.UsageError("bad word")
        print(args.word)
        return 0

    cli.register(cli.Command("echo-test", "print a word", add_arguments, run))
    yield
    del cli.COMMANDS["echo-test"]


@pytest.mark.usefixtures("echo_command")
def test_a_registered_command_runs_and_reports_usage_errors(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["echo-test", "hello"]) == 0
    assert capsys.readouterr().out == "hello\n"
    assert cli.main(["echo-test", "bad"]) == 2
    assert capsys.readouterr().err == "kube-proxy-lab echo-test: bad word\n"


def test_a_name_registers_once() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        cli.register(cli.COMMANDS["serve"])
