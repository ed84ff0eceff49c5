"""Bodies that break the contract get a 400 naming the field and the rule; defaults come from it."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import OFFLINE_IMAGE, probe
from wan26.contracts.core.spec import default_contract
from wan26.contracts.core.validation import (
    REFUSAL_BODY_BYTES,
    REFUSALS_KEPT,
    RequestInvalid,
    RequestValidator,
)

pytestmark = pytest.mark.anyio
OPERATION = default_contract().models()["wan-2.6-i2v"]
VALID = {"image": OFFLINE_IMAGE, "prompt": "a cat"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"duration": 7}, "Invalid parameter 'duration': must be one of 5, 10, 15 (got 7)"),
        ({"duration": "5"}, "Invalid parameter 'duration': must be of type integer (got string)"),
        ({"duration": True}, "Invalid parameter 'duration': must be of type integer (got boolean)"),
        ({"resolution": "4k"}, 'Invalid parameter \'resolution\': must be one of "720p", "1080p"'),
        (
            {"prompt": "x" * 1501},
            "Invalid parameter 'prompt': must be at most 1500 characters (got 1501)",
        ),
        (
            {"negative_prompt": "x" * 501},
            "Invalid parameter 'negative_prompt': must be at most 500",
        ),
        ({"seed": -1}, "Invalid parameter 'seed': must be at least 0 (got -1)"),
        ({"seed": 2147483648}, "Invalid parameter 'seed': must be at most 2147483647"),
        ({"seed": 1.5}, "Invalid parameter 'seed': must be of type integer or null (got number)"),
        ({"multi_shots": "yes"}, "Invalid parameter 'multi_shots': must be of type boolean"),
        (
            {"enable_prompt_expansion": 1},
            "Invalid parameter 'enable_prompt_expansion': must be of type boolean",
        ),
        (
            {"image": "ftp://host/a.png"},
            "Invalid parameter 'image': must be an http(s) URL or a base64 data URI",
        ),
        ({"image": 42}, "Invalid parameter 'image': must be of type string (got integer)"),
        (
            {"audio": "not a url"},
            "Invalid parameter 'audio': must be an http(s) URL or a base64 data URI",
        ),
        ({"prompt": None}, "Invalid parameter 'prompt': must be of type string (got null)"),
    ],
)
async def test_rule_breaches_are_400_naming_field_and_rule(
    client: httpx.AsyncClient, change: dict, expected: str
) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json={**VALID, **change})
    assert response.status_code == 400
    assert expected in response.json()["error"]


@pytest.mark.parametrize("missing", ["image", "prompt"])
async def test_missing_required_is_400(client: httpx.AsyncClient, missing: str) -> None:
    body = {k: v for k, v in VALID.items() if k != missing}
    response = await client.post("/v1/wan-2.6-i2v", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": f"Missing required parameter '{missing}'"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "Invalid JSON body"),
        (b"", "Invalid JSON body"),
        (b"\xff\xfe", "Invalid JSON body"),
        (b"[1, 2]", "Request body must be a JSON object (got array)"),
        (b'"text"', "Request body must be a JSON object (got string)"),
        (
            b'{"image": "https://a.test/x.png", "prompt": "p", "seed": NaN}',
            "Invalid JSON body: NaN",
        ),
        (
            b'{"image": "https://a.test/x.png", "prompt": "p", "seed": 1e400}',
            "Invalid JSON body: the number '1e400' is out of range",
        ),
    ],
)
async def test_malformed_bodies_are_400(
    client: httpx.AsyncClient, raw: bytes, expected: str
) -> None:
    response = await client.post(
        "/v1/wan-2.6-i2v", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith(expected)


async def test_several_breaches_are_all_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json={"prompt": 3, "duration": 7})
    message = response.json()["error"]
    assert "'image'" in message and "'duration'" in message and "'prompt'" in message


async def test_defaults_are_filled_from_the_contract(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json=VALID)
    assert response.status_code == 200
    video = probe(response.content)
    assert video.duration_s == pytest.approx(5.0, abs=1 / 30)
    assert (video.width, video.height) == (1280, 720)  # 720p, from the stand-in's 16:9
    assert response.headers["x-cost"] == "0.625"


async def test_nulls_mean_the_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json={**VALID, "seed": None, "audio": None})
    assert response.status_code == 200
    assert response.headers["x-seed-value"].isdigit()


async def test_integral_float_duration_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/wan-2.6-i2v", json={**VALID, "duration": 5.0})
    assert response.status_code == 200


_not_in_enum = st.one_of(
    st.integers().filter(lambda n: n not in (5, 10, 15)),
    st.text(max_size=8),
    st.booleans(),
    st.floats(allow_nan=False).filter(lambda f: f not in (5, 10, 15)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    duration=_not_in_enum,
    resolution=st.text(max_size=6).filter(lambda r: r not in ("720p", "1080p")),
)
def test_any_value_outside_the_enums_is_refused(duration: object, resolution: str) -> None:
    validator = RequestValidator(OPERATION.request_schema)
    with pytest.raises(RequestInvalid) as refused:
        validator.validate({**VALID, "duration": duration, "resolution": resolution})
    assert "'duration'" in str(refused.value)
    assert "'resolution'" in str(refused.value)


@settings(max_examples=60, deadline=None)
@given(
    duration=st.sampled_from([5, 10, 15]),
    resolution=st.sampled_from(["720p", "1080p"]),
    seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)),
    prompt=st.text(max_size=1500),
    negative=st.text(max_size=500),
)
def test_any_body_inside_the_contract_is_accepted(
    duration: int, resolution: str, seed: int | None, prompt: str, negative: str
) -> None:
    params = RequestValidator(OPERATION.request_schema).validate(
        {
            **VALID,
            "duration": duration,
            "resolution": resolution,
            "seed": seed,
            "prompt": prompt,
            "negative_prompt": negative,
        }
    )
    assert params["duration"] == duration and params["multi_shots"] is False


def test_validator_never_raises_anything_but_request_invalid() -> None:
    validator = RequestValidator(OPERATION.request_schema)
    bodies = [b"null", b"1e999", b'{"image": {"a": [1]}, "prompt": []}', b"\x00"]
    for raw in [*bodies, bytearray(b'{"prompt": 1}')]:
        with pytest.raises(RequestInvalid):
            validator.parse(raw)


def test_a_body_refused_again_gets_the_same_message_from_a_bounded_memory() -> None:
    """A client stuck sending one bad body is refused from memory (the 400 path's hot
    case); what is kept stays within `REFUSALS_KEPT` short bodies, whatever is sent."""
    validator = RequestValidator(OPERATION.request_schema)
    raw = json.dumps({**VALID, "duration": 7}).encode()
    messages = []
    for _ in range(2):
        with pytest.raises(RequestInvalid) as refused:
            validator.parse(raw)
        messages.append(str(refused.value))
    assert messages[0] == messages[1] and "'duration'" in messages[0]
    assert validator._refusals == {raw: messages[0]}
    for n in range(REFUSALS_KEPT + 20):
        with pytest.raises(RequestInvalid):
            validator.parse(json.dumps({**VALID, "duration": 100 + n}).encode())
    long_body = json.dumps({**VALID, "duration": 7, "prompt": "x" * REFUSAL_BODY_BYTES})
    with pytest.raises(RequestInvalid):
        validator.parse(long_body.encode())
    assert len(validator._refusals) == REFUSALS_KEPT
    assert long_body.encode() not in validator._refusals
    assert validator.parse(json.dumps(VALID).encode())["duration"] == 5  # valid: not kept
    integers = {"type": "array", "items": {"type": "integer"}}
    listing = RequestValidator({"type": "object", "properties": {"xs": integers}})
    many = json.dumps({"xs": ["a"] * 800}).encode()  # short, with a long message
    with pytest.raises(RequestInvalid) as refused:
        listing.parse(many)
    assert len(many) <= REFUSAL_BODY_BYTES < len(str(refused.value))
    assert listing._refusals == {}


async def test_bodies_over_the_cap_are_413_without_reading_them(app_factory, client_for) -> None:
    client = client_for(app_factory(max_body_bytes=1000))
    big = {**VALID, "prompt": "x" * 2000}
    response = await client.post("/v1/wan-2.6-i2v", json=big)
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large: at most 1000 bytes"}

    async def endless():
        for _ in range(100):
            yield b" " * 100

    streamed = await client.post(
        "/v1/wan-2.6-i2v", content=endless(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
