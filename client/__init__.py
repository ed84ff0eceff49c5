"""A thin, typed client for Segmind's Wan 2.6 Image To Video API, sync and async."""

from pathlib import Path

from wan26.client.async_ import AsyncJob, AsyncWan26Client
from wan26.client.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    GatewayTimeoutError,
    GenerationFailedError,
    InsufficientCreditsError,
    InternalServerError,
    InvalidContentTypeError,
    MissingAPIKeyError,
    NotFoundError,
    ParameterError,
    PermissionDeniedError,
    PossiblyChargedError,
    RateLimitError,
    WaitTimeoutError,
    Wan26Error,
)
from wan26.client.progress import OnProgress, Progress
from wan26.client.retries import RetryPolicy, Timeouts
from wan26.client.sync import Job, Wan26Client
from wan26.client.video import Credits, Video

# A 640x480 picture shipped with the package, so the documentation's examples run from any folder.
EXAMPLE_IMAGE = Path(__file__).with_name("cat.png")

__all__ = [
    "EXAMPLE_IMAGE",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncJob",
    "AsyncWan26Client",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "Credits",
    "GatewayTimeoutError",
    "GenerationFailedError",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidContentTypeError",
    "Job",
    "MissingAPIKeyError",
    "NotFoundError",
    "OnProgress",
    "ParameterError",
    "PermissionDeniedError",
    "PossiblyChargedError",
    "Progress",
    "RateLimitError",
    "RetryPolicy",
    "Timeouts",
    "Video",
    "WaitTimeoutError",
    "Wan26Client",
    "Wan26Error",
]
