"""Who sent this delivery? HMAC signatures (Jira admin webhooks) and shared tokens (Automation).

Comparisons are constant-time; several secrets may be valid at once so they can be rotated
without dropping deliveries. Reasons given back are short and never include a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence

SIGNATURE_HEADER = "X-Hub-Signature"
# Jira signs with HMAC-SHA256; the prefix names the algorithm, so we read it rather than assume.
ALGORITHMS: Mapping[str, Callable[..., hashlib._Hash]] = {"sha256": hashlib.sha256}


class Unauthenticated(Exception):
    """The delivery's credentials are missing or wrong; the message is the short reason."""


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    """The `X-Hub-Signature` value Jira sends for `body` signed with `secret`."""
    digest = hmac.new(secret.encode(), body, ALGORITHMS[algorithm]).hexdigest()
    return f"{algorithm}={digest}"


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


def verify_token(received: str, tokens: Sequence[str]) -> None:
    """Raise `Unauthenticated` unless `received` equals one of the shared tokens."""
    given = received.strip().encode()
    matches = [hmac.compare_digest(given, token.encode()) for token in tokens]
    if not any(matches):
        raise Unauthenticated("automation token does not match")


def authenticate(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[str],
    tokens: Sequence[str],
    token_header: str,
    allow_unsigned: bool,
) -> str:
    """How the delivery proved itself: "signature", "token" or "unsigned" (dev switch on).

    A delivery that presents credentials must pass them, whatever `allow_unsigned` says.
    """
    signature = headers.get(SIGNATURE_HEADER)
    if signature is not None:
        verify_signature(body, signature, secrets)
        return "signature"
    token = headers.get(token_header)
    if token is not None:
        if not tokens:
            raise Unauthenticated(f"{token_header} sent, but no automation token is configured")
        verify_token(token, tokens)
        return "token"
    if allow_unsigned:
        return "unsigned"
    raise Unauthenticated(f"missing {SIGNATURE_HEADER} (or {token_header}) header")
