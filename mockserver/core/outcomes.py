"""Every outcome a request can be forced into, by the name `X-Mock-Scenario` takes.

The one closed list: the error catalogue (`errors.py`) describes the HTTP failures,
`faults.py` the network faults and `jobs.py`/`emulator.py` the job outcomes, each
keyed by these members. A test checks that every member is described exactly once.
"""

from __future__ import annotations

from enum import StrEnum


class Forced(StrEnum):
    # HTTP failures, answered from the error catalogue
    BAD_REQUEST = "bad-request"
    MISSING_KEY = "missing-key"
    INVALID_KEY = "invalid-key"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    INVALID_CONTENT_TYPE = "invalid-content-type"
    INSUFFICIENT_CREDITS = "insufficient-credits"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    RATE_LIMITED = "rate-limited"
    SERVER_ERROR = "server-error"
    BAD_GATEWAY = "bad-gateway"
    GATEWAY_TIMEOUT = "gateway-timeout"
    # network faults: the request is processed, then the connection misbehaves
    CONNECTION_RESET = "connection-reset"
    EMPTY_RESPONSE = "empty-response"
    TRUNCATED_BODY = "truncated-body"
    SLOW_BODY = "slow-body"
    # v2 job outcomes
    JOB_FAILED = "job-failed"
    JOB_HANG = "job-hang"


NETWORK_FAULTS = {
    Forced.CONNECTION_RESET: "the connection is reset after the request was processed",
    Forced.EMPTY_RESPONSE: "the connection closes without a response",
    Forced.TRUNCATED_BODY: "Content-Length promised, half the body sent, connection closed",
    Forced.SLOW_BODY: "the body dribbles out over `seconds` (default 5)",
}
JOB_OUTCOMES = {
    Forced.JOB_FAILED: "the v2 job ends FAILED with `message` (served as 422)",
    Forced.JOB_HANG: "the v2 job stays PROCESSING until it expires",
}
