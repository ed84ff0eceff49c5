"""A Python client generated from `openapi.yaml` by openapi-python-client, with the committed
`openapi-python-client.yaml`, works against the emulator: a v1 call gives the MP4's bytes and
a v2 job goes from submit through polling to its result (docs/generated-clients.md)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE, make_config
from wan26.mockserver import create_app
from wan26.mockserver.server.background import running_server

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PACKAGE = "wan26_generated"
# Generating (and formatting) the client, then two renders: about 15 s on 2 cores.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The generated package, imported; its formatting hook (ruff) runs from this venv."""
    folder = tmp_path_factory.mktemp("generated")
    subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(ROOT / "openapi.yaml"),
            "--config",
            str(ROOT / "openapi-python-client.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_server(create_app(make_config())) as url:
        yield url


def _client(generated: ModuleType, base_url: str) -> object:
    return generated.AuthenticatedClient(
        base_url=base_url, token=API_KEY, prefix="", auth_header_name="x-api-key", timeout=60
    )


def test_the_enums_have_readable_names(generated: ModuleType) -> None:
    resolution = _module("models").Wan26I2VRequestResolution
    duration = _module("models").Wan26I2VRequestDuration
    assert resolution.RES_1080P.value == "1080p"
    assert duration.SECONDS_15.value == 15


def test_a_v1_call_gives_the_mp4s_bytes(generated: ModuleType, base_url: str) -> None:
    models = _module("models")
    call = _module("api.generation.wan_26_image_to_video")
    body = models.Wan26I2VRequest(image=OFFLINE_IMAGE, prompt="a cat", seed=7)
    response = call.sync_detailed(client=_client(generated, base_url), body=body)
    assert response.status_code == 200
    video = response.parsed.payload.read()
    assert video[4:8] == b"ftyp"
    assert response.headers["x-seed-value"] == "7"


def test_a_v2_job_goes_from_submit_to_its_result(generated: ModuleType, base_url: str) -> None:
    models = _module("models")
    client = _client(generated, base_url)
    submit = _module("api.generation.wan_26_image_to_video_queued")
    body = models.Wan26I2VRequest(
        image=OFFLINE_IMAGE, prompt="a cat", resolution=models.Wan26I2VRequestResolution.RES_720P
    )
    queued = submit.sync(client=client, body=body)
    assert isinstance(queued, models.QueuedJob)

    status = _module("api.jobs.get_job_status")
    deadline = time.monotonic() + 120
    while (state := status.sync(queued.request_id, client=client)).status != "COMPLETED":
        assert isinstance(state, models.JobStatus)
        assert time.monotonic() < deadline, f"still {state.status}"
        time.sleep(0.05)

    result = _module("api.jobs.get_job_result").sync(queued.request_id, client=client)
    assert isinstance(result, models.JobResult)
    assert result.metrics.inference_time > 0
    video = httpx.get(result.output, timeout=60).content
    assert video[4:8] == b"ftyp"


def test_a_failed_job_reads_as_the_documented_422(generated: ModuleType, base_url: str) -> None:
    models = _module("models")
    client = _client(generated, base_url)
    failing = _client(generated, base_url).with_headers({"X-Mock-Scenario": "job-failed"})
    submit = _module("api.generation.wan_26_image_to_video_queued")
    body = models.Wan26I2VRequest(image=OFFLINE_IMAGE, prompt="p")
    queued = submit.sync(client=failing, body=body)
    poll = _module("api.jobs.poll_job")
    deadline = time.monotonic() + 120
    while not isinstance(answer := poll.sync(queued.request_id, client=client), models.FailedJob):
        assert isinstance(answer, models.JobResult) and answer.status != "COMPLETED"
        assert time.monotonic() < deadline, f"still {answer.status}"
        time.sleep(0.05)
    assert answer.status == "FAILED" and answer.error
