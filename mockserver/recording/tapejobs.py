"""v2 jobs answered from a cassette: replayed from a recording, or being recorded now.

A job is a timeline of states (seconds after submission, already scaled) and
a final answer; a poll reads the last state whose time has come. A job being
recorded gets its states as the recorder sees them upstream.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from wan26.contracts.core.access import fingerprint as key_hash
from wan26.mockserver.core.answers import Answer


@dataclass
class TapeJob:
    id: str
    key_hash: str
    tag: str  # "hit" or "recorded": what x-mock-cassette says on its polls
    states: list[tuple[str, float]] = field(default_factory=lambda: [("QUEUED", 0.0)])
    started: float = field(default_factory=time.monotonic)
    final_status: int = 200
    final: dict[str, Any] | None = None  # the result body once the last state is reached
    output: str | None = None  # the MP4's name in the emulator's output store

    def state(self) -> str:
        elapsed = time.monotonic() - self.started
        return [name for name, at in self.states if at <= elapsed][-1]

    def finish(self, status: int, body: dict[str, Any], output: str | None) -> None:
        """Publish the end of a recorded job (its last state at once)."""
        self.final_status, self.final, self.output = status, body, output
        self.states.append((body["status"], time.monotonic() - self.started))

    def answer(self, base_url: str, full: bool) -> Answer:
        state = self.state()
        if state in ("COMPLETED", "FAILED") and self.final is not None:
            body = {**self.final, "request_id": self.id}
            if state == "COMPLETED":
                body["output"] = f"{base_url.rstrip('/')}/outputs/{self.output}"
            if state == "FAILED" or full:
                return Answer(body, self.final_status)
        if not full:
            return Answer({"status": state, "request_id": self.id})
        return Answer(
            {"status": state, "error": None, "metrics": {}, "output": None, "request_id": self.id}
        )


class TapeJobs:
    """The jobs by id, visible only to their key, dropped after the results' lifetime."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self.jobs: OrderedDict[str, TapeJob] = OrderedDict()
        self.outputs: set[str] = set()

    def add(self, job: TapeJob) -> None:
        self._expire()
        self.jobs[job.id] = job

    def knows(self, job_id: str) -> bool:
        self._expire()
        return job_id in self.jobs

    def answer(self, job_id: str, key: str, base_url: str, full: bool) -> Answer:
        job = self.jobs[job_id]
        if job.key_hash != key_hash(key):
            return Answer({"error": f"Request {job_id} not found"}, 404)
        return job.answer(base_url, full)

    def _expire(self) -> None:
        deadline = time.monotonic() - self.ttl_s
        while self.jobs and next(iter(self.jobs.values())).started < deadline:
            self.jobs.popitem(last=False)
