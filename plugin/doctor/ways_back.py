"""Whether each guarded move has a way back: read from the transitions of sample issues in
each status (Jira shows workflows only to administrators), unless the rule's guard says
`revert: false`."""

from __future__ import annotations

from plugin.doctor.model import Check, CheckStatus, DoctorJira
from plugin.jira.errors import JiraApiError
from plugin.jira.port import Status, Transition
from plugin.policy.model import AnyRule, RiskReviewRule
from plugin.policy.sweep import jql_quote


def way_back_checks(
    jira: DoctorJira, rule: AnyRule, project: str, missing: set[tuple[str | None, str]]
) -> list[Check]:
    """The checks of `rule`'s guarded moves in `project`; `missing` holds the (project,
    permission) pairs the permission checks found missing."""
    name = f"way back ({rule.name})"
    checks: list[Check] = []

    def add(status: CheckStatus, detail: str, fix: str = "") -> None:
        checks.append(Check(name, status, detail, fix, project))

    if not rule.guard.revert:
        add(
            "pass",
            "the rule's guard says revert: false: violations are flagged, not moved back",
        )
        return checks
    if (project, "TRANSITION_ISSUES") in missing:
        add(
            "skip",
            "not checked: without Transition Issues Jira lists no transitions to the "
            "account, so no way back can be read (see the permission above)",
        )
        return checks
    try:
        by_type = jira.project_statuses(project)
    except JiraApiError as exc:
        if exc.status in (403, 404):
            return checks  # reported by the permission checks (project missing or not browsable)
        raise
    wanted = {t.casefold() for t in rule.scope.issue_types}
    skipped: set[str] = set()
    if isinstance(rule, RiskReviewRule):  # sub-tasks are not risk-assessed
        skipped = {t.name for t in jira.get_project(project).issue_types if t.subtask}
    finder = _TransitionFinder(jira, project)
    checked = 0
    for issuetype, statuses in by_type.items():
        if (wanted and issuetype.casefold() not in wanted) or issuetype in skipped:
            continue
        guarded = [s for s in statuses if _guarded(rule, s)]
        others = [s for s in statuses if s not in guarded]
        for source in others:
            into = [t for t in finder.transitions(issuetype, source) if t.to in guarded]
            for move in into:
                checked += 1
                back = finder.transitions(issuetype, move.to)
                moves = f"{issuetype}: {source.name} -> {move.to.name} ('{move.name}')"
                if finder.unknown(issuetype, move.to):
                    add(
                        "warn",
                        f"{moves}: no {issuetype} issue in {move.to.name} to read the way "
                        "back from (Jira shows workflows only to administrators)",
                        "check the workflow by hand, or run doctor again once an issue is there",
                    )
                elif any(t.to.id == source.id for t in back):
                    add("pass", f"{moves} can be moved back")
                else:
                    add(
                        "fail",
                        f"{moves}: no transition from {move.to.name} back to "
                        f"{source.name} for Hindsight's account, so a violation there "
                        "can only be flagged",
                        f"add a transition {move.to.name} -> {source.name} to the {issuetype}"
                        f" workflow in {project} (a condition may restrict it to the service "
                        f"account), or set 'revert: false' in the guard of rule {rule.name}",
                    )
        unread = [s.name for s in others if finder.unknown(issuetype, s)]
        if unread:
            add(
                "warn",
                f"{issuetype}: no issue in {', '.join(unread)} to read transitions from, "
                "so moves out of those statuses were not checked",
                "check the workflow by hand, or run doctor again once issues are there",
            )
    if not checked and not checks:
        add("pass", "no transition into a guarded status was found")
    return checks


class _TransitionFinder:
    """The transitions out of each status, read from one sample issue in it (cached)."""

    def __init__(self, jira: DoctorJira, project: str) -> None:
        self.jira = jira
        self.project = project
        self._seen: dict[tuple[str, str], list[Transition] | None] = {}

    def transitions(self, issuetype: str, status: Status) -> list[Transition]:
        return self._read(issuetype, status) or []

    def unknown(self, issuetype: str, status: Status) -> bool:
        return self._read(issuetype, status) is None

    def _read(self, issuetype: str, status: Status) -> list[Transition] | None:
        cache_key = (issuetype, status.id)
        if cache_key not in self._seen:
            jql = (
                f"project = {jql_quote(self.project)} AND issuetype = {jql_quote(issuetype)} "
                f"AND status = {status.id}"
            )
            sample = next(iter(self.jira.search(jql, page_size=1)), None)
            self._seen[cache_key] = (
                None if sample is None else self.jira.get_transitions(sample.key)
            )
        return self._seen[cache_key]


def _guarded(rule: AnyRule, status: Status) -> bool:
    names = {s.casefold() for s in rule.guard.statuses}
    return (
        status.name.casefold() in names
        or status.id in rule.guard.statuses
        or status.category in rule.guard.categories
    )
