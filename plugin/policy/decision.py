"""Results are data: what triggered an evaluation, and what each rule decided and did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from plugin.jira.port import ChangeItem, User
from plugin.policy.reasons import ExemptionApplied, Reason, Unmet, Waived
from plugin.policy.render import exemption_why, text

DecisionStatus = Literal["pass", "fail", "skipped", "error"]


@dataclass(frozen=True)
class Trigger:
    """Why an issue is being evaluated: a delivery, a sweep, a check or a backtest."""

    source: str  # webhook event name, or "sweep", "check", "explain", "backtest"
    delivery_key: str = ""
    actor: User | None = None
    status_change: ChangeItem | None = None  # the status move to judge, if any


@dataclass(frozen=True)
class ActionRecord:
    """One write Hindsight made (or would make): what, and how it went."""

    kind: str  # revert, comment, label, unlabel, flag, unflag, create-subtask
    detail: str
    result: str  # done, planned, unchanged, failed: <why>, not possible: <why>
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result in ("done", "planned", "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "result": self.result, **self.data}


@dataclass(frozen=True)
class PolicyDecision:
    """One rule's verdict on one issue: its headline and reasons as data, and its actions."""

    rule: str
    kind: str
    issue_key: str
    mode: str
    status: DecisionStatus
    headline: Reason  # what the decision amounts to; worded as its `summary`
    reasons: tuple[Reason, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    exemption: ExemptionApplied | None = None
    change_type: str | None = None
    guarded: bool = False  # the trigger moved the issue into a status this rule guards

    @property
    def summary(self) -> str:
        """The headline in words (`plugin.policy.render`)."""
        return text(self.headline)

    @property
    def reason_texts(self) -> tuple[str, ...]:
        """The reasons in words, one line each."""
        return tuple(text(r) for r in self.reasons)

    @property
    def unmet(self) -> tuple[Unmet, ...]:
        """The requirements found missing (waived ones included)."""
        return tuple(
            r.requirement if isinstance(r, Waived) else r
            for r in self.reasons
            if isinstance(r, Unmet | Waived)
        )

    @property
    def noteworthy(self) -> bool:
        """Worth an audit entry: anything but a rule that had nothing to say."""
        if self.status in ("fail", "error") or self.actions or self.exemption:
            return True
        return self.guarded and self.status == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "issue": self.issue_key,
            "mode": self.mode,
            "status": self.status,
            "summary": self.summary,
            "change_type": self.change_type,
            "guarded": self.guarded,
            "reasons": list(self.reason_texts),
            "actions": [a.to_dict() for a in self.actions],
            "exemption": exemption_dict(self.exemption) if self.exemption else None,
        }


def exemption_dict(exemption: ExemptionApplied) -> dict[str, str]:
    """An applied exemption as the JSON output and the audit log keep it: label, by, why."""
    return {"label": exemption.label, "by": exemption.by, "why": exemption_why(exemption)}
