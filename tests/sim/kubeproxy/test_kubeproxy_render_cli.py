"""`kube-proxy-lab render`: rules for a cluster file, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import app.cli_render  # noqa: F401  (registers the sub-command)
from app.cli import main

CLUSTER = {
    "node": {"name": "node-1", "primaryIP": "192.168.49.2"},
    "proxy": {"localDetector": {"mode": "ClusterCIDR", "cidr": "10.244.0.0/16"}},
    "services": [
        {
            "namespace": "default",
            "name": "web",
            "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        }
    ],
    "endpointSlices": [
        {
            "namespace": "default",
            "name": "web-abc",
            "service": "web",
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.244.1.5"]}, {"addresses": ["10.244.2.6"]}],
        }
    ],
}


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def test_restore_output_is_kube_proxys_restore_input(tmp_path: Path, capsys) -> None:
    assert main(["render", "--cluster", _write(tmp_path, CLUSTER), "--mode", "iptables"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*filter\n:KUBE-SERVICES - [0:0]\n")
    assert (
        '-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp '
        "-d 10.96.0.10 --dport 80 -j KUBE-SVC-" in out
    )
    assert "--probability 0.5000000000" in out
    assert out.endswith("COMMIT\n")


def test_save_output_is_what_iptables_save_shows(tmp_path: Path, capsys) -> None:
    assert main(["render", "--cluster", _write(tmp_path, CLUSTER), "--format", "save"]) == 0
    out = capsys.readouterr().out
    assert ":PREROUTING ACCEPT [0:0]" in out
    assert '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in out
    assert "-d 10.96.0.10/32 -p tcp -m comment" in out


def test_canonical_sorts_like_upstream_tests(tmp_path: Path, capsys) -> None:
    assert main(["render", "--cluster", _write(tmp_path, CLUSTER), "--canonical"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("*filter\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n")


@pytest.mark.parametrize("mode", ["userspace"])
def test_other_modes_say_not_implemented(tmp_path: Path, capsys, mode: str) -> None:
    assert main(["render", "--cluster", _write(tmp_path, CLUSTER), "--mode", mode]) == 2
    assert f"mode {mode} is not implemented yet" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("services: [oops", "is not valid YAML"),
        ("- just a list", "expected a mapping"),
        ({"services": [{"name": "x", "clusterIP": "10.0.0.300", "ports": []}]}, "invalid IP"),
        (
            {"services": [{"name": "x", "clusterIP": "10.0.0.1", "ports": [{"port": "http"}]}]},
            "expected an integer",
        ),
        ({"ipFamily": "IPv5"}, "ipFamily"),
        ({"proxy": {"masqueradeAll": "yes"}}, "masqueradeAll"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, capsys, content: object, message: str) -> None:
    assert main(["render", "--cluster", _write(tmp_path, content)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["render", "--cluster", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_step_prints_the_partial_sync_after_that_step(tmp_path: Path, capsys) -> None:
    moved = {**CLUSTER["endpointSlices"][0], "endpoints": [{"addresses": ["10.244.3.9"]}]}
    data = CLUSTER | {"steps": [{"step": 1}, {"step": 2, "updateEndpointSlices": [moved]}]}
    path = _write(tmp_path, data)
    assert main(["render", "--cluster", path, "--step", "2"]) == 0
    out = capsys.readouterr().out
    assert "--to-destination 10.244.3.9:8080" in out
    assert "-X KUBE-SEP-" in out  # the two old endpoint chains are deleted
    assert main(["render", "--cluster", path, "--step", "3"]) == 2
    assert "the file has steps [1, 2]" in capsys.readouterr().err
