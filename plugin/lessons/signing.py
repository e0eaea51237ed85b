"""Signed feedback links: a token names the issue, the lesson and the answer, and expires.

Token = base64url(JSON claim) "." base64url(HMAC-SHA256(secret, claim)). Anyone can read a claim;
nobody without the secret can make or alter one, so a feedback link cannot be forged or turned
from "helpful" into "not relevant". Verification compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, cast

from kb.clock import SYSTEM_CLOCK, Clock

Answer = Literal["helpful", "not_relevant"]
ANSWERS: tuple[Answer, ...] = ("helpful", "not_relevant")


class InvalidFeedbackToken(ValueError):
    """The feedback link is damaged, forged or expired; ask for a fresh suggestion comment."""


@dataclass(frozen=True)
class FeedbackClaim:
    """What a valid feedback link says: this answer, about this lesson, on this issue."""

    issue_key: str
    lesson_id: str
    answer: Answer
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FeedbackSigner:
    """Makes and checks feedback tokens with one secret (and older ones, for rotation)."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        ttl: timedelta = timedelta(days=90),
        previous_secrets: tuple[str | bytes, ...] = (),
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not secret:
            raise ValueError("the feedback signing secret is empty; set HINDSIGHT_FEEDBACK_SECRET")
        self._keys = [s.encode() if isinstance(s, str) else s for s in (secret, *previous_secrets)]
        self._ttl = ttl
        self._clock = clock

    def sign(
        self, issue_key: str, lesson_id: str, answer: Answer, *, issued: datetime | None = None
    ) -> str:
        """A token valid until `issued` (default now) plus the time-to-live."""
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {ANSWERS}, got {answer!r}")
        expires = (issued or self._clock.now()) + self._ttl
        claim = {"i": issue_key, "l": lesson_id, "a": answer, "e": int(expires.timestamp())}
        body = _b64(json.dumps(claim, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(self._keys[0], body)}"

    def verify(self, token: str) -> FeedbackClaim:
        """The claim of a genuine, unexpired token; `InvalidFeedbackToken` otherwise."""
        body, dot, mac = (token or "").strip().partition(".")
        if not dot or not body or not mac:
            raise InvalidFeedbackToken("this feedback link is incomplete; copy the whole link")
        if not (body.isascii() and mac.isascii()):  # a token we made is base64url: ASCII only
            raise InvalidFeedbackToken("this feedback link is damaged; copy the whole link")
        if not any(
            hmac.compare_digest(self._mac(key, body).encode(), mac.encode()) for key in self._keys
        ):
            raise InvalidFeedbackToken("this feedback link's signature does not match")
        try:
            claim = json.loads(_unb64(body))
            issue_key, lesson_id, answer = str(claim["i"]), str(claim["l"]), claim["a"]
            expires = datetime.fromtimestamp(int(claim["e"]), UTC)
        except (ValueError, KeyError, TypeError, OverflowError, OSError) as error:
            raise InvalidFeedbackToken(f"this feedback link is malformed ({error})") from error
        if answer not in ANSWERS:
            raise InvalidFeedbackToken(f"unknown answer {answer!r} in feedback link")
        if self._clock.now() >= expires:
            raise InvalidFeedbackToken(
                "this feedback link has expired; the lessons comment on the issue is refreshed "
                "with new links when the issue changes"
            )
        return FeedbackClaim(issue_key, lesson_id, cast(Answer, answer), expires)

    @staticmethod
    def _mac(key: bytes, body: str) -> str:
        return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
