"""The integration report in a user's pytest session: summed over every test's emulator
and every pytest-xdist worker, off on request, and a threshold that fails the session."""

from __future__ import annotations

import pytest

CARELESS = """
import httpx

BODY = {{"image": "https://example.com/cat.png", "prompt": "a cat", "seed": 1}}


def test_sends_the_same_paid_body_twice_{n}(wan26_server, wan26_mock):
    for _ in range(2):
        answer = httpx.post(f"{{wan26_server}}/v1/wan-2.6-i2v", json=BODY,
                            headers={{"x-api-key": wan26_mock.api_key}}, timeout=60)
        assert answer.status_code == 200
"""

CAREFUL = """
import httpx


def test_reads_the_balance(wan26_server, wan26_mock):
    answer = httpx.get(f"{wan26_server}/v1/get-user-credits",
                       headers={"x-api-key": wan26_mock.api_key})
    assert answer.status_code == 200


def test_calls_nothing(wan26_mock):
    assert wan26_mock.api_key
"""


def summary(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    starts = [i for i, line in enumerate(lines) if "wan26 integration report" in line]
    return lines[starts[0] + 1 :] if starts else []


def test_the_session_ends_with_the_report_of_every_tests_emulator(
    pytester: pytest.Pytester,
) -> None:
    """And past `--wan26-max-waste-usd`, a session whose tests all passed fails."""
    pytester.makepyfile(test_a=CARELESS.format(n=1), test_b=CAREFUL)
    result = pytester.runpytest_subprocess("-q", "-p", "no:xdist", "--wan26-max-waste-usd", "0")
    result.assert_outcomes(passed=3)
    assert result.ret == 1
    lines = summary(result)
    assert lines, result.stdout.str()
    assert lines[0].startswith("3 call(s), $1.25 spent (at list price), $0.625 at risk")
    assert "on the emulators of 2 test(s)" in lines[0]
    duplicate = next(line for line in lines if line.startswith("duplicate-paid-call"))
    assert "1, $0.625 at risk" in duplicate and "test_sends_the_same_paid_body_twice_1" in duplicate
    never = next(line for line in lines if line.startswith("never exercised:"))
    assert "rate-limited" in never and "insufficient-credits" in never
    assert lines[-2] == "wan26: $0.625 at risk exceeds --wan26-max-waste-usd 0: the session fails"


def test_no_report_when_turned_off_or_when_nothing_called_the_emulator(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_a=CARELESS.format(n=1))
    off = pytester.runpytest_subprocess("-q", "-p", "no:xdist", "--wan26-no-report")
    assert off.ret == 0 and summary(off) == []
    pytester.makepyfile(test_a="def test_nothing(wan26_mock):\n    assert wan26_mock.api_key\n")
    quiet = pytester.runpytest_subprocess("-q", "-p", "no:xdist")
    assert quiet.ret == 0 and summary(quiet) == []


def test_xdist_workers_reports_are_added_up(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a=CARELESS.format(n=1), test_b=CARELESS.format(n=2))
    result = pytester.runpytest_subprocess("-q", "-n", "2", "--wan26-max-waste-usd", "2")
    lines = summary(result)
    assert lines, result.stdout.str()
    assert lines[0].startswith("4 call(s), $2.5 spent (at list price), $1.25 at risk")
    duplicate = next(line for line in lines if line.startswith("duplicate-paid-call"))
    assert "2, $1.25 at risk" in duplicate
    assert "twice_1" in duplicate and "twice_2" in duplicate
    assert result.ret == 0  # within the threshold
