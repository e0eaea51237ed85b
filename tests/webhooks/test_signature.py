"""Signature and token checks, starting from the test vector in ../shared/JIRA.md."""

from __future__ import annotations

import pytest

from webhooks.signature import Unauthenticated, authenticate, sign, verify_signature

VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello World!"
VECTOR_SIGNATURE = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"


def test_published_test_vector() -> None:
    assert sign(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE
    verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, [VECTOR_SECRET])


def test_upper_case_hex_and_algorithm_are_accepted() -> None:
    verify_signature(VECTOR_BODY, VECTOR_SIGNATURE.upper(), [VECTOR_SECRET])


def test_tampered_body_fails() -> None:
    with pytest.raises(Unauthenticated, match="does not match"):
        verify_signature(b"Hello World?", VECTOR_SIGNATURE, [VECTOR_SECRET])


def test_wrong_secret_fails() -> None:
    with pytest.raises(Unauthenticated, match="does not match"):
        verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, ["another secret"])


def test_rotated_secret_old_and_new_both_accepted() -> None:
    new_signature = sign(VECTOR_BODY, "the new secret")
    secrets = ["the new secret", VECTOR_SECRET]

    verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, secrets)
    verify_signature(VECTOR_BODY, new_signature, secrets)
    with pytest.raises(Unauthenticated):
        verify_signature(VECTOR_BODY, new_signature, [VECTOR_SECRET])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("a4771c39fbe90f317c78", "malformed"),
        ("sha256=", "malformed"),
        ("sha1=a4771c39fbe90f317c7824e83ddef3caae9cb3d9", "unsupported signature algorithm 'sha1'"),
    ],
)
def test_malformed_or_unknown_algorithm(header: str, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        verify_signature(VECTOR_BODY, header, [VECTOR_SECRET])


def test_signed_delivery_without_a_configured_secret_is_refused() -> None:
    with pytest.raises(Unauthenticated, match="no webhook secret is configured"):
        verify_signature(VECTOR_BODY, VECTOR_SIGNATURE, [])


def _auth(headers: dict[str, str], **settings: object) -> str:
    options = {
        "secrets": [VECTOR_SECRET],
        "tokens": ["automation-token"],
        "token_header": "X-Hindsight-Token",
        "allow_unsigned": False,
    } | settings
    return authenticate(headers, VECTOR_BODY, **options)  # type: ignore[arg-type]


def test_automation_token_header() -> None:
    assert _auth({"X-Hindsight-Token": "automation-token"}) == "token"
    with pytest.raises(Unauthenticated, match="automation token does not match"):
        _auth({"X-Hindsight-Token": "guess"})
    with pytest.raises(Unauthenticated, match="no automation token is configured"):
        _auth({"X-Hindsight-Token": "automation-token"}, tokens=[])


def test_unsigned_only_when_allowed_and_bad_credentials_never() -> None:
    with pytest.raises(Unauthenticated, match="missing X-Hub-Signature"):
        _auth({})
    assert _auth({}, allow_unsigned=True) == "unsigned"
    with pytest.raises(Unauthenticated):
        _auth({"X-Hub-Signature": "sha256=00"}, allow_unsigned=True)
