"""Images already seen as data URIs, by a hash of the URI's text: a new seed of a known
image skips the base64 decoding, the header checks and the hash of the file.

The URI's text is hashed before anything is decoded; equal text is the same file, so what
was learnt from it the first time (its bytes, checked, and their digest, which names the
image's encoded segments) holds again. Bounded by the bytes kept, oldest-used evicted.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

KNOWN_IMAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class KnownImage:
    data: bytes  # the file, already checked against the contract's rules
    digest: str  # sha256 of `data`: the key of its segments and renders

    def open(self) -> Image.Image:
        """A fresh (lazy) image of the file: each request decodes its own, if it must."""
        return Image.open(io.BytesIO(self.data))


class KnownImages:
    def __init__(self, max_bytes: int = KNOWN_IMAGE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, KnownImage] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # apps on other threads' loops share it

    def get(self, uri: str, rules: str) -> KnownImage | None:
        """`rules`: the contract's rules it was checked against, as text."""
        key = _key(uri, rules)
        with self._lock:
            known = self._items.get(key)
            if known is not None:
                self._items.move_to_end(key)
            return known

    def put(self, uri: str, rules: str, known: KnownImage) -> None:
        if len(known.data) > self.max_bytes:
            return
        key = _key(uri, rules)
        with self._lock:
            if key in self._items:
                return
            self._items[key] = known
            self._size += len(known.data)
            while self._size > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._size -= len(evicted.data)


def _key(uri: str, rules: str) -> str:
    digest = hashlib.sha256(uri.encode("utf-8", "surrogatepass"))
    digest.update(rules.encode())
    return digest.hexdigest()
