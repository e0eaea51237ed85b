"""Suggest past lessons on an issue: search, threshold, rank, and keep one comment up to date.

Idempotent by construction: it re-reads the issue, renders a body that depends only on the lessons
and the time of the first suggestion, and writes only when that body differs from the comment
already there. A delivery run twice therefore writes once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from kb.clock import SYSTEM_CLOCK, Clock
from kb.search import MAX_QUERY_CHARS
from plugin.jira.port import Issue, JiraPort, without_markers
from plugin.lessons.comment import MARKER, CommentLesson, find_marked, render_suggestions
from plugin.lessons.config import LessonsSettings
from plugin.lessons.index import LessonIndex
from plugin.lessons.journal import LessonsJournal, sha256
from plugin.lessons.ranking import Suggestion, context_boost, rank_lessons
from plugin.lessons.signing import FeedbackSigner

SuggestAction = Literal["created", "edited", "unchanged", "none", "disabled"]
_WIKI_MACRO = re.compile(r"\{(?:code|noformat|quote|panel|color)[^}]*\}")
CANDIDATES = 30
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class SuggestOutcome:
    """What one suggestion run did on one issue."""

    issue_key: str
    action: SuggestAction
    suggestions: tuple[Suggestion, ...] = ()
    comment_id: str | None = None
    considered: int = 0
    dismissed: frozenset[str] = field(default_factory=frozenset)
    body: str = ""

    @property
    def lesson_ids(self) -> list[str]:
        return [s.hit.id for s in self.suggestions]


def issue_query(issue: Issue) -> str:
    """The text searched for an issue: its summary, then its description without macros."""
    description = _WIKI_MACRO.sub(" ", issue.description or "")
    return f"{issue.summary}\n{description}".strip()[:MAX_QUERY_CHARS]


def text_changed_substantially(before: str, after: str, *, at_most: float = 0.8) -> bool:
    """True when two texts share less than `at_most` of their words (in order)."""
    old, new = _WORDS.findall((before or "").lower()), _WORDS.findall((after or "").lower())
    if not old and not new:
        return False
    return difflib.SequenceMatcher(None, old, new, autojunk=False).ratio() < at_most


class Suggester:
    """Comments the lessons that clear a project's threshold on an issue, at most once."""

    def __init__(
        self,
        index: LessonIndex,
        journal: LessonsJournal,
        policy: LessonsSettings,
        signer: FeedbackSigner,
        *,
        base_url: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.index = index
        self.journal = journal
        self.policy = policy
        self.signer = signer
        self.base_url = base_url
        self._clock = clock

    def rank(self, issue: Issue, *, exclude: frozenset[str] = frozenset()) -> list[Suggestion]:
        """Lessons for `issue` whose similarity clears its project's threshold, best first."""
        settings = self.policy.suggestions_for(issue.project)
        own_source = browse_suffix(issue.key)
        terms = (*issue.components, *issue.labels)
        return rank_lessons(
            self.index,
            self.journal,
            issue_query(issue),
            threshold=settings.threshold,
            limit=settings.limit,
            candidates=max(CANDIDATES, settings.limit * 5),
            # never an excluded lesson, nor the issue's own captured text
            keep=lambda hit: hit.id not in exclude and not hit.source.endswith(own_source),
            context=lambda hit: context_boost(hit.project, hit.tags, issue.project, terms),
        )

    def suggest(self, jira: JiraPort, issue_key: str) -> SuggestOutcome:
        """Re-read the issue and bring its suggestion comment up to date (or leave it alone)."""
        issue = jira.get_issue(issue_key)
        settings = self.policy.suggestions_for(issue.project)
        if not settings.enabled:
            return SuggestOutcome(issue_key, "disabled")
        dismissed = self.journal.dismissed(issue_key)
        chosen = self.rank(issue, exclude=dismissed)
        recorded = self.journal.suggestion_comment(issue_key)
        existing = None
        if recorded and recorded.comment_id:
            existing = next((c for c in issue.comments if c.id == recorded.comment_id), None)
        existing = existing or find_marked(issue.comments)
        if not chosen and existing is None:
            return SuggestOutcome(issue_key, "none", dismissed=dismissed)
        issued = recorded.first_at if recorded else self._clock.now()
        body = render_suggestions(
            issue_key,
            [
                CommentLesson(s.hit.id, s.hit.title, s.hit.text, s.hit.kind, s.similarity)
                for s in chosen
            ],
            base_url=self.base_url,
            signer=self.signer,
            issued=issued,
        )
        if existing is None:
            comment_id: str | None = jira.add_comment(issue_key, body, markers=(MARKER,)).id
            action: SuggestAction = "created"
        elif without_markers(existing.body).strip() == without_markers(body).strip():
            comment_id, action = existing.id, "unchanged"
        elif recorded and recorded.comment_id == existing.id and recorded.body_sha == sha256(body):
            # Jira may normalise the stored markup; our last write already said exactly this.
            comment_id, action = existing.id, "unchanged"
        else:
            jira.edit_comment(issue_key, existing.id, body, markers=(MARKER,))
            comment_id, action = existing.id, "edited"
        if action != "unchanged" or recorded is None:
            self.journal.record_suggestions(
                issue_key,
                issue.project,
                comment_id or None,
                body,
                issued,
                [(s.hit.id, s.similarity, s.score) for s in chosen],
            )
        return SuggestOutcome(
            issue_key,
            action,
            tuple(chosen),
            comment_id or None,
            considered=len(chosen),
            dismissed=dismissed,
            body=body,
        )


def browse_suffix(issue_key: str) -> str:
    """The end of an issue's browse URL, which a captured retrospective has as its source."""
    return f"/browse/{issue_key}"
