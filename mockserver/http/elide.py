"""A request body as the journal keeps it: every field, with data-URI payloads elided.

Fed chunk by chunk, so a 40 MB body never sits in the journal: each data URI's
base64 payload is hashed and counted as it streams past and replaced by
`<N bytes, sha256 PREFIX>` (N and the hash are of the decoded file, so they
match `sha256sum` of what was sent). What is kept is capped at `limit` bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_PREFIX = re.compile(rb"data:[\w.+/-]{1,100};base64,")
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=]*")
_CARRY = 120  # longer than any prefix: what may be the start of one split across chunks


class ElidedBody:
    def __init__(self, limit: int = 16 * 1024) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0
        self._pending = b""  # unscanned bytes that may start a prefix
        self._payload: hashlib._Hash | None = None
        self._payload_size = 0
        self._quartet = b""  # base64 characters not yet decodable (fewer than 4)

    def feed(self, chunk: bytes) -> None:
        data, self._pending = self._pending + chunk, b""
        if self._payload is None and b"data:" not in data:  # nearly every body: kept as is
            safe = len(data) - _CARRY
            if safe > 0:
                self._keep(data[:safe])
            self._pending = data[safe:] if safe > 0 else data
            return
        position = 0
        while position < len(data):
            if self._payload is not None:
                run = _BASE64_RUN.match(data, position)
                assert run is not None  # the pattern matches an empty run too
                end = run.end()
                self._hash(data[position:end])
                position = end
                if end < len(data):
                    self._close_payload()
                continue
            found = _PREFIX.search(data, position)
            if found is None:
                safe = max(position, len(data) - _CARRY)
                self._keep(data[position:safe])
                self._pending = data[safe:]
                return
            self._keep(data[position : found.end()])
            self._payload, self._payload_size, self._quartet = hashlib.sha256(), 0, b""
            position = found.end()

    def text(self) -> str:
        """What was fed so far, elided, as text; a payload still open is closed."""
        if not self.kept and self._payload is None and len(self._pending) <= self.limit:
            return self._pending.decode("utf-8", errors="replace")  # a short body, whole
        if self._pending:
            self._keep(self._pending)
            self._pending = b""
        if self._payload is not None:
            self._close_payload()
        tail = f"... ({self.dropped} more bytes)" if self.dropped else ""
        return self.kept.decode("utf-8", errors="replace") + tail

    def _hash(self, characters: bytes) -> None:
        usable = self._quartet + characters
        cut = len(usable) - len(usable) % 4
        self._quartet = usable[cut:]
        try:
            decoded = base64.b64decode(usable[:cut])
        except binascii.Error:  # padding inside the payload: count the text as sent
            decoded = usable[:cut]
        assert self._payload is not None  # only called while a payload is open
        self._payload.update(decoded)
        self._payload_size += len(decoded)

    def _close_payload(self) -> None:
        assert self._payload is not None
        digest = self._payload.hexdigest()[:12]
        self._keep(f"<{self._payload_size} bytes, sha256 {digest}>".encode())
        self._payload = None

    def _keep(self, data: bytes) -> None:
        room = self.limit - len(self.kept)
        if len(data) <= room:
            self.kept += data
        else:
            self.kept += data[:room]
            self.dropped += len(data) - room
