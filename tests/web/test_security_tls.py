"""Secure cookies behind a TLS-terminating proxy: `kube-proxy-lab serve` believes the
X-Forwarded-Proto of the proxies in KPL_TRUSTED_PROXIES (and only theirs), so the cookies it
sets through such a proxy carry `Secure`; a forged header from anyone else changes nothing.
(HTTPS straight to the app is tested in test_security.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from live_server import start


@pytest.mark.parametrize(
    ("variable", "trusted", "secure"),
    [
        ("KPL_TRUSTED_PROXIES", "127.0.0.1", True),
        ("KPL_TRUSTED_PROXIES", "192.0.2.1", False),
        ("FORWARDED_ALLOW_IPS", "192.0.2.1", False),  # uvicorn's own variable is honoured
    ],
    ids=["proxy-trusted", "proxy-not-trusted", "uvicorn-variable"],
)
def test_cookies_through_a_proxy_are_secure_only_when_it_is_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, trusted: str, secure: bool
) -> None:
    for name in ("KPL_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, trusted)
    server = start(f"sqlite:///{tmp_path / 'tls.sqlite3'}", cli=True, log=tmp_path / "server.log")
    try:
        proxied = httpx.get(
            f"{server.base}/lab?lang=zh", headers={"X-Forwarded-Proto": "https"}, timeout=30
        )
        plain = httpx.get(f"{server.base}/lab", timeout=30)
    finally:
        server.stop()
    assert proxied.status_code == 200, server.log_tail()
    cookies = proxied.headers.get_list("set-cookie")
    assert {c.partition("=")[0] for c in cookies} >= {"kpl_session", "lang"}
    assert all(("; Secure" in c) is secure for c in cookies), cookies
    assert ("strict-transport-security" in proxied.headers) is secure
    assert all("; Secure" not in c for c in plain.headers.get_list("set-cookie"))
