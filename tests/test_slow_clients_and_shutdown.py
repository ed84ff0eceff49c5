"""Slow clients are cut off by deadlines; a shutdown or a departed client charges nothing."""

from __future__ import annotations

import json
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest

from conftest import API_KEY, OFFLINE_IMAGE, make_config
from wan26.mockserver import create_app
from wan26.mockserver.config import Config, ConfigError
from wan26.mockserver.server.background import free_port, running_command, running_server
from wan26.mockserver.testing.handle import MockHandle

BODY = json.dumps({"image": OFFLINE_IMAGE, "prompt": "a cat", "seed": 5}).encode()
CALL_HEAD = (
    b"POST /v1/wan-2.6-i2v HTTP/1.1\r\nHost: emulator\r\n"
    b"x-api-key: " + API_KEY.encode() + b"\r\ncontent-type: application/json\r\n"
)
JSON = {"content-type": "application/json"}
KEY = {"x-api-key": API_KEY}
SLOW = {
    "request_header_timeout_s": 1.0,
    "request_body_timeout_s": 2.0,
    "request_body_total_timeout_s": 5.0,
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(create_app(make_config(max_body_bytes=4096, **SLOW))) as base_url:
        yield base_url


def connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_response(sock: socket.socket) -> bytes:
    """One response with a content-length, the connection left open."""
    received = b""
    while b"\r\n\r\n" not in received or len(parse(received)[2]) < int(
        parse(received)[1]["content-length"]
    ):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed before the whole response"
        received += chunk
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def state(base_url: str) -> dict:
    return httpx.get(f"{base_url}/_mock/state").json()["keys"][0]


def wait_for(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /v1/wan-2.6-i2v HTTP/1.1\r\nHost: emulator\r\nx-api"],
    ids=["silent", "slowloris"],
)
def test_headers_that_never_finish_get_a_408_and_the_connection_closes(
    server: str, sent: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(sent)
        status, headers, body = parse(read_until_closed(sock))
    assert status == 408
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "Request headers not received within 1 s"}


def test_a_stalled_body_gets_a_408_and_nothing_is_held_or_charged(server: str) -> None:
    before = state(server)
    with connect(server) as sock:
        sock.sendall(CALL_HEAD + f"content-length: {len(BODY)}\r\n\r\n".encode() + BODY[:10])
        status, headers, body = parse(read_until_closed(sock))
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body) == {"error": "Request body stalled: no data for 2 s"}
    wait_for(lambda: state(server)["held"] == 0)
    assert state(server)["credits"] == before["credits"]


def test_a_body_that_keeps_coming_is_waited_for(server: str) -> None:
    """Longer in all than the idle deadline, but never silent for that long."""
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(
            CALL_HEAD + f"content-length: {len(BODY)}\r\nconnection: close\r\n\r\n".encode()
        )
        fifth = -(-len(BODY) // 5)
        for start in range(0, len(BODY), fifth):
            time.sleep(0.6)
            sock.sendall(BODY[start : start + fifth])
        status, headers, _ = parse(read_until_closed(sock))
    assert time.monotonic() - started > SLOW["request_body_timeout_s"]
    assert status == 200
    assert headers["content-type"] == "video/mp4"


def dribble_chunks(sock: socket.socket, piece: bytes, every_s: float) -> bytes:
    """Send a chunked body that never ends, until the server closes; return what it sent."""
    sock.settimeout(every_s)
    received = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:  # the server closed the connection
                return received
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError("the server kept the connection open for 60 s")


def test_a_never_ending_trickle_is_cut_by_the_total_cap(server: str) -> None:
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(CALL_HEAD + b"transfer-encoding: chunked\r\n\r\n")
        received = dribble_chunks(sock, b" ", every_s=0.3)
    status, headers, body = parse(received)
    assert status == 408
    assert headers["connection"] == "close"
    assert json.loads(body) == {"error": "Request body not received within 5 s"}
    assert time.monotonic() - started >= 4.5


def test_a_never_ending_upload_is_cut_by_the_body_cap(server: str) -> None:
    with connect(server) as sock:
        sock.sendall(CALL_HEAD + b"transfer-encoding: chunked\r\n\r\n")
        sock.settimeout(30)
        for _ in range(5):
            sock.sendall(b"400\r\n" + b"x" * 0x400 + b"\r\n")
        status, _, body = parse(read_response(sock))
    assert status == 413
    assert "at most 4096 bytes" in json.loads(body)["error"]


def test_an_unread_body_after_an_early_answer_is_still_bounded(server: str) -> None:
    """A 401 goes out before the body is read; the trickle that follows is cut off too."""
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(
            b"POST /v1/wan-2.6-i2v HTTP/1.1\r\nHost: e\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        received = dribble_chunks(sock, b" ", every_s=0.3)
    status, _, body = parse(received)
    assert status == 401
    assert json.loads(body) == {"error": "Missing Authorization or x-api-key in header"}
    assert 4.5 <= time.monotonic() - started < 30


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="request_body_timeout_s must be > 0"):
        Config.from_mapping({"request_body_timeout_s": 0})
    assert Config.from_mapping({"request_body_timeout_s": "12"}).request_body_timeout_s == 12.0
    with pytest.raises(ConfigError, match="max_header_bytes must be > 0"):
        Config.from_mapping({"max_header_bytes": 0})


CREDITS_HEAD = b"GET /v1/get-user-credits HTTP/1.1\r\nHost: emulator\r\nx-api-key: %s\r\n" % (
    API_KEY.encode()
)
TOO_LARGE = {"error": "Request header fields too large"}


def assert_431_then_closed(received: bytes) -> None:
    status, headers, body = parse(received)
    assert status == 431
    assert headers["connection"] == "close"
    assert json.loads(body) == TOO_LARGE


def test_a_head_past_64_kb_is_a_431_before_the_rest_of_it_arrives(server: str) -> None:
    """1 MB of a header that never ends: answered once 64 KB are in, not at the deadline."""
    with connect(server) as sock:
        sock.sendall(CREDITS_HEAD + b"x-pad: " + b"a" * 1024 * 1024)
        assert_431_then_closed(read_until_closed(sock))


def test_an_8_mb_header_is_a_431_and_a_close_without_being_read_whole(server: str) -> None:
    header = b"x-pad: " + b"a" * 8 * 1024 * 1024 + b"\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(CREDITS_HEAD)
        try:
            for start in range(0, len(header), 65536):
                sock.sendall(header[start : start + 65536])
                if select.select([sock], [], [], 0)[0]:
                    break  # answered: the rest is not wanted
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed first
        assert_431_then_closed(read_until_closed(sock))


def test_a_60_kb_header_still_works_and_a_body_does_not_count_towards_it(server: str) -> None:
    pad = b"x-pad: " + b"a" * 60 * 1024 + b"\r\n"
    with connect(server) as sock:
        for _ in range(2):  # the count starts again for each request on a connection
            sock.sendall(CREDITS_HEAD + pad + b"\r\n")
            assert parse(read_response(sock))[0] == 200
        body = b"x" * 4000  # the head and the body, sent at once, are over 64 KB
        sock.sendall(CALL_HEAD + pad + f"content-length: {len(body)}\r\n\r\n".encode() + body)
        status, _, answer = parse(read_response(sock))
    assert status == 400 and "Invalid" in json.loads(answer)["error"]  # read, and judged


@pytest.mark.anyio
async def test_shutdown_answers_in_flight_calls_503_without_charging(
    client_for: Callable,
) -> None:
    app = create_app(make_config(time_scale=1.0))  # each call would run for minutes
    client = client_for(app)
    emulator = app.state.emulator
    mock = MockHandle(emulator)
    balance = mock.account().balance
    answers: list[httpx.Response] = []

    async def call() -> None:
        answers.append(await client.post("/v1/wan-2.6-i2v", content=BODY, headers=JSON))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(call)
        model = emulator.models["wan-2.6-i2v"]
        with anyio.fail_after(30):
            while mock.account().held < 3 * model.price(model.operation.defaults()):
                await anyio.sleep(0.01)
        assert emulator.in_flight.count == 3
        emulator.in_flight.close()
    late = await client.post("/v1/wan-2.6-i2v", content=BODY, headers=JSON)
    for answer in [*answers, late]:
        assert answer.status_code == 503
        assert answer.json() == {"error": "The emulator is shutting down"}
        assert answer.headers["connection"] == "close"
        assert "x-cost" not in answer.headers
    assert len(answers) == 3
    assert mock.account().held == 0
    assert mock.account().balance == balance
    assert mock.charged_calls() == []


def test_a_client_that_leaves_mid_call_releases_its_hold_and_is_not_charged() -> None:
    app = create_app(make_config(time_scale=1.0))  # the call would run for minutes
    with running_server(app) as base_url:
        before = state(base_url)
        with connect(base_url) as sock:
            sock.sendall(CALL_HEAD + f"content-length: {len(BODY)}\r\n\r\n".encode() + BODY)
            wait_for(lambda: state(base_url)["held"] > 0)
        wait_for(lambda: state(base_url)["held"] == 0)
        after = state(base_url)
        [entry] = httpx.get(f"{base_url}/_mock/journal", params={"path": "/v1/wan"}).json()[
            "entries"
        ]
    assert after["credits"] == before["credits"]
    assert entry["status"] == 499
    assert entry["charged_usd"] == 0


def test_sigterm_answers_in_flight_calls_503_and_exits_promptly() -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "wan26.mockserver", "serve", "--time-scale", "1"]
    command += ["--offline", "--port", str(port), "--log-level", "warning"]
    env = {"SEGMIND_API_KEY": API_KEY, "WAN26_MOCK_CONFIG": ""}
    answers: list[httpx.Response | Exception] = []

    def call() -> None:
        try:
            answers.append(
                httpx.post(
                    f"{base_url}/v1/wan-2.6-i2v", content=BODY, headers=JSON | KEY, timeout=60
                )
            )
        except httpx.HTTPError as exc:
            answers.append(exc)

    with running_command(command, f"{base_url}/_mock/health", env, output=subprocess.PIPE) as proc:
        callers = [threading.Thread(target=call) for _ in range(3)]
        for caller in callers:
            caller.start()
        half_body = connect(base_url)
        half_body.sendall(CALL_HEAD + f"content-length: {len(BODY)}\r\n\r\n".encode() + BODY[:10])
        half_headers = connect(base_url)
        half_headers.sendall(b"GET /v1/get-user-credits HTTP/1.1\r\n")
        wait_for(lambda: state(base_url)["held"] > 0 and in_flight(base_url) == 4)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        took = time.monotonic() - started
        for caller in callers:
            caller.join(30)
        with half_body, half_headers:
            body_answer, headers_answer = (
                read_until_closed(half_body),
                read_until_closed(half_headers),
            )
        log = proc.stdout.read().decode() if proc.stdout else ""
    assert took < 20, f"exit took {took:.1f} s"
    assert len(answers) == 3
    for answer in answers:
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 503
        assert answer.json() == {"error": "The emulator is shutting down"}
        assert answer.headers["connection"] == "close"
        assert "x-cost" not in answer.headers
    status, headers, body = parse(body_answer)
    assert (status, headers["connection"]) == (503, "close")
    assert json.loads(body) == {"error": "The emulator is shutting down"}
    assert headers_answer == b""  # nothing was asked yet: the connection is just closed
    assert re.search(r"4 call\(s\) in flight answered 503, not charged", log)


def in_flight(base_url: str) -> int:
    """API requests the journal has seen start and not yet finish."""
    entries = httpx.get(f"{base_url}/_mock/journal", params={"path": "/v1/wan"}).json()["entries"]
    return sum(entry["status"] is None for entry in entries)
