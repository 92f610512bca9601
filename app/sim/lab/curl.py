"""`curl` in the lab console: one HTTP request through the cluster, printed as curl prints it.

`curl [--from pod/NAME|node/NAME|external] URL` where URL is `IP:PORT`, `NAME:PORT` (a
Service, optionally `NAME.NAMESPACE[.svc.cluster.local]`) or either behind `http://`. The
source defaults to the node the console is logged in to (after `ssh NODE`), else the first
client pod (a running pod no Service selects), else a client outside the cluster. `--from`
is the lab's own option; the others below are accepted as curl accepts them.

What the learner sees (curl 8, exit status in brackets): the pod's answer (0, see
`traffic.py` for the simulated application), `Couldn't connect to server` (7) when a REJECT
rule or a closed port answers, `Connection timed out` (28) when the SYN is dropped or goes
where nobody answers, `Could not resolve host` (6) for a name that is no Service.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from app.sim.lab.result import LabError, Reply
from app.sim.lab.text import say

if TYPE_CHECKING:
    from app.sim.lab.lab import Lab

_FLAGS = set("sSvikLfI")  # short options without an argument, alone or bundled (-sS)
_LONG_FLAGS = {"--silent", "--show-error", "--verbose", "--include", "--insecure", "--location",
               "--fail", "--head", "--http1.1"}  # fmt: skip
_WITH_ARG = {"-m", "--max-time", "--connect-timeout", "-o", "--output", "-H", "--header",
             "-X", "--request", "-w", "--write-out", "--from", "-d", "--data"}  # fmt: skip
_BAD_PORT = "Port number was not a decimal number between 0 and 65535\n"
_TRY = "curl: try 'curl --help' or 'curl --manual' for more information\n"
_REFUSED = "Couldn't connect to server"
DEFAULT_TIMEOUT_MS = 5000


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Options and URLs; raises Reply-worthy ValueError with curl's message."""
    options: dict[str, str] = {}
    urls: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word in _WITH_ARG:
            if i >= len(argv):
                raise ValueError(f"curl: option {word}: requires parameter\n{_TRY}")
            options[word], i = argv[i], i + 1
        elif word in _LONG_FLAGS or (
            word.startswith("-") and len(word) > 1 and set(word[1:]) <= _FLAGS
        ):
            options[word] = ""
        elif word.startswith("-") and word != "-":
            raise ValueError(f"curl: option {word}: is unknown\n{_TRY}")
        else:
            urls.append(word)
    return options, urls


def _timeout_ms(options: dict[str, str]) -> int:
    for key in ("--connect-timeout", "-m", "--max-time"):
        if key in options:
            try:
                return max(1, int(float(options[key]) * 1000))
            except ValueError:
                raise ValueError(
                    f"curl: option {key}: expected a proper numerical parameter\n{_TRY}"
                ) from None
    return DEFAULT_TIMEOUT_MS


def destination(lab: Lab, url: str) -> tuple[str, str]:
    """(host as typed, destination spec for the addressing helpers)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    default = "443" if url.startswith("https://") else "80"
    hostport = rest.split("/", 1)[0].split("?", 1)[0]
    host, sep, port = hostport.rpartition(":")
    if not sep:
        host, port = hostport, default
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("curl: (3) URL rejected: " + ("Bad hostname\n" if not host else _BAD_PORT))
    try:
        ipaddress.IPv4Address(host)
        return host, f"{host}:{port}"
    except ValueError:
        pass
    parts = host.split(".")
    name, namespace = parts[0], parts[1] if len(parts) > 1 else "default"
    suffix = ".".join(parts[2:])
    if (namespace, name) not in lab.cluster.services or suffix not in (
        "",
        "svc",
        "svc.cluster.local",
    ):
        raise LookupError(f"curl: (6) Could not resolve host: {host}\n")
    return host, f"svc/{namespace}/{name}:{port}"


def default_source(lab: Lab) -> str:
    if lab.shell_node is not None:
        return f"node/{lab.shell_node}"
    selectors = [s.selector for s in lab.cluster.services.values() if s.selector]
    for pod in sorted(lab.cluster.pods.values(), key=lambda p: (p.meta.namespace, p.name)):
        chosen = any(all(pod.meta.labels.get(k) == v for k, v in sel.items()) for sel in selectors)
        if pod.phase == "Running" and pod.ip and not chosen:
            return f"pod/{pod.meta.namespace}/{pod.name}"
    return "external"


def run(lab: Lab, argv: list[str], stdin: str, lang: str) -> Reply:
    try:
        options, urls = _options(argv[1:])
        if not urls:
            return Reply(2, "", f"curl: no URL specified\n{_TRY}")
        timeout = _timeout_ms(options)
        host, dst = destination(lab, urls[0])
    except LookupError as err:
        return Reply(6, "", str(err.args[0]))
    except ValueError as err:
        status = 3 if str(err).startswith("curl: (3)") else 2
        return Reply(status, "", str(err))
    src = options.get("--from") or default_source(lab)
    try:
        out = lab.send(src, dst, node=lab.shell_node)
    except LabError as err:
        return Reply(2, "", f"curl: {err.text(lang)}\n" + say("curl_hint", lang))
    trace = out["traces"][0]
    return _answer(trace, host, dst.rsplit(":", 1)[1], timeout)


def _answer(trace: dict[str, Any], host: str, port: str, timeout: int) -> Reply:
    final = trace["final"] or {}
    if trace["pod"]:
        return Reply(0, f"hello from {trace['pod']}\n", "", [trace])
    refused = (
        final.get("verdict") == "REJECT"
        or final.get("delivered") == "local"
        or (final.get("delivered") == "out" and trace.get("port_closed"))
    )
    if refused:
        text = f"curl: (7) Failed to connect to {host} port {port} after 0 ms: {_REFUSED}\n"
        return Reply(7, "", text, [trace])
    return Reply(28, "", f"curl: (28) Connection timed out after {timeout} milliseconds\n", [trace])
