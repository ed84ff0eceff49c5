"""What a web page can no longer do to the control plane: send it simple cross-origin
requests, reach it by a DNS name of its own (rebinding), or frame the dashboard; and the
health probe containers call without a token."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import uvicorn

from conftest import make_config
from wan26.mockserver import cli, create_app
from wan26.mockserver.config import ConfigError, ControlConfig, load_config
from wan26.mockserver.server.background import running_server
from wan26.mockserver.testing.handle import MockHandle

pytestmark = pytest.mark.anyio
DOCKERFILE = Path(__file__).parents[1] / "Dockerfile"
SCENARIO = '{"outcome": "insufficient-credits", "times": 1000000000}'


async def queued(client: httpx.AsyncClient) -> list[dict]:
    return (await client.get("/_mock/scenarios")).json()["queued"]


async def test_a_cross_origin_simple_post_neither_queues_nor_resets(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/v1/get-user-credits")
    page = {"content-type": "text/plain", "origin": "http://attacker.example"}
    refused = await client.post("/_mock/scenarios", content=SCENARIO, headers=page)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "The control plane refuses requests from another origin (http://attacker.example)"
    }
    assert (await client.post("/_mock/reset", headers=page)).status_code == 403
    nameless = {"origin": "null"}  # a sandboxed frame or a file:// page
    assert (await client.delete("/_mock/journal", headers=nameless)).status_code == 403
    other_port = {"origin": "http://emulator.localhost:3000"}  # same site, another origin
    assert (await client.post("/_mock/reset", headers=other_port)).status_code == 403
    assert await queued(client) == []
    assert (await client.get("/_mock/journal")).json()["count"] == 1  # not reset


async def test_a_non_json_body_is_refused_and_a_cross_site_fetch_too(
    client: httpx.AsyncClient,
) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"content-type": content_type} if content_type else {}
        refused = await client.post("/_mock/scenarios", content=SCENARIO, headers=headers)
        assert refused.status_code == 415
        assert "must be JSON" in refused.json()["error"]
    cross_site = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"}
    assert (await client.get("/_mock/journal", headers=cross_site)).status_code == 403
    followed_link = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    assert (await client.get("/_mock/ui", headers=followed_link)).status_code == 200
    assert await queued(client) == []


async def test_a_foreign_host_is_refused_which_stops_dns_rebinding(
    client: httpx.AsyncClient,
) -> None:
    rebound = {"host": "attacker.example:8000", "origin": "http://attacker.example:8000"}
    for method, path in [("GET", "/_mock/journal"), ("POST", "/_mock/reset"), ("GET", "/_mock/ui")]:
        refused = await client.request(method, path, headers=rebound)
        assert refused.status_code == 403
        assert "not Host 'attacker.example:8000'" in refused.json()["error"]
    assert (await client.get("/_mock/state", headers={"host": "evil:x"})).status_code == 403


async def test_tools_and_the_page_itself_keep_working(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_mock/scenarios", json={"outcome": "rate-limited"})).is_success
    assert (await client.post("/_mock/reset")).is_success  # no body, no Content-Type: a tool
    for host in ("localhost:8000", "127.0.0.5:8000", "[::1]:8000", "emulator.localhost"):
        assert (await client.get("/_mock/state", headers={"host": host})).is_success
    own = {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"}
    put = await client.put("/_mock/settings", json={"time_scale": 0}, headers=own)
    assert put.is_success
    charset = {"content-type": "application/json; charset=utf-8"}
    assert (await client.post("/_mock/scenarios", content=SCENARIO, headers=charset)).is_success


async def test_an_allowed_host_is_answered_and_is_an_origin_the_page_may_use(
    app_factory, client_for
) -> None:
    control = ControlConfig(token="t", allowed_hosts=["http://wan26:8000", "mock.internal"])
    client = client_for(app_factory(control=control))
    token = {"x-mock-token": "t"}
    compose = {**token, "host": "wan26:8000", "origin": "http://wan26:8000"}
    assert (await client.post("/_mock/reset", headers=compose)).is_success
    for host, status in [
        ("mock.internal:1", 200),  # no port given: any
        ("wan26:9000", 403),
        ("wan26.attacker.example:8000", 403),
    ]:
        assert (
            await client.get("/_mock/state", headers={**token, "host": host})
        ).status_code == status


def test_allowed_hosts_come_from_the_config_the_environment_and_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"WAN26_MOCK_CONTROL_ALLOWED_HOSTS": "http://wan26:8000, mock.internal"}
    assert load_config(env=env).control.allowed_hosts == ["http://wan26:8000", "mock.internal"]
    with pytest.raises(ConfigError, match=r"control\.allowed_hosts: not a host"):
        ControlConfig(allowed_hosts=["http://wan26:8000/_mock/ui"])
    served = {}

    def run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        served["control"] = server.config.app.state.emulator.config.control
        sockets[0].close()

    monkeypatch.setattr(uvicorn.Server, "run", run)
    monkeypatch.setenv("WAN26_MOCK_CONTROL_ALLOWED_HOSTS", "from-env")
    argv = ["serve", "--port", "0", "--allow-host", "wan26:8000", "--allow-host", "b"]
    assert cli.main(argv) == 0
    assert served["control"].allowed_hosts == ["from-env", "wan26:8000", "b"]
    capsys.readouterr()
    assert cli.main(["serve", "--port", "0", "--allow-host", "wan26:8000/ui"]) == 2
    assert capsys.readouterr().err == (
        "wan26-mock: control.allowed_hosts: not a host, host:port or scheme://host:port: "
        "'wan26:8000/ui'\n"
    )


async def test_the_dashboard_cannot_be_framed(client: httpx.AsyncClient) -> None:
    page = await client.get("/_mock/ui")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize(
    "control",
    [ControlConfig(enabled=False), ControlConfig(token="s3cret")],
    ids=["control-off", "token"],
)
async def test_health_answers_any_probe_and_is_not_journaled(control: ControlConfig) -> None:
    app = create_app(make_config(control=control))
    probe = httpx.ASGITransport(app=app, client=("10.1.2.3", 4000))  # a container's probe
    async with httpx.AsyncClient(transport=probe, base_url="http://10.1.2.7:8000") as client:
        health = await client.get("/_mock/health")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        assert (await client.post("/_mock/health")).status_code == 405
    assert await app.state.emulator.store.journal.entries() == []
    await app.state.emulator.aclose()


def test_the_docker_healthcheck_calls_health_and_leaves_the_journal_empty() -> None:
    healthcheck = re.search(r'CMD python -c "(.*?)"', DOCKERFILE.read_text()).group(1)
    app = create_app(make_config(control=ControlConfig(enabled=False)))  # as in the image
    with running_server(app) as base:
        port = base.rsplit(":", 1)[1]
        code = healthcheck.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
    assert MockHandle(app.state.emulator).journal() == []
