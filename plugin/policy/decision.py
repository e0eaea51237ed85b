"""Results are data: what triggered an evaluation, and what each rule decided and did."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from plugin.jira.port import ChangeItem, User

DecisionStatus = Literal["pass", "fail", "skipped", "error"]


class Clock(Protocol):
    """The time source (tests pass a fixed one)."""

    def now(self) -> datetime: ...


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
class ExemptionApplied:
    label: str
    by: str  # who set the label
    why: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "by": self.by, "why": self.why}


@dataclass(frozen=True)
class PolicyDecision:
    """One rule's verdict on one issue, with its reasons and actions."""

    rule: str
    kind: str
    issue_key: str
    mode: str
    status: DecisionStatus
    summary: str
    reasons: tuple[str, ...] = ()
    actions: tuple[ActionRecord, ...] = ()
    exemption: ExemptionApplied | None = None
    change_type: str | None = None
    guarded: bool = False  # the trigger moved the issue into a status this rule guards

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
            "reasons": list(self.reasons),
            "actions": [a.to_dict() for a in self.actions],
            "exemption": self.exemption.to_dict() if self.exemption else None,
        }


def render_decisions(
    decisions: list[PolicyDecision], escape: Callable[[str], str] = lambda line: line
) -> str:
    """Human-readable lines for a terminal: one block per rule. Each line passes `escape` (the
    CLI's terminal escaping), so a value quoted from Jira cannot start a line of its own."""
    lines: list[str] = []
    for d in decisions:
        extra = f" [{d.change_type} change]" if d.change_type else ""
        lines.append(f"{d.issue_key} {d.rule} ({d.mode}){extra}: {d.status.upper()} - {d.summary}")
        lines.extend(f"    - {reason}" for reason in d.reasons)
        if d.exemption:
            lines.append(f"    exempt: {d.exemption.why}")
        lines.extend(f"    > {a.kind}: {a.detail} [{a.result}]" for a in d.actions)
    return "\n".join(escape(line) for line in lines)
