"""Capture a resolved retrospective issue into the knowledge base, and keep it current.

The issue's description and comments become one Markdown retrospective whose source is the issue's
browse URL; the knowledge base replaces a source's lessons atomically, so a later edit simply
captures again. An unchanged issue is not re-ingested (content hash).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kb.errors import IngestError
from plugin.jira.port import Issue, JiraPort, markers_in
from plugin.lessons.config import LessonsSettings
from plugin.lessons.index import LessonIndex, Retrospective
from plugin.lessons.journal import LessonsJournal, sha256

CaptureAction = Literal[
    "captured", "updated", "unchanged", "not-retrospective", "not-resolved", "unreadable"
]
_WIKI_HEADING = re.compile(r"^h([1-6])\.\s*", re.MULTILINE)
_WIKI_NUMBERED = re.compile(r"^#\s+", re.MULTILINE)


@dataclass(frozen=True)
class CaptureOutcome:
    issue_key: str
    action: CaptureAction
    source: str = ""
    lessons: int = 0
    error: str = ""


def wiki_to_markdown(text: str) -> str:
    """Enough of Jira's wiki markup in Markdown for the reader to find headings and bullets."""
    text = _WIKI_HEADING.sub(lambda m: "#" * int(m.group(1)) + " ", text)
    return _WIKI_NUMBERED.sub("1. ", text)


def retrospective_markdown(issue: Issue) -> str:
    """The issue as a Markdown retrospective: summary as title, description, then its comments."""
    parts = [f"# {issue.summary or issue.key}", "", wiki_to_markdown(issue.description).strip()]
    comments = [
        c for c in issue.comments if c.body.strip() and not c.markers and not markers_in(c.body)
    ]  # Hindsight's own comments are no part of the retrospective
    if comments:
        parts += ["", "## Comments", ""]
        for comment in comments:
            parts += [wiki_to_markdown(comment.body).strip(), ""]
    return "\n".join(parts).strip() + "\n"


def is_resolved(issue: Issue) -> bool:
    return bool(issue.resolution) or issue.status.category == "done"


class RetrospectiveCapturer:
    """Ingests resolved retrospective issues into the knowledge base."""

    def __init__(
        self,
        index: LessonIndex,
        journal: LessonsJournal,
        policy: LessonsSettings,
        *,
        browse_base: str,
    ) -> None:
        self.index = index
        self.journal = journal
        self.policy = policy
        self.browse_base = browse_base.rstrip("/")

    def source_for(self, issue_key: str) -> str:
        return f"{self.browse_base}/browse/{issue_key}"

    def wants(self, issue: Issue) -> bool:
        return self.policy.capture.matches(issue.issuetype.name, issue.labels)

    def capture(self, jira: JiraPort, issue_key: str) -> CaptureOutcome:
        """Re-read the issue; ingest it if it is a resolved retrospective that changed."""
        issue = jira.get_issue(issue_key)
        if not self.wants(issue):
            return CaptureOutcome(issue.key, "not-retrospective")
        if not is_resolved(issue):
            return CaptureOutcome(issue.key, "not-resolved")
        source = self.source_for(issue.key)
        markdown = retrospective_markdown(issue)
        digest = sha256(markdown)
        before = self.journal.capture_sha(issue.key)
        if before == digest:
            return CaptureOutcome(issue.key, "unchanged", source)
        tags = tuple(dict.fromkeys((*issue.components, *issue.labels)))
        try:
            written = self.index.replace_retrospective(
                Retrospective(
                    source=source,
                    title=issue.summary or issue.key,
                    markdown=markdown,
                    project=issue.project,
                    date=(issue.updated or issue.created or "")[:10] or None,
                    tags=tags,
                )
            )
        except IngestError as error:
            # The issue holds nothing readable (e.g. an empty description): retrying cannot
            # help, a later edit will capture it.
            return CaptureOutcome(issue.key, "unreadable", source, error=error.reason)
        self.journal.record_capture(issue.key, source, digest, written)
        return CaptureOutcome(
            issue.key, "captured" if before is None else "updated", source, written
        )
