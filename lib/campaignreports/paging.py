"""Page tokens: opaque to callers, bound to the request they came from.

A token carries where the next page starts (a key or a position) and a digest of the request's
other fields, so a token used with another request is refused instead of paging something else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from google.protobuf.message import Message


class PageTokenError(ValueError):
    """A page token that is not one this request's previous page gave."""


def asked_window(window: Message) -> str:
    """A request's window as it was asked for (live, or a range), never empty: what a page token
    is bound to rather than the window it resolved to. A live window resolves to another 24 hours
    every minute, and a listing paged for longer than that must not lose its place."""
    return "window:" + window.SerializeToString(deterministic=True).hex()


def request_digest(*parts: Any) -> str:
    """What a token is bound to: the request's fields but its page's size and start."""
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def page_token(position: str | int, digest: str) -> str:
    payload = json.dumps({"after": position, "request": digest}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def token_position(token: str, digest: str, kind: type[str] | type[int]) -> str | int:
    """Where the page of `token` starts; PageTokenError if the token is malformed, holds
    another kind of position, or belongs to another request."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        position, bound_to = decoded["after"], decoded["request"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise PageTokenError("page_token is not one a previous page returned") from None
    if type(position) is not kind:
        raise PageTokenError("page_token is not one a previous page returned")
    if bound_to != digest:
        raise PageTokenError("page_token belongs to another request: keep every other field as it was")
    return position
