"""The pytest plugin from a user's side: installed package, fixtures available, no set-up."""

from __future__ import annotations

import httpx
import pytest

USER_TESTS = """
import httpx
import pytest

BODY = {"image": "https://example.com/cat.png", "prompt": "a cat", "seed": 1}


@pytest.mark.anyio
async def test_in_process(wan26_client, wan26_mock):
    wan26_mock.fail_next("rate-limited")
    refused = await wan26_client.post("/v1/wan-2.6-i2v", json=BODY)
    assert refused.status_code == 429
    video = await wan26_client.post("/v1/wan-2.6-i2v", json=BODY)
    assert video.headers["content-type"] == "video/mp4"
    assert len(wan26_mock.charged_calls()) == 1


def test_real_server(wan26_server, wan26_mock):
    response = httpx.post(f"{wan26_server}/v1/wan-2.6-i2v", json=BODY,
                          headers={"x-api-key": wan26_mock.api_key}, timeout=60)
    assert response.status_code == 200
    assert wan26_mock.balance() == pytest.approx(1_000_000 - 0.625)
"""


def test_a_users_tests_get_the_fixtures_from_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)


ISOLATION_TESTS = """
import pytest

BODY = {"image": "https://example.com/cat.png", "prompt": "a cat", "seed": 1}


@pytest.mark.anyio
async def test_one_spoils_its_emulator(wan26_client, wan26_mock):
    assert (await wan26_client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 200
    wan26_mock.set_key(credits=0)
    wan26_mock.fail_next("server-error", times=5)
    wan26_mock.chaos({"bad-gateway": 1.0})
    assert (await wan26_client.post("/v1/wan-2.6-i2v", json=BODY)).status_code == 500
    assert wan26_mock.journal()


@pytest.mark.anyio
async def test_two_gets_a_fresh_one(wan26_client, wan26_mock):
    assert wan26_mock.journal() == []
    assert wan26_mock.balance() == 1_000_000
    video = await wan26_client.post("/v1/wan-2.6-i2v", json=BODY)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    stats = (await wan26_client.get("/_mock/stats")).json()
    assert stats["render_cache"] == {"hits": 0, "misses": 1}
"""


def test_a_test_that_spoils_its_emulator_leaves_the_next_a_fresh_one(
    pytester: pytest.Pytester,
) -> None:
    """Apps share what never changes (segments, sounds, validators), never state: a key
    emptied, failures queued, chaos set, calls journalled or a video in the app's render
    cache do not reach the next test."""
    pytester.makepyfile(test_isolation=ISOLATION_TESTS)
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)


@pytest.mark.anyio
async def test_project_tests_use_the_in_process_fixtures(
    wan26_client: httpx.AsyncClient, wan26_mock
) -> None:
    wan26_mock.fail_next("server-error", times=2, path="/v1/get-user-credits")
    statuses = [(await wan26_client.get("/v1/get-user-credits")).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert [e["outcome"] for e in wan26_mock.journal()] == ["server-error", "server-error", None]


def test_handle_sets_keys_and_resets(wan26_server: str, wan26_mock) -> None:
    wan26_mock.set_key("second-key", credits=2.0, plan="free")
    credits = httpx.get(f"{wan26_server}/v1/get-user-credits", headers={"x-api-key": "second-key"})
    assert credits.json()["credits"] == 2.0
    wan26_mock.reset()
    again = httpx.get(f"{wan26_server}/v1/get-user-credits", headers={"x-api-key": "second-key"})
    assert again.status_code == 401
    with pytest.raises(ValueError, match="needs no scenario"):
        wan26_mock.fail_next("success")


OVERRIDES = """
import pytest

from wan26.mockserver import Config, QueueConfig


@pytest.fixture
def wan26_config(wan26_config):
    return wan26_config.replace(time_scale=0.01, queue=QueueConfig(workers=1))


def test_the_override_keeps_the_plugins_settings(wan26_app, wan26_mock):
    config = wan26_app.state.emulator.config
    assert config.media.offline is True
    assert (config.time_scale, config.queue.workers) == (0.01, 1)
    assert wan26_mock.api_key == "wan26-mock-key"
"""

NO_KEYS = """
import pytest

from wan26.mockserver import Config


@pytest.fixture
def wan26_config():
    return Config(time_scale=0)


@pytest.mark.anyio
async def test_a_config_without_keys_gets_the_default_key(wan26_client, wan26_mock):
    assert wan26_mock.api_key == "wan26-mock-key"
    assert (await wan26_client.get("/v1/get-user-credits")).status_code == 200
"""


@pytest.mark.parametrize("user_tests", [OVERRIDES, NO_KEYS], ids=["override", "no-keys"])
def test_a_users_config_override(pytester: pytest.Pytester, user_tests: str) -> None:
    pytester.makepyfile(test_user=user_tests)
    result = pytester.runpytest_subprocess("-q", "-p", "anyio")
    result.assert_outcomes(passed=1)
