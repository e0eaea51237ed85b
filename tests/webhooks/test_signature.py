"""Signature and token checks, starting from the test vector in ../shared/JIRA.md."""

from __future__ import annotations

import base64

import pytest

from plugin.jira.signature import sign
from webhooks.signature import (
    Unauthenticated,
    WebhookCredentials,
    authenticate,
    verify_signature,
)

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


def _auth(headers: dict[str, str], url_token: str | None = None, **settings: object) -> str:
    options = {
        "secrets": (VECTOR_SECRET,),
        "tokens": ("automation-token",),
        "basic": ("jira:pass:word", "jira:old-password"),
        "url_tokens": ("url-token-new", "url-token-old"),
    } | settings
    credentials = WebhookCredentials(**options)  # type: ignore[arg-type]
    return authenticate(headers, VECTOR_BODY, credentials, url_token=url_token)


def _basic(pair: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def test_automation_token_header() -> None:
    assert _auth({"X-Hindsight-Token": "automation-token"}) == "token"
    with pytest.raises(Unauthenticated, match="automation token does not match"):
        _auth({"X-Hindsight-Token": "guess"})
    with pytest.raises(Unauthenticated, match="no automation token is configured"):
        _auth({"X-Hindsight-Token": "automation-token"}, tokens=())


def test_basic_auth_any_configured_pair_and_only_those() -> None:
    assert _auth(_basic("jira:pass:word")) == "basic"  # a password may hold a colon
    assert _auth(_basic("jira:old-password")) == "basic"  # rotation: both pairs work
    for wrong in ("jira:guess", "other:pass:word", "jira:", "jira:pass"):
        with pytest.raises(Unauthenticated, match=r"^Basic user or password does not match$"):
            _auth(_basic(wrong))
    with pytest.raises(Unauthenticated, match="no webhook_basic_auth is configured"):
        _auth(_basic("jira:pass:word"), basic=())


@pytest.mark.parametrize(
    "header", ["Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic é"]
)
def test_malformed_basic_header(header: str) -> None:
    with pytest.raises(Unauthenticated, match="malformed Authorization header"):
        _auth({"Authorization": header})


def test_other_authorization_schemes_are_not_webhook_credentials() -> None:
    with pytest.raises(Unauthenticated, match="missing credentials"):
        _auth({"Authorization": "Bearer a.jwt.token"})


def test_url_token_any_configured_value_and_only_those() -> None:
    assert _auth({}, url_token="url-token-new") == "url-token"
    assert _auth({}, url_token="url-token-old") == "url-token"
    with pytest.raises(Unauthenticated, match=r"^\?token= in the webhook URL does not match$"):
        _auth({}, url_token="url-token-guess")
    with pytest.raises(Unauthenticated, match="no webhook_url_token is configured"):
        _auth({}, url_token="url-token-new", url_tokens=())


def test_the_first_credential_presented_decides() -> None:
    """A wrong signature is not rescued by a right token in the URL, or the reverse."""
    with pytest.raises(Unauthenticated, match="signature does not match"):
        _auth({"X-Hub-Signature": sign(VECTOR_BODY, "wrong")}, url_token="url-token-new")
    with pytest.raises(Unauthenticated, match="Basic user or password"):
        _auth(_basic("jira:guess"), url_token="url-token-new")
    assert _auth({"X-Hub-Signature": VECTOR_SIGNATURE}, url_token="wrong") == "signature"


def test_credentials_repr_shows_counts_never_values() -> None:
    credentials = WebhookCredentials(
        secrets=("s3cret",), basic=("jira:hunter2",), url_tokens=("t0ken",)
    )
    shown = repr(credentials)
    assert "secrets=1" in shown and "basic=1" in shown and "url_tokens=1" in shown
    assert not any(value in shown for value in ("s3cret", "hunter2", "t0ken", "jira"))


def test_unsigned_only_when_allowed_and_bad_credentials_never() -> None:
    with pytest.raises(Unauthenticated, match="missing credentials"):
        _auth({})
    assert _auth({}, allow_unsigned=True) == "unsigned"
    with pytest.raises(Unauthenticated):
        _auth({"X-Hub-Signature": "sha256=00"}, allow_unsigned=True)
    with pytest.raises(Unauthenticated):
        _auth({}, url_token="wrong", allow_unsigned=True)
