"""A high-fidelity emulator of Segmind's Wan 2.6 Image To Video API."""

from mockserver.app import create_app
from mockserver.config import DEFAULT_API_KEY, Config, KeyConfig, load_config

__all__ = ["DEFAULT_API_KEY", "Config", "KeyConfig", "create_app", "load_config"]
