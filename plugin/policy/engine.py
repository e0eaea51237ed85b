"""The policy engine: judge an issue's current state against every rule, and act on violations.

It sees Jira only through `JiraPort`. It re-reads the issue, so duplicate, late and out-of-order
events are harmless: a move the issue has since left is stale and judged by later events, and
every action looks at the current state before writing. Each rule yields a `PolicyDecision`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.port import ChangeItem, Issue, JiraPort, Transition
from plugin.policy.actions import (
    ActionRunner,
    drop_label,
    ensure_label,
    ensure_subtask,
    find_marked_comment,
    find_subtask,
    flag_blocker,
    marker,
    revert_fields,
    set_flag,
    upsert_comment,
    way_back,
)
from plugin.policy.decision import Clock, DecisionStatus, PolicyDecision, Trigger
from plugin.policy.fields import FieldResolver, UnknownField, matches_any
from plugin.policy.model import (
    ChangeControlRule,
    EmergencySpec,
    Policy,
    Requirements,
    RiskReviewRule,
)
from plugin.policy.predicates import find_exemption, guarded_move, out_of_scope, risky_because
from plugin.policy.reasons import (
    CouldNotEvaluate,
    EmergencyAllowed,
    EmergencyChange,
    EmergencyNotGuarded,
    EvaluationError,
    ExemptionApplied,
    NotGuarded,
    NotRisky,
    Reason,
    RequirementsMet,
    RequirementsUnmet,
    RevertImpossible,
    ReviewNotDone,
    ReviewState,
    Risky,
    RiskyAwaitingReview,
    StaleEvent,
    SubtaskNotAssessed,
    Unmet,
    Waived,
)
from plugin.policy.render import (
    EMERGENCY_REVIEW_WHY,
    requirements_met_comment,
    risk_signals,
    text,
    violation_comment,
)
from plugin.policy.requirements import missing_items

AnyRule = ChangeControlRule | RiskReviewRule


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class _Evaluation:
    """State shared by the rules of one evaluation: the issue as judged, and what was done."""

    issue: Issue  # the state the trigger is judged on
    fresh: Issue  # re-read after a rule wrote, so later rules look before they write
    reverted_by: str | None = None
    labelled: set[str] = field(default_factory=set)  # labels added (or planned) so far


class PolicyEngine:
    """Evaluates a policy for one issue at a time; `report_only` forces every rule to plan only."""

    def __init__(
        self,
        policy: Policy,
        jira: JiraPort,
        *,
        clock: Clock | None = None,
        report_only: bool = False,
        offline: bool = False,
    ) -> None:
        self.policy = policy
        self.jira = jira
        self.clock = clock or SystemClock()
        # offline: no Jira, only the delivery's snapshot; implies report-only
        self.offline = offline
        self.report_only = report_only or offline
        self.fields = FieldResolver(jira, policy.fields, offline=offline)

    def evaluate(self, issue_key: str, trigger: Trigger) -> list[PolicyDecision]:
        """Re-read `issue_key` and judge it; act on violations in enforce mode."""
        return self.evaluate_issue(self.jira.get_issue(issue_key), trigger)

    def evaluate_issue(
        self, issue: Issue, trigger: Trigger, *, act: bool = True
    ) -> list[PolicyDecision]:
        """Judge a given issue state. With `act=False` nothing is planned either (backtests)."""
        evaluation = _Evaluation(issue=issue, fresh=issue)
        decisions: list[PolicyDecision] = []
        for rule in self.policy.rules:
            mode = "report-only" if self.report_only else self.policy.mode_of(rule)
            runner = ActionRunner(
                self.jira, enforce=act and mode == "enforce", offline=self.offline
            )
            try:
                decision = self._judge(rule, evaluation, trigger, runner, mode, act)
            except JiraApiError as exc:
                if exc.retryable:
                    raise
                decision = self._error(rule, issue, mode, str(exc), runner)
            except (UnknownField, JiraNotConfigured) as exc:
                decision = self._error(rule, issue, mode, str(exc), runner)
            decisions.append(decision)
            if runner.enforce and any(r.result == "done" for r in runner.records):
                evaluation.fresh = self.jira.get_issue(issue.key)
        return decisions

    # -- per rule -------------------------------------------------------------------------

    def _judge(
        self,
        rule: AnyRule,
        ev: _Evaluation,
        trigger: Trigger,
        runner: ActionRunner,
        mode: str,
        act: bool,
    ) -> PolicyDecision:
        issue = ev.issue
        outside = out_of_scope(rule.scope, issue, self.fields)
        if outside:
            return self._decide(rule, issue, mode, "skipped", outside)
        if isinstance(rule, RiskReviewRule):
            return self._risk_review(rule, ev, trigger, runner, mode, act)
        return self._change_control(rule, ev, trigger, runner, mode, act)

    def _change_control(
        self,
        rule: ChangeControlRule,
        ev: _Evaluation,
        trigger: Trigger,
        runner: ActionRunner,
        mode: str,
        act: bool,
    ) -> PolicyDecision:
        issue, change = ev.issue, trigger.status_change
        change_type, requirements, emergency = self._change_type(rule, issue)
        guarded = guarded_move(rule.guard, change, issue) and not _stale(change, issue)
        if emergency is not None:
            if guarded or find_subtask(issue, emergency.review.summary) is not None:
                return self._emergency(rule, emergency, ev, runner, mode, act, guarded)
            return self._decide(
                rule,
                issue,
                mode,
                "skipped",
                EmergencyNotGuarded(),
                change_type=change_type,
            )
        if change is not None and _stale(change, issue):
            stale = StaleEvent(change.to_string, issue.status.name)
            return self._decide(rule, issue, mode, "skipped", stale, change_type=change_type)
        if not guarded:
            return self._decide(rule, issue, mode, "skipped", NotGuarded(), change_type=change_type)
        missing = missing_items(requirements, issue, self.fields, self.jira)
        return self._verdict(rule, ev, change, missing, [], runner, mode, act, change_type)

    def _change_type(
        self, rule: ChangeControlRule, issue: Issue
    ) -> tuple[str | None, Requirements, EmergencySpec | None]:
        types = rule.change_types
        if types is None:
            assert rule.requires is not None  # the model guarantees one of the two
            return None, rule.requires, None
        value = self.fields.value(issue, types.field)
        chosen = types.default
        for name in types.declared:
            spec = getattr(types, name)
            if matches_any(value, spec.values):
                chosen = name
                break
        spec = getattr(types, chosen)
        if chosen == "emergency":
            return chosen, Requirements(), spec
        return chosen, spec.requires, None

    def _emergency(
        self,
        rule: ChangeControlRule,
        spec: EmergencySpec,
        ev: _Evaluation,
        runner: ActionRunner,
        mode: str,
        act: bool,
        guarded: bool,
    ) -> PolicyDecision:
        """Let an emergency change through; open its review and flag it until that is done."""
        task, issue = spec.review, ev.fresh
        review = find_subtask(issue, task.summary)
        reasons: list[Reason] = [EmergencyChange()]
        if review is None:
            state = "opened" if act else "needed"
            reasons.append(ReviewState("post-implementation", task.summary, state))
            if act:
                ensure_subtask(
                    runner,
                    issue,
                    task,
                    rule_name=rule.name,
                    clock=self.clock,
                    fields=self.fields,
                    why=EMERGENCY_REVIEW_WHY,
                )
            still_open = True
        else:
            still_open = review.status is None or review.status.category != "done"
            now = "open" if still_open else "done"
            reasons.append(ReviewState("post-implementation", task.summary, now, review.key))
        if act:
            label = task.label
            if still_open:
                if label:
                    ensure_label(runner, issue, label)
                if task.flag:
                    set_flag(runner, issue, self.fields, self.policy.defaults, on=True)
            else:
                if label:
                    drop_label(runner, issue, label)
                if task.flag:
                    set_flag(runner, issue, self.fields, self.policy.defaults, on=False)
        return self._decide(
            rule,
            ev.issue,
            mode,
            "pass",
            EmergencyAllowed(review_open=still_open),
            reasons,
            runner,
            change_type="emergency",
            guarded=guarded,
        )

    def _risk_review(
        self,
        rule: RiskReviewRule,
        ev: _Evaluation,
        trigger: Trigger,
        runner: ActionRunner,
        mode: str,
        act: bool,
    ) -> PolicyDecision:
        issue, change = ev.issue, trigger.status_change
        if issue.issuetype.subtask:
            return self._decide(rule, issue, mode, "skipped", SubtaskNotAssessed())
        risky = risky_because(rule.risky, issue, self.fields)
        if not risky:
            return self._decide(rule, issue, mode, "skipped", NotRisky())
        reasons: list[Reason] = [Risky(tuple(risky))]
        review = find_subtask(ev.fresh, rule.review.summary)
        if review is None:
            state = "opened" if act else "needed"
            reasons.append(ReviewState("risk", rule.review.summary, state))
            if act:
                ensure_subtask(
                    runner,
                    ev.fresh,
                    rule.review,
                    rule_name=rule.name,
                    clock=self.clock,
                    fields=self.fields,
                    why=risk_signals(risky),
                )
        guarded = guarded_move(rule.guard, change, issue) and not _stale(change, issue)
        if not guarded:
            waiting = RiskyAwaitingReview(None if review is None else review.key)
            return self._decide(rule, issue, mode, "pass", waiting, reasons, runner)
        missing = missing_items(rule.requires, issue, self.fields, self.jira)
        if review is None or review.status is None or review.status.category != "done":
            missing.insert(0, ReviewNotDone(rule.review.summary, review.key if review else None))
        return self._verdict(rule, ev, change, missing, reasons, runner, mode, act, None)

    # -- verdicts and enforcement ---------------------------------------------------------

    def _verdict(
        self,
        rule: AnyRule,
        ev: _Evaluation,
        change: ChangeItem | None,
        missing: list[Unmet],
        reasons: list[Reason],
        runner: ActionRunner,
        mode: str,
        act: bool,
        change_type: str | None,
    ) -> PolicyDecision:
        """Pass (tidying an earlier complaint away), exempt, or fail and enforce."""
        issue = ev.issue
        assert change is not None  # only guarded moves reach a verdict
        target = change.to_string or issue.status.name
        if not missing:
            if act:
                self._tidy_after_pass(rule, ev.fresh, runner, target)
            return self._decide(
                rule,
                issue,
                mode,
                "pass",
                RequirementsMet(target),
                reasons,
                runner,
                change_type=change_type,
                guarded=True,
            )
        exemption, notes = find_exemption(rule.exemptions, issue, self.jira)
        reasons = reasons + notes
        if exemption is not None:
            return self._decide(
                rule,
                issue,
                mode,
                "skipped",
                exemption,
                reasons + [Waived(m) for m in missing],
                runner,
                exemption=exemption,
                change_type=change_type,
                guarded=True,
            )
        if act:
            self._enforce(rule, ev, change, missing, runner)
        return self._decide(
            rule,
            issue,
            mode,
            "fail",
            RequirementsUnmet(target, len(missing)),
            reasons + missing,
            runner,
            change_type=change_type,
            guarded=True,
        )

    def _enforce(
        self,
        rule: AnyRule,
        ev: _Evaluation,
        change: ChangeItem,
        missing: list[Unmet],
        runner: ActionRunner,
    ) -> None:
        """Comment, label, then move the issue back (or flag it when there is no way back)."""
        issue = ev.fresh
        back: Transition | None = None
        impossible: RevertImpossible | None = None
        moving = f"move {issue.key} back to {change.from_string}"
        if ev.reverted_by:
            runner.note("revert", f"already moved back by rule {ev.reverted_by}", "unchanged")
        elif not rule.guard.revert:
            impossible = RevertImpossible("guard")
            runner.note("revert", moving, "not attempted: the rule's guard says revert: false")
        else:
            if self.offline:
                # no Jira: the workflow's way back cannot be looked up; plan the move by name
                runner.note(
                    "revert",
                    moving,
                    "planned (the way back is looked up in Jira when it is configured)",
                )
                ev.reverted_by = rule.name
            else:
                back = way_back(self.jira.get_transitions(issue.key), change)
            if back is None and ev.reverted_by is None:
                impossible = RevertImpossible("no-way-back", change.from_string, change.to_string)
                runner.note("revert", moving, f"not possible: {text(impossible)}")
        label = self.policy.label_of(rule)
        defaults = self.policy.defaults
        unflaggable = flag_blocker(runner, issue, self.fields, defaults) if impossible else None
        mark = marker(rule.name)
        body = _violation_text(rule, label, change, missing, impossible, unflaggable)
        upsert_comment(runner, issue, mark, body)
        if label not in ev.labelled:  # report-only does not re-read: do not plan it twice
            ensure_label(runner, issue, label)
            ev.labelled.add(label)
        if impossible:
            set_flag(runner, issue, self.fields, defaults, on=True)
            return
        if back is None:
            return
        moved = runner.write(
            "revert",
            f"{moving} via '{back.name}'",
            lambda: self.jira.transition_issue(issue.key, back.id, revert_fields(back)),
            {"transition": back.id, "to": back.to.id},
        )
        if moved:
            ev.reverted_by = rule.name
            return
        # Jira refused the way back (a validator, a permission): say so and flag instead.
        failure = runner.records[-1].result.removeprefix("failed: ")
        unflaggable = flag_blocker(runner, issue, self.fields, defaults)
        set_flag(runner, issue, self.fields, defaults, on=True)
        refreshed = self.jira.get_issue(issue.key)
        upsert_comment(
            runner,
            refreshed,
            mark,
            _violation_text(
                rule,
                label,
                change,
                missing,
                RevertImpossible("refused", failure=failure),
                unflaggable,
            ),
        )

    def _tidy_after_pass(
        self, rule: AnyRule, issue: Issue, runner: ActionRunner, target: str
    ) -> None:
        """After an earlier violation: update our comment, drop our label and flag."""
        mark = marker(rule.name)
        existing = find_marked_comment(issue, mark)
        if existing is None:
            return
        upsert_comment(
            runner,
            issue,
            mark,
            requirements_met_comment(rule.name, target),
        )
        drop_label(runner, issue, self.policy.label_of(rule))
        if marker(rule.name, "flagged") in existing.markers:
            set_flag(runner, issue, self.fields, self.policy.defaults, on=False)

    # -- helpers --------------------------------------------------------------------------

    def _decide(
        self,
        rule: AnyRule,
        issue: Issue,
        mode: str,
        status: DecisionStatus,
        headline: Reason,
        reasons: list[Reason] | None = None,
        runner: ActionRunner | None = None,
        *,
        exemption: ExemptionApplied | None = None,
        change_type: str | None = None,
        guarded: bool = False,
    ) -> PolicyDecision:
        return PolicyDecision(
            rule=rule.name,
            kind=rule.kind,
            issue_key=issue.key,
            mode=mode,
            status=status,
            headline=headline,
            reasons=tuple(reasons or ()),
            actions=tuple(runner.records) if runner else (),
            exemption=exemption,
            change_type=change_type,
            guarded=guarded,
        )

    def _error(
        self, rule: AnyRule, issue: Issue, mode: str, message: str, runner: ActionRunner
    ) -> PolicyDecision:
        error = [EvaluationError(message)]
        return self._decide(rule, issue, mode, "error", CouldNotEvaluate(), error, runner)


def _stale(change: ChangeItem | None, issue: Issue) -> bool:
    """The event moved the issue somewhere it no longer is: judge the current state instead."""
    return change is not None and change.is_status and change.to_value != issue.status.id


def _violation_text(
    rule: AnyRule,
    label: str,
    change: ChangeItem,
    missing: list[Unmet],
    impossible: RevertImpossible | None,
    unflaggable: str | None = None,
) -> str:
    """The comment body: what is missing, how to fix it, what Hindsight did."""
    return violation_comment(
        rule_name=rule.name,
        description=rule.description,
        label=label,
        moved_to=change.to_string,
        moved_from=change.from_string,
        missing=missing,
        impossible=impossible,
        unflaggable=unflaggable,
        flagged_marker=marker(rule.name, "flagged"),
    )
