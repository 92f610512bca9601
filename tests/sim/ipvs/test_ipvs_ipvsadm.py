"""`ipvsadm` text (kernel-facts.md section 6) and commands with ipvsadm's own errors."""

from __future__ import annotations

import pytest

from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.ipvsadm import ListFormat, largenum, list_connections, list_services
from app.sim.ipvs.ipvsadm_cmd import run_ipvsadm

# "|" marks the end of a line whose trailing blanks are part of the output.
FACTS_LN = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.1:443 rr persistent 10800
  -> 172.18.0.2:6443              Masq    1      5          19        |
TCP  10.96.0.10:53 rr
  -> 10.244.0.5:53                Masq    1      0          0         |
  -> 10.244.1.7:53                Masq    1      1          3         |
UDP  10.96.0.10:53 rr
  -> 10.244.0.5:53                Masq    1      0          12        |
""".replace("|\n", "\n")


def _sh(ipvs: Ipvs, line: str) -> str:
    result = run_ipvsadm(ipvs, line.split())
    assert result.status == 0, result.stderr
    return result.stdout


def _facts_table() -> Ipvs:
    ipvs = Ipvs()
    # Created in an order different from the sorted output.
    _sh(ipvs, "-A -u 10.96.0.10:53 -s rr")
    _sh(ipvs, "-a -u 10.96.0.10:53 -r 10.244.0.5:53 -m")
    _sh(ipvs, "-A -t 10.96.0.10:53 -s rr")
    _sh(ipvs, "-a -t 10.96.0.10:53 -r 10.244.1.7:53 -m")
    _sh(ipvs, "-a -t 10.96.0.10:53 -r 10.244.0.5:53 -m")
    _sh(ipvs, "-A -t 10.96.0.1:443 -s rr -p 10800")
    _sh(ipvs, "-a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m")
    counts = {
        ("TCP", "10.96.0.1", "172.18.0.2"): (5, 19),
        ("TCP", "10.96.0.10", "10.244.1.7"): (1, 3),
        ("UDP", "10.96.0.10", "10.244.0.5"): (0, 12),
    }
    for (proto, vip, rip), (act, inact) in counts.items():
        port = 443 if vip == "10.96.0.1" else 53
        dest = ipvs.find_service(proto, vip, port).find(rip, 6443 if port == 443 else 53)
        dest.activeconns, dest.inactconns = act, inact
    return ipvs


def test_list_matches_the_real_tool_byte_for_byte_with_trailing_blanks() -> None:
    assert _sh(_facts_table(), "-Ln") == FACTS_LN


def test_nosort_shows_kernel_order_newest_first() -> None:
    out = _sh(_facts_table(), "-Ln --nosort").splitlines()
    assert out[3].startswith("UDP  10.96.0.10:53")  # created first
    tcp53 = out.index("TCP  10.96.0.10:53 rr")
    assert "10.244.0.5:53" in out[tcp53 + 1]  # added last, so first in the kernel list


def test_sort_compares_addresses_as_signed_differences() -> None:
    ipvs = Ipvs()
    for vip in ("192.168.0.1", "10.0.0.1", "172.16.0.1"):
        _sh(ipvs, f"-A -t {vip}:80 -s rr")
    lines = [x for x in _sh(ipvs, "-Ln").splitlines() if x.startswith("TCP")]
    # 192.168.0.1 - 10.0.0.1 and 172.16.0.1 - 10.0.0.1 exceed 2^31: read as negative,
    # so both sort before 10.0.0.1, as ipvsadm prints them.
    assert [x.split()[1] for x in lines] == ["172.16.0.1:80", "192.168.0.1:80", "10.0.0.1:80"]


def test_stats_columns_and_large_numbers() -> None:
    assert largenum(99_999_999) == " 99999999"
    assert largenum(123_456_789) == "  123456K"
    assert largenum(12_345_678_901) == "   12345M"
    assert largenum(123_456_789, exact=True) == " 123456789"
    ipvs = _facts_table()
    ipvs.process("TCP", "10.0.0.5", 40000, "10.96.0.1", 443, length=60)
    out = list_services(ipvs, ListFormat(stats=True)).splitlines()
    assert (
        out[1] == "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
    )
    assert out[2] == "  -> RemoteAddress:Port"
    assert (
        out[3] == "TCP  10.96.0.1:443                       1        1        0       60        0"
    )


def test_connection_listing_shows_entries_and_templates() -> None:
    ipvs = _facts_table()
    d = ipvs.process("TCP", "10.0.0.5", 40000, "10.96.0.1", 443, now=0.0)
    ipvs.tcp_event(d.conn, "ESTABLISHED", 2.0)
    ipvs.process("UDP", "10.244.1.3", 52000, "10.96.0.10", 53, now=1.0)
    assert list_connections(ipvs, now=3.0) == (
        "IPVS connection entries\n"
        "pro expire state       source             virtual            destination\n"
        "TCP 14:59  ESTABLISHED 10.0.0.5:40000     10.96.0.1:443      172.18.0.2:6443\n"
        "UDP 04:58  UDP         10.244.1.3:52000   10.96.0.10:53      10.244.0.5:53\n"
        "TCP 179:57 NONE        10.0.0.5:0         10.96.0.1:443      172.18.0.2:6443\n"
    )


def test_persistent_conn_and_thresholds_views() -> None:
    ipvs = _facts_table()
    ipvs.process("TCP", "10.0.0.5", 40000, "10.96.0.1", 443)
    out = _sh(ipvs, "-Ln --persistent-conn -t 10.96.0.1:443").splitlines()
    assert out[0].split() == ["Prot", "LocalAddress:Port", "Weight", "PersistConn",
                              "ActiveConn", "InActConn"]  # fmt: skip
    assert out[3].split() == ["->", "172.18.0.2:6443", "1", "1", "5", "20"]
    _sh(ipvs, "-e -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -x 100 -y 50")
    out = _sh(ipvs, "-Ln --thresholds").splitlines()
    assert "  -> 172.18.0.2:6443              100        50         5          20        " in out


def test_timeout_listing() -> None:
    assert _sh(Ipvs(), "-L --timeout") == "Timeout (tcp tcpfin udp): 900 120 300\n"


def test_edit_delete_zero_clear_round_trip() -> None:
    ipvs = _facts_table()
    _sh(ipvs, "-E -t 10.96.0.1:443 -s sh")
    assert "TCP  10.96.0.1:443 sh\n" in _sh(ipvs, "-Ln")  # no -p: persistence dropped
    _sh(ipvs, "-d -t 10.96.0.10:53 -r 10.244.1.7:53")
    _sh(ipvs, "-D -u 10.96.0.10:53")
    _sh(ipvs, "-Z")
    assert _sh(ipvs, "-Sn") == (
        "-A -t 10.96.0.1:443 -s sh\n"
        "-a -t 10.96.0.1:443 -r 172.18.0.2:6443 -m -w 1\n"
        "-A -t 10.96.0.10:53 -s rr\n"
        "-a -t 10.96.0.10:53 -r 10.244.0.5:53 -m -w 1\n"
    )
    _sh(ipvs, "-C")
    assert _sh(ipvs, "-Ln").count("\n") == 3


def test_default_scheduler_is_wlc_and_default_forwarding_is_route() -> None:
    ipvs = Ipvs()
    _sh(ipvs, "-A -t 10.0.0.1:80")
    _sh(ipvs, "-a -t 10.0.0.1:80 -r 10.1.0.1:8080")
    out = _sh(ipvs, "-Ln")
    assert "TCP  10.0.0.1:80 wlc" in out
    assert "  -> 10.1.0.1:80                  Route   1" in out  # DR keeps the service port


@pytest.mark.parametrize(
    ("line", "status", "message"),
    [
        ("-A -t 10.0.0.1:80 -s rr", 255, "Service already exists"),
        ("-a -t 10.0.0.9:80 -r 10.1.0.1 -m", 255, "Service not defined"),
        ("-d -t 10.0.0.1:80 -r 10.1.0.9:80", 255, "No such destination"),
        ("-D -t 10.0.0.9:80", 255, "No such service"),
        ("-A -t 10.0.0.2:80 -s nosuch", 255, "Scheduler or persistence engine not found"),
        ("-a -t 10.0.0.1:80 -r bogus -m", 2, "illegal real server address[:port] specified"),
        ("-A -t 999.0.0.1:80", 2, "illegal virtual server address[:port] specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.2 -w 65536", 2, "illegal weight specified"),
        ("-A -t 10.0.0.3:0", 2, "Zero port specified for non-persistent service"),
        ("-A -t 10.0.0.1:80 -L", 2, "multiple commands specified"),
        ("-a -t 10.0.0.1:80", 2, "You need to supply the 'real-server' option for the "
         "'add-server' command"),
        ("-D -t 10.0.0.1:80 -s rr", 2, "Illegal 'scheduler' option with the "
         "'delete-service' command"),
        ("-Lnc --stats", 2, "options conflicts in the list command"),
        ("-Q", 255, "-Q: unknown option"),
        ("-A -t 10.0.0.4:80 -p 0", 2, "invalid timeout value `0' specified"),
        ("-A -t 10.0.0.4:80 -p 60 -M 255.0.x", 2,
         "illegal virtual server persistent mask specified"),
        ("-A -t [2001:db8::1]:80 -p 60 -M 129", 2, "illegal ipv6 netmask specified"),
    ],
)  # fmt: skip
def test_errors_use_ipvsadm_wording_and_status(line: str, status: int, message: str) -> None:
    ipvs = Ipvs()
    _sh(ipvs, "-A -t 10.0.0.1:80 -s rr")
    result = run_ipvsadm(ipvs, line.split())
    assert (result.status, result.stderr, result.stdout) == (status, message + "\n", "")


def test_persistence_netmask_groups_a_client_network() -> None:
    ipvs = Ipvs()
    _sh(ipvs, "-A -t 10.0.0.1:80 -s rr -p 60 -M 255.255.255.0")
    _sh(ipvs, "-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m")
    _sh(ipvs, "-a -t 10.0.0.1:80 -r 10.1.0.2:80 -m")
    assert "TCP  10.0.0.1:80 rr persistent 60 mask 255.255.255.0\n" in _sh(ipvs, "-Ln")
    first = ipvs.process("TCP", "192.168.7.1", 1000, "10.0.0.1", 80)
    same_net = ipvs.process("TCP", "192.168.7.200", 1000, "10.0.0.1", 80)
    assert same_net.via == "persistence" and same_net.dest is first.dest
    assert "TCP 01:00  NONE        192.168.7.0:0" in list_connections(ipvs)
    _sh(ipvs, "-A -t [2001:db8::1]:443 -s rr -p 60")
    assert "TCP  [2001:db8::1]:443 rr persistent 60\n" in _sh(ipvs, "-Ln")
