"""`kube-proxy-lab render --mode nftables`: the nft listing, the canonical knftables Dump,
partial syncs through a file's steps, and clear errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.cli import main

CLUSTER = {
    "mode": "nftables",
    "node": {"name": "n", "primaryIP": "192.168.0.2", "interfaces": {"eth0": ["192.168.0.2/24"]}},
    "proxy": {
        "localDetector": {"mode": "ClusterCIDR", "cidr": "10.0.0.0/8"},
        "serviceCIDRs": "172.30.0.0/16",
    },
    "services": [
        {
            "namespace": "ns1",
            "name": "svc1",
            "clusterIP": "172.30.0.41",
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
        }
    ],
    "endpointSlices": [
        {
            "namespace": "ns1",
            "name": "svc1-1",
            "service": "svc1",
            "addressType": "IPv4",
            "ports": [{"name": "p80", "port": 80, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.180.0.1"]}],
        }
    ],
    "steps": [{"step": 2, "deleteServices": ["ns1/svc1"]}],
}


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_render_prints_the_nft_listing(tmp_path: Path, capsys) -> None:
    assert main(["render", "--cluster", _write(tmp_path, CLUSTER)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("table ip kube-proxy {\n")
    assert "\tchain service-ULMVA6XW-ns1/svc1/tcp/p80 {\n" in out
    assert "\t\tmeta l4proto tcp dnat to 10.180.0.1:80\n" in out
    assert '\t\tip daddr 172.30.0.0/16 drop comment "Drop traffic to unallocated ClusterIPs"' in out


def test_canonical_prints_the_sorted_knftables_dump(tmp_path: Path, capsys) -> None:
    assert main(["render", "--cluster", _write(tmp_path, CLUSTER), "--canonical"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'add table ip kube-proxy { comment "rules for kube-proxy" ; }'
    assert "add element ip kube-proxy cluster-ips { 172.30.0.41 }" in lines


def test_steps_leave_the_deleted_service_chain_flushed(tmp_path: Path, capsys) -> None:
    argv = ["render", "--cluster", _write(tmp_path, CLUSTER), "--canonical", "--step", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "add chain ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80\n" in out
    assert "add rule ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80" not in out
    assert "cluster-ips { 172.30.0.41 }" not in out


def test_bad_input_is_exit_status_two(tmp_path: Path, capsys) -> None:
    bad = dict(CLUSTER, proxy={"serviceCIDRs": "not-a-cidr"})
    assert main(["render", "--cluster", _write(tmp_path, bad)]) == 2
    assert "proxy.serviceCIDRs" in capsys.readouterr().err
