"""A real ``runbook-router serve``: proxy sign-in believes the socket peer, never a header.

uvicorn's defaults (``proxy_headers=True``, ``forwarded_allow_ips=127.0.0.1`` or the
``FORWARDED_ALLOW_IPS`` variable) let anyone on the host name a trusted proxy in
``X-Forwarded-For`` and sign in as any user and group, up to admin. The proxy here trusts
10.0.0.0/8 and 127.0.0.2; the attacker connects from 127.0.0.1, the real proxy from 127.0.0.2.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from harness.server import ServerProcess
from tests.conftest import configured_server
from tests.e2e.conftest import ServiceLogs

pytestmark = pytest.mark.e2e

ADMIN_USER = {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "sre-admins"}
PROXY = {
    "enabled": True,
    "trusted": ["10.0.0.0/8", "127.0.0.2/32"],
    "roles": {"sre-admins": "admin"},
    "default_role": None,
}
ENVIRONMENTS = {
    # What serve ran with before: uvicorn believed X-Forwarded-For from 127.0.0.1.
    "uvicorn-defaults": {},
    # uvicorn's own variable is not ours: it must change nothing.
    "uvicorn-variable": {"FORWARDED_ALLOW_IPS": "*"},
    # Our setting believes 127.0.0.1 about the client address, but sign-in still rests on
    # the socket peer.
    "forwarded-allowed": {"RUNBOOK_ROUTER_FORWARDED_ALLOW_IPS": "127.0.0.1"},
}


@pytest.fixture(params=list(ENVIRONMENTS), scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    config = yaml.safe_dump({"timezone": "UTC", "auth": {"proxy": PROXY}})
    tmp = tmp_path_factory.mktemp("proxy")
    with configured_server(tmp, config, **ENVIRONMENTS[request.param]) as process:
        yield process


def client_from(server: ServerProcess, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=10)


@pytest.fixture
def logs(server: ServerProcess, service_logs: ServiceLogs) -> Path:
    return service_logs.register("runbook-router", server.log_path)


@pytest.mark.parametrize("claimed", ["10.1.2.3", "127.0.0.2", "10.1.2.3, 127.0.0.2"])
def test_forwarded_for_from_localhost_signs_nobody_in(
    server: ServerProcess, logs: Path, claimed: str
) -> None:
    headers = {**ADMIN_USER, "X-Forwarded-For": claimed}
    with client_from(server, "127.0.0.1") as attacker:
        me = attacker.get("/api/v1/me", headers=headers)
        assert me.status_code == 401, me.text
        assert attacker.get("/api/v1/deliveries", headers=headers).status_code == 401
        login = attacker.get("/login", headers=headers, follow_redirects=False)
        assert login.status_code == 200  # the token form, not a redirect into a session
        assert attacker.get("/api/v1/me").status_code == 401  # its cookie holds nobody


def test_the_real_proxy_is_believed(server: ServerProcess, logs: Path) -> None:
    with client_from(server, "127.0.0.2") as proxy:
        me = proxy.get("/api/v1/me", headers=ADMIN_USER)
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["role"], me.json()["auth"]) == (
        "mallory",
        "admin",
        "proxy",
    )
