"""Why an input cannot be used: a client error, or a host that did not answer."""

from __future__ import annotations


class MediaError(Exception):
    """The input cannot be used; the message is what the client sees in a 400."""


class Unreachable(Exception):
    """The host could not be reached at all (no DNS, no route, no answer)."""
