"""How a lesson's rank among suggestions is computed from relevance, context and feedback.

    score = similarity + context boost + feedback boost

`similarity` is the cosine similarity of the issue's text and the lesson (the threshold applies to
it alone, so feedback never pushes an irrelevant lesson into a comment). The boosts only reorder
lessons that already cleared the threshold, and both are bounded:

- context: +0.03 when the lesson comes from the issue's project, +0.02 per lesson tag equal to one
  of the issue's components or labels (at most +0.04);
- feedback: 0.05 x (helpful - not_relevant) / (helpful + not_relevant + 2), within (-0.05, +0.05):
  one "helpful" answer adds 0.017, ten add 0.042; the +2 keeps a single answer from dominating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kb.records import SearchHit
from plugin.lessons.index import LessonIndex
from plugin.lessons.journal import FeedbackTally, LessonsJournal

FEEDBACK_WEIGHT = 0.05
SAME_PROJECT_BOOST = 0.03
TAG_BOOST = 0.02
MAX_TAG_BOOST = 0.04


def feedback_boost(tally: FeedbackTally | None) -> float:
    """The bounded rank change earned by people's answers about a lesson."""
    if tally is None:
        return 0.0
    answered = tally.helpful + tally.not_relevant
    return FEEDBACK_WEIGHT * (tally.helpful - tally.not_relevant) / (answered + 2)


def context_boost(
    lesson_project: str | None,
    lesson_tags: Iterable[str],
    issue_project: str | None,
    issue_terms: Iterable[str],
) -> float:
    """The rank boost for a lesson that shares the issue's project, components or labels."""
    boost = 0.0
    if lesson_project and issue_project and lesson_project.lower() == issue_project.lower():
        boost += SAME_PROJECT_BOOST
    wanted = {term.lower() for term in issue_terms}
    shared = sum(1 for tag in lesson_tags if tag.lower() in wanted)
    return boost + min(MAX_TAG_BOOST, TAG_BOOST * shared)


@dataclass(frozen=True)
class Suggestion:
    """A lesson chosen for an issue or a project, with why it ranks where it does."""

    hit: SearchHit
    similarity: float
    context_boost: float
    feedback_boost: float

    @property
    def score(self) -> float:
        return self.similarity + self.context_boost + self.feedback_boost


def threshold_for(configured: float | None, index: LessonIndex) -> float:
    """The policy's threshold, else the one calibrated for the knowledge base's model.

    The similarity is the multilingual model's, so one bar holds for English, Chinese and
    mixed text alike: below it, no comment, whatever the language.
    """
    return index.related_similarity if configured is None else configured


def rank_lessons(
    index: LessonIndex,
    journal: LessonsJournal,
    query: str,
    *,
    threshold: float | None,
    limit: int,
    candidates: int,
    keep: Callable[[SearchHit], bool] = lambda hit: True,
    context: Callable[[SearchHit], float] = lambda hit: 0.0,
) -> list[Suggestion]:
    """The one suggestion pipeline (issue comments and project seeds): search, threshold, boost.

    The `candidates` best hits of `query` whose similarity clears `threshold` (the model's
    calibrated bar when None) and that `keep` accepts, ranked by similarity plus the `context`
    and feedback boosts, best first (ties by lesson id), at most `limit` of them.
    """
    if not query:
        return []
    bar = threshold_for(threshold, index)
    relevant = [
        hit
        for hit in index.search(query, limit=candidates)
        if hit.similarity is not None and hit.similarity >= bar and keep(hit)
    ]
    tallies = journal.tallies(hit.id for hit in relevant)
    ranked = [
        Suggestion(
            hit=hit,
            similarity=float(hit.similarity or 0.0),
            context_boost=context(hit),
            feedback_boost=feedback_boost(tallies.get(hit.id)),
        )
        for hit in relevant
    ]
    ranked.sort(key=lambda s: (-s.score, s.hit.id))
    return ranked[:limit]
