"""How Jira signs a webhook delivery: `X-Hub-Signature: sha256=<HMAC of the raw body>`.

One home for the signer, with no Flask: the webhook edge verifies with it (`webhooks.signature`),
the demo signs its deliveries, and the fake Jira signs what it sends.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

SIGNATURE_HEADER = "X-Hub-Signature"
# Jira signs with HMAC-SHA256; the prefix names the algorithm, so we read it rather than assume.
ALGORITHMS: Mapping[str, Callable[..., hashlib._Hash]] = {"sha256": hashlib.sha256}


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    """The `X-Hub-Signature` value Jira sends for `body` signed with `secret`."""
    digest = hmac.new(secret.encode(), body, ALGORITHMS[algorithm]).hexdigest()
    return f"{algorithm}={digest}"
