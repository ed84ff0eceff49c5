"""Settings: defaults that work with no file, a YAML file, environment variables, clear errors."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest

from wan26.contracts.core.spec import default_contract
from wan26.mockserver import config as config_module
from wan26.mockserver.config import DEFAULT_API_KEY, Config, ConfigError, load_config
from wan26.mockserver.core.accounts import configured_accounts


def test_no_file_gives_one_documented_key_with_ample_credits_and_no_limit() -> None:
    config = load_config(env={})
    assert [key.key for key in config.keys] == [DEFAULT_API_KEY]
    [account] = configured_accounts(config, default_contract().plans)
    assert account.balance >= 1000 and account.requests_per_minute is None
    assert config.time_scale == 1.0 and config.media.mode == "lenient"


def test_segmind_api_key_from_the_environment_is_the_default_key() -> None:
    config = load_config(env={"SEGMIND_API_KEY": "sk-user"})
    assert [key.key for key in config.keys] == ["sk-user"]


def test_yaml_file_and_environment_overrides(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text(
        """
keys:
  - key: team-free
    credits: 1.5
    plan: free
    models: [wan-2.6-i2v]
  - key: team-pro
    plan: "50"
time_scale: 0.5
latency: {median_s: 60, gateway_timeout_s: 300, resolution_factor: {1080p: 2}}
media: {mode: strict, fetch_timeout_s: 3}
pricing_per_second: {720p: 0.1}
messages: {server-error: "boom"}
"""
    )
    config = load_config(
        path,
        env={
            "WAN26_MOCK_TIME_SCALE": "0",
            "WAN26_MOCK_SEED": "5",
            "WAN26_MOCK_ALLOW_PRIVATE_ADDRESSES": "true",
            "WAN26_MOCK_CONTROL_TOKEN": "s3cret",
        },
    )
    assert config.control.token == "s3cret"
    assert [k.key for k in config.keys] == ["team-free", "team-pro"]
    assert config.keys[0].credits == 1.5 and config.keys[0].models == ["wan-2.6-i2v"]
    assert config.keys[1].plan == 50
    assert (config.time_scale, config.seed) == (0.0, 5)
    assert config.latency.median_s == 60 and config.latency.resolution_factor == {"1080p": 2.0}
    assert config.media.mode == "strict" and config.media.allow_private_addresses is True
    assert config.pricing_per_second == {"720p": 0.1}
    accounts = {a.key: a for a in configured_accounts(config, default_contract().plans)}
    assert accounts["team-free"].requests_per_minute == 5


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text("keys: [{key: from-env-file}]\n")
    assert load_config(env={"WAN26_MOCK_CONFIG": str(path)}).keys[0].key == "from-env-file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour: blue\n", "unknown setting(s) in config: colour"),
        (
            "media: {mode: fuzzy}\n",
            "media.mode: invalid value 'fuzzy' (must be one of lenient, strict)",
        ),
        ("time_scale: fast\n", "config.time_scale: invalid value 'fast'"),
        ("time_scale: -1\n", "time_scale must be from 0 to 100"),
        ("time_scale: 1e308\n", "time_scale must be from 0 to 100"),
        ("keys: [{credits: 3}]\n", "config.keys[0]"),
        ("latency: {jitter: 3}\n", "unknown setting(s) in config.latency: jitter"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_bad_settings_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert message in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml", env={})


def test_a_bare_off_in_yaml_turns_the_cassette_off(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text("cassette:\n  mode: off\n")
    assert load_config(path, env={}).cassette.mode == "off"


def test_every_setting_has_a_type_the_config_can_read() -> None:
    """Conversion follows the fields' type hints; a field of an unknown type fails loudly."""
    config = Config.from_mapping(
        {
            "latency": {"clamp": ["0.5", 2], "resolution_factor": {"720p": "1"}},
            "drift": {"status_map": {"400": "422"}, "video_size": ["640", 360]},
            "media": {"render_processes": "null", "offline": "yes"},
            "keys": [{"key": 7, "plan": "5"}],
        }
    )
    assert config.latency.clamp == (0.5, 2.0) and config.latency.resolution_factor == {"720p": 1.0}
    assert config.drift.status_map == {400: 422} and config.drift.video_size == [640, 360]
    assert config.media.render_processes is None and config.media.offline is True
    assert (config.keys[0].key, config.keys[0].plan) == ("7", 5)
    with pytest.raises(ConfigError, match="time_scale: invalid value True"):
        Config.from_mapping({"time_scale": True})

    @dataclasses.dataclass
    class Odd:
        when: datetime.date = datetime.date(2026, 1, 1)

    with pytest.raises(TypeError, match="cannot read"):
        config_module._build(Odd, {"when": "2026-01-02"}, "odd")
