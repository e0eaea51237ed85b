"""Why a rule decided what it did, as data: findings with a stable `code`, worded only by `render`.

Every finding is a frozen dataclass. `Unmet` ones are requirements the issue does not meet: each
names the field or requirement, what was expected and what was found, so a test or a machine reader
compares values, and `plugin.policy.render` alone turns them into the words people read (comments,
the CLI, the audit log, the demo). A decision has one headline (its summary) and its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any, ClassVar, Literal


@dataclass(frozen=True)
class Reason:
    """One finding of the engine; `code` says which kind, the fields say the specifics."""

    code: ClassVar[str] = "reason"

    def to_dict(self) -> dict[str, Any]:
        """The finding as plain JSON-able data, with its code."""
        return {"code": self.code, **{f.name: _plain(getattr(self, f.name)) for f in fields(self)}}


def _plain(value: object) -> object:
    if isinstance(value, Reason):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- requirements the issue does not meet --------------------------------------------------------


@dataclass(frozen=True)
class Unmet(Reason):
    """A requirement that does not hold (each kind below says which, and what would fix it)."""

    code: ClassVar[str] = "unmet"


@dataclass(frozen=True)
class FieldEmpty(Unmet):
    code: ClassVar[str] = "field-empty"
    field: str  # as Jira names it


@dataclass(frozen=True)
class FieldValueNotAllowed(Unmet):
    code: ClassVar[str] = "field-value"
    field: str
    expected: tuple[str, ...]  # any one of these
    actual: tuple[str, ...]  # what the field holds (empty: nothing)


@dataclass(frozen=True)
class ApprovalMissing(Unmet):
    """The approval field does not hold the approving value."""

    code: ClassVar[str] = "approval-missing"
    field: str
    value: str
    group: str


@dataclass(frozen=True)
class ApprovalUncheckable(Unmet):
    """Offline: group membership cannot be read, so the approval cannot count."""

    code: ClassVar[str] = "approval-uncheckable"
    field: str
    value: str
    group: str


@dataclass(frozen=True)
class ApprovalByNonMember(Unmet):
    code: ClassVar[str] = "approval-by-non-member"
    field: str
    value: str
    group: str
    by: str  # who set the value, as the changelog shows


@dataclass(frozen=True)
class ApprovalAuthorUnknown(Unmet):
    """The changelog does not show who set the approving value."""

    code: ClassVar[str] = "approval-author-unknown"
    field: str
    value: str
    group: str


@dataclass(frozen=True)
class RelatedMissing(Unmet):
    """Too few linked issues or sub-tasks of the required kind."""

    code: ClassVar[str] = "related-missing"
    relation: Literal["link", "subtask"]
    at_least: int
    found: int
    done: bool
    issue_type: str | None = None
    link: str | None = None  # link type name or direction text
    summary: str | None = None  # text a sub-task's summary contains


@dataclass(frozen=True)
class ReviewNotDone(Unmet):
    """The risk review sub-task is not done (`key` None: it does not exist yet)."""

    code: ClassVar[str] = "review-not-done"
    summary: str
    key: str | None = None


# -- other reasons on a decision -----------------------------------------------------------------


@dataclass(frozen=True)
class Waived(Reason):
    """A requirement not met, waived by an exemption."""

    code: ClassVar[str] = "waived"
    requirement: Unmet


@dataclass(frozen=True)
class ExemptionIgnored(Reason):
    """An exemption label is present but not honoured: its author is unknown or not in the group."""

    code: ClassVar[str] = "exemption-ignored"
    label: str
    group: str
    by: str | None  # None: the changelog does not say who added it


@dataclass(frozen=True)
class EmergencyChange(Reason):
    """An emergency change goes through without the normal requirements."""

    code: ClassVar[str] = "emergency-change"


@dataclass(frozen=True)
class ReviewState(Reason):
    """Where a review sub-task stands: opened or needed (no key yet), open or done."""

    code: ClassVar[str] = "review-state"
    review: Literal["post-implementation", "risk"]
    summary: str
    state: Literal["opened", "needed", "open", "done"]
    key: str | None = None


@dataclass(frozen=True)
class RiskSignal(Reason):
    """One reason an issue counts as risky."""

    code: ClassVar[str] = "risk-signal"


@dataclass(frozen=True)
class PriorityAtLeast(RiskSignal):
    code: ClassVar[str] = "priority-at-least"
    priority: str
    threshold: str


@dataclass(frozen=True)
class RiskyLabel(RiskSignal):
    code: ClassVar[str] = "risky-label"
    label: str


@dataclass(frozen=True)
class ScoreAtLeast(RiskSignal):
    code: ClassVar[str] = "score-at-least"
    field: str
    score: float
    at_least: float


@dataclass(frozen=True)
class LikelihoodTimesImpact(RiskSignal):
    code: ClassVar[str] = "likelihood-impact"
    likelihood_field: str
    impact_field: str
    likelihood: float
    impact: float
    at_least: float


@dataclass(frozen=True)
class Risky(Reason):
    code: ClassVar[str] = "risky"
    signals: tuple[RiskSignal, ...]


@dataclass(frozen=True)
class EvaluationError(Reason):
    """Why a rule could not be evaluated (an unknown field, Jira refusing a read)."""

    code: ClassVar[str] = "evaluation-error"
    message: str


@dataclass(frozen=True)
class NextReview(Reason):
    code: ClassVar[str] = "next-review"
    due: date | None


# -- headlines: what a decision amounts to -------------------------------------------------------

ScopeFacet = Literal[
    "project",
    "issue type",
    "labels",
    "excluded label",
    "priority",
    "components",
    "status",
    "status category",
    "field",
]


@dataclass(frozen=True)
class OutOfScope(Reason):
    """The issue is outside the rule's scope: which facet, what it has, what the scope allows."""

    code: ClassVar[str] = "out-of-scope"
    facet: ScopeFacet
    actual: str | None
    allowed: tuple[str, ...] = ()
    field: str = ""  # for facet "field": the field's name in the policy


@dataclass(frozen=True)
class StaleEvent(Reason):
    """The event moved the issue somewhere it no longer is."""

    code: ClassVar[str] = "stale-event"
    moved_to: str | None
    now_in: str


@dataclass(frozen=True)
class NotGuarded(Reason):
    code: ClassVar[str] = "not-guarded"


@dataclass(frozen=True)
class EmergencyNotGuarded(Reason):
    code: ClassVar[str] = "emergency-not-guarded"


@dataclass(frozen=True)
class EmergencyAllowed(Reason):
    code: ClassVar[str] = "emergency-allowed"
    review_open: bool


@dataclass(frozen=True)
class SubtaskNotAssessed(Reason):
    code: ClassVar[str] = "subtask-not-assessed"


@dataclass(frozen=True)
class NotRisky(Reason):
    code: ClassVar[str] = "not-risky"


@dataclass(frozen=True)
class RiskyAwaitingReview(Reason):
    """Risky, not in a guarded move: the review was opened now (`key` None) or exists."""

    code: ClassVar[str] = "risky-awaiting-review"
    key: str | None = None


@dataclass(frozen=True)
class RequirementsMet(Reason):
    code: ClassVar[str] = "requirements-met"
    target: str


@dataclass(frozen=True)
class ExemptionApplied(Reason):
    """The exemption that waived a rule: its label, who set it, and on what authority."""

    code: ClassVar[str] = "exempt"
    label: str
    by: str  # who set the label
    reason: str | None = None  # the policy's stated reason
    group: str | None = None  # the group the label's author is a member of, when one is required


@dataclass(frozen=True)
class RequirementsUnmet(Reason):
    code: ClassVar[str] = "requirements-unmet"
    target: str
    count: int


@dataclass(frozen=True)
class CouldNotEvaluate(Reason):
    code: ClassVar[str] = "could-not-evaluate"


@dataclass(frozen=True)
class ReviewOverdue(Reason):
    code: ClassVar[str] = "review-overdue"
    since: date


@dataclass(frozen=True)
class ReviewDateNotPassed(Reason):
    code: ClassVar[str] = "review-date-not-passed"


# -- why Hindsight could not move an issue back --------------------------------------------------


@dataclass(frozen=True)
class RevertImpossible(Reason):
    """Why a violating move was not undone: the guard, the workflow, or Jira refused it."""

    code: ClassVar[str] = "revert-impossible"
    cause: Literal["guard", "no-way-back", "refused"]
    from_status: str | None = None
    to_status: str | None = None
    failure: str = ""  # Jira's answer, when it refused
