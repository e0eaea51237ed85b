"""Who sent this delivery? HMAC signatures (Jira admin webhooks), shared tokens (Automation),
HTTP Basic (Jira Data Center 10) and a token in the webhook URL (Data Center 9 and older).

Comparisons are constant-time; several values of each may be valid at once so they can be
rotated without dropping deliveries. Reasons given back are short and never include a secret.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from plugin.jira.signature import ALGORITHMS, SIGNATURE_HEADER


class Unauthenticated(Exception):
    """The delivery's credentials are missing or wrong; the message is the short reason."""


def verify_signature(body: bytes, header: str, secrets: Sequence[str]) -> None:
    """Raise `Unauthenticated` unless `header` is a valid signature of `body` by one secret."""
    algorithm, separator, received = header.strip().partition("=")
    received = received.strip().lower()
    if not separator or not received or not received.isascii():
        raise Unauthenticated(f"malformed {SIGNATURE_HEADER}: expected 'sha256=<hex digest>'")
    digest = ALGORITHMS.get(algorithm.lower())
    if digest is None:
        raise Unauthenticated(
            f"unsupported signature algorithm {algorithm[:20]!r}; supported: {sorted(ALGORITHMS)}"
        )
    if not secrets:
        raise Unauthenticated("signed delivery, but no webhook secret is configured")
    expected = [hmac.new(s.encode(), body, digest).hexdigest() for s in secrets]
    # Check every secret (no early exit) so timing does not reveal which one matched.
    matches = [hmac.compare_digest(e.encode(), received.encode()) for e in expected]
    if not any(matches):
        raise Unauthenticated("signature does not match the body")


def verify_token(received: str, tokens: Sequence[str], what: str = "automation token") -> None:
    """Raise `Unauthenticated` unless `received` equals one of the shared tokens."""
    given = received.strip().encode()
    # Check every token (no early exit) so timing does not reveal which one matched.
    matches = [hmac.compare_digest(given, token.encode()) for token in tokens]
    if not any(matches):
        raise Unauthenticated(f"{what} does not match")


def basic_credentials(header: str) -> str | None:
    """The `user:password` of an `Authorization: Basic` header; None for another scheme."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        decoded = ""
    if ":" not in decoded:
        raise Unauthenticated(
            "malformed Authorization header: expected 'Basic <base64 of user:password>'"
        )
    return decoded


@dataclass(frozen=True)
class WebhookCredentials:
    """Every credential a delivery may prove itself with; several of each, for rotation.

    `basic` holds "user:password" pairs (Jira Data Center 10's Basic authentication);
    `url_tokens` the `?token=` values for Data Center 9 and older, which cannot sign.
    """

    secrets: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    token_header: str = "X-Hindsight-Token"
    basic: tuple[str, ...] = ()
    url_tokens: tuple[str, ...] = ()
    allow_unsigned: bool = False

    def __repr__(self) -> str:  # counts only: no value may reach a log or a traceback
        counts = ", ".join(
            f"{name}={len(getattr(self, name))}"
            for name in ("secrets", "tokens", "basic", "url_tokens")
        )
        return f"WebhookCredentials({counts}, allow_unsigned={self.allow_unsigned})"


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    credentials: WebhookCredentials,
    *,
    url_token: str | None = None,
) -> str:
    """How the delivery proved itself: "signature", "token" (automation header), "basic",
    "url-token", or "unsigned" (development switch on).

    Checked in that order; the first credential presented decides, and a delivery that presents
    one must pass it, whatever `allow_unsigned` says. Reasons never include a value.
    """
    signature = headers.get(SIGNATURE_HEADER)
    if signature is not None:
        verify_signature(body, signature, credentials.secrets)
        return "signature"
    token_header = credentials.token_header
    token = headers.get(token_header)
    if token is not None:
        if not credentials.tokens:
            raise Unauthenticated(f"{token_header} sent, but no automation token is configured")
        verify_token(token, credentials.tokens)
        return "token"
    pair = basic_credentials(headers.get("Authorization") or "")
    if pair is not None:
        if not credentials.basic:
            raise Unauthenticated("Basic credentials sent, but no webhook_basic_auth is configured")
        verify_token(pair, credentials.basic, "Basic user or password")
        return "basic"
    if url_token is not None:
        if not credentials.url_tokens:
            raise Unauthenticated("?token= sent, but no webhook_url_token is configured")
        verify_token(url_token, credentials.url_tokens, "?token= in the webhook URL")
        return "url-token"
    if credentials.allow_unsigned:
        return "unsigned"
    raise Unauthenticated(
        f"missing credentials: send {SIGNATURE_HEADER}, {token_header}, Authorization: Basic,"
        " or ?token= in the webhook URL"
    )
