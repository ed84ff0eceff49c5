"""The emulator over real sockets: uvicorn on port 0, and the `wan26-mock serve` command."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import API_KEY, make_config, probe
from wan26.contracts.core.access import fingerprint
from wan26.mockserver import create_app
from wan26.mockserver.server.background import free_port, running_command, running_server

ROOT = Path(__file__).resolve().parent.parent


def documentation_example() -> dict:
    contract = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    operation = contract["paths"]["/v1/wan-2.6-i2v"]["post"]
    return operation["requestBody"]["content"]["application/json"]["example"]


def test_documentation_example_over_a_real_socket() -> None:
    with running_server(create_app(make_config())) as base_url:
        response = httpx.post(
            f"{base_url}/v1/wan-2.6-i2v",
            json=documentation_example(),
            headers={"x-api-key": API_KEY},
            timeout=60,
        )
        credits = httpx.get(f"{base_url}/v1/get-user-credits", headers={"x-api-key": API_KEY})
    assert response.status_code == 200
    video = probe(response.content)
    assert (video.width, video.height, video.frames) == (1280, 720, 150)
    assert video.audio_codec == "aac"
    assert int(response.headers["content-length"]) == len(response.content)
    assert credits.json()["credits"] == pytest.approx(1_000_000 - 0.625)


def test_serve_command_uses_the_segmind_api_key_from_the_environment() -> None:
    port = free_port()
    env = {"SEGMIND_API_KEY": "my-real-looking-key", "WAN26_MOCK_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "wan26.mockserver",
        "serve",
        "--port",
        str(port),
        "--time-scale",
        "0",
    ]
    base_url = f"http://127.0.0.1:{port}"
    with running_command(command, f"{base_url}/_mock/health", env, output=subprocess.PIPE) as proc:
        body = {"image": "https://example.com/a.png", "prompt": "p"}
        refused = httpx.post(
            f"{base_url}/v1/wan-2.6-i2v", json=body, headers={"x-api-key": "wan26-mock-key"}
        )
        accepted = httpx.post(
            f"{base_url}/v1/wan-2.6-i2v",
            json=body,
            headers={"x-api-key": "my-real-looking-key"},
            timeout=60,
        )
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert refused.status_code == 401
    assert accepted.status_code == 200
    assert accepted.headers["x-mock-standin"] == "image"
    assert probe(accepted.content).duration_s == pytest.approx(5.0, abs=1 / 30)
    assert f"http://127.0.0.1:{port}" in output


def test_serve_command_reports_a_bad_config_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("keys:\n  - key: k\n    plan: platinum\n")
    result = subprocess.run(
        [sys.executable, "-m", "wan26.mockserver", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown plan 'platinum'" in result.stderr
    assert "Traceback" not in result.stderr


def test_video_bytes_are_a_playable_file() -> None:
    with running_server(create_app(make_config())) as base_url:
        data = httpx.post(
            f"{base_url}/v1/wan-2.6-i2v",
            json={**documentation_example(), "seed": 3},
            headers={"x-api-key": API_KEY},
            timeout=60,
        ).content
    import av

    with av.open(io.BytesIO(data)) as container:
        decoded = sum(1 for _ in container.decode(video=0, audio=0))
    assert decoded > 150


def test_no_key_or_token_appears_whole_in_the_servers_output() -> None:
    """The banner, the access log and the journal show keys as `key#<hash>`; only the
    public default key may be printed whole."""
    port = free_port()
    secret, other, token = "sk-live-banner-secret-9d2f", "sk-live-other-key-51ab", "t0k3n-c4f3"
    env = {"SEGMIND_API_KEY": secret, "WAN26_MOCK_OFFLINE": "1", "WAN26_MOCK_CONTROL_TOKEN": token}
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    with running_command(
        command, f"{base}/v1/get-user-credits", env, output=subprocess.PIPE
    ) as proc:
        control = {"x-mock-token": token}
        assert httpx.put(f"{base}/_mock/keys/{other}", json={}, headers=control).status_code == 200
        journal = httpx.get(f"{base}/_mock/journal", params={"key": other}, headers=control)
        assert journal.status_code == 200
        assert httpx.get(f"{base}/v1/get-user-credits", headers={"x-api-key": secret}).is_success
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert fingerprint(secret) in output and fingerprint(other) in output
    for whole in (secret, other, token):
        assert whole not in output
        assert whole not in journal.text
