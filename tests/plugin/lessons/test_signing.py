from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from plugin.lessons.signing import FeedbackSigner, InvalidFeedbackToken


def test_a_signed_token_verifies_to_its_claim(signer: FeedbackSigner) -> None:
    claim = signer.verify(signer.sign("PAY-1", "L-1", "helpful"))
    assert (claim.issue_key, claim.lesson_id, claim.answer) == ("PAY-1", "L-1", "helpful")


def test_changing_the_answer_breaks_the_signature(signer: FeedbackSigner) -> None:
    body, mac = signer.sign("PAY-1", "L-1", "helpful").split(".")
    claim = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claim["a"] = "not_relevant"
    forged = base64.urlsafe_b64encode(json.dumps(claim).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidFeedbackToken, match="signature"):
        signer.verify(f"{forged}.{mac}")


def test_another_secret_cannot_make_tokens(signer: FeedbackSigner, clock) -> None:
    other = FeedbackSigner("guessed-secret", clock=clock)
    with pytest.raises(InvalidFeedbackToken, match="signature"):
        signer.verify(other.sign("PAY-1", "L-1", "helpful"))


def test_tokens_expire(clock) -> None:
    signer = FeedbackSigner("s", ttl=timedelta(days=1), clock=clock)
    token = signer.sign("PAY-1", "L-1", "helpful")
    clock.advance(days=2)
    with pytest.raises(InvalidFeedbackToken, match="expired"):
        signer.verify(token)


def test_a_rotated_secret_still_accepts_old_links(clock) -> None:
    old = FeedbackSigner("old", clock=clock)
    new = FeedbackSigner("new", previous_secrets=("old",), clock=clock)
    assert new.verify(old.sign("PAY-1", "L-1", "not_relevant")).answer == "not_relevant"


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "!!.??"])
def test_malformed_tokens_are_refused(signer: FeedbackSigner, token: str) -> None:
    with pytest.raises(InvalidFeedbackToken):
        signer.verify(token)


def test_unknown_answers_cannot_be_signed(signer: FeedbackSigner) -> None:
    with pytest.raises(ValueError, match="answer"):
        signer.sign("PAY-1", "L-1", "maybe")  # type: ignore[arg-type]
