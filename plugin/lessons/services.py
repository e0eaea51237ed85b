"""Build the lessons features once per process from typed options (no dependency on `hindsight`).

The web pages, the webhook handlers and the CLI share one `LessonsServices`: one knowledge-base
connection (and one in-memory vector matrix), one journal, one signer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from kb.clock import SYSTEM_CLOCK, Clock
from kb.embedding import Embedder, load_embedder
from kb.postgres import PostgresURL
from kb.store import LessonStore
from plugin.lessons.capture import RetrospectiveCapturer
from plugin.lessons.config import LessonsSettings
from plugin.lessons.index import KbLessonIndex, LessonIndex
from plugin.lessons.journal import LessonsJournal, open_lessons_journal
from plugin.lessons.seed import ProjectSeeder
from plugin.lessons.signing import FeedbackSigner
from plugin.lessons.suggest import Suggester

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class LessonsOptions:
    """Everything the lessons features read from the settings (built by `hindsight.wiring`)."""

    db: Path | PostgresURL
    base_url: str = DEFAULT_BASE_URL
    browse_base: str = ""  # the Jira base URL; captured retrospectives link to /browse/KEY
    feedback_secrets: tuple[str, ...] = ()
    feedback_link_days: int = 90
    report_only: bool = True
    policy_file: Path | None = None
    embed_model: str | None = None


def feedback_secrets(configured: Sequence[str], webhook: Sequence[str]) -> tuple[str, ...]:
    """The configured feedback secrets, else ones derived from the webhook secrets.

    Deriving (HMAC of a fixed label) means a feedback link never reveals or equals the webhook
    secret. With neither configured (local development only) a random per-process secret is used:
    links then stop working when the process restarts.
    """
    if configured:
        return tuple(configured)
    if webhook:
        return tuple(
            hmac.new(s.encode(), b"hindsight feedback links", hashlib.sha256).hexdigest()
            for s in webhook
        )
    log.warning("no feedback or webhook secret: feedback links last until this process stops")
    return (secrets.token_hex(32),)


def load_lessons_policy(policy_file: Path | None) -> LessonsSettings:
    """The policy file's `suggestions:` section, or the same model's defaults without a file."""
    if policy_file is None:
        return LessonsSettings()
    from plugin.policy.loader import load_policy

    return load_policy(policy_file).suggestions


@dataclass
class LessonsServices:
    """The lessons features wired together over one database."""

    options: LessonsOptions
    index: LessonIndex
    journal: LessonsJournal
    signer: FeedbackSigner
    policy: LessonsSettings
    store: LessonStore | None = None
    clock: Clock = field(default=SYSTEM_CLOCK)

    @cached_property
    def suggester(self) -> Suggester:
        return Suggester(
            self.index,
            self.journal,
            self.policy,
            self.signer,
            base_url=self.options.base_url,
            clock=self.clock,
        )

    @cached_property
    def seeder(self) -> ProjectSeeder:
        return ProjectSeeder(
            self.index,
            self.journal,
            self.policy,
            base_url=self.options.base_url,
            record_seeds=not self.options.report_only,
        )

    @cached_property
    def capturer(self) -> RetrospectiveCapturer:
        return RetrospectiveCapturer(
            self.index, self.journal, self.policy, browse_base=self.options.browse_base
        )


def build_services(
    options: LessonsOptions,
    *,
    embedder: Embedder | None = None,
    policy: LessonsSettings | None = None,
    store: LessonStore | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> LessonsServices:
    """Open the knowledge base and the journal where `options.db` says (a SQLite file or a
    PostgreSQL database) and wire the features."""
    store = store or LessonStore(options.db, embedder or load_embedder(options.embed_model))
    return LessonsServices(
        options=options,
        index=KbLessonIndex(store),
        journal=open_lessons_journal(options.db, clock=clock),
        signer=FeedbackSigner(
            options.feedback_secrets[0],
            previous_secrets=options.feedback_secrets[1:],
            ttl=timedelta(days=options.feedback_link_days),
            clock=clock,
        ),
        policy=policy or load_lessons_policy(options.policy_file),
        store=store,
        clock=clock,
    )
