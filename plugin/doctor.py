"""`hindsight doctor`: check that the configured Jira lets Hindsight do what its policy asks.

Each check is data (`Check`: what was checked, pass/fail/warn/skip, what was found, how to fix
it); the CLI renders them. What is checked, against Atlassian's documented resources:

- credentials and deployment type (`GET /serverInfo`, then `GET /myself`);
- who the service account is, and that it is the one the loop guard expects;
- each permission the policy needs, by Jira's own key, in each project a rule scopes
  (`GET /mypermissions?projectKey=&permissions=`: Cloud requires `permissions`);
- every field the policy names exists (`GET /field`) and has a type its predicate can read;
- each guarded move has a transition back (read from the transitions of sample issues: Jira
  shows workflows only to administrators), unless the rule's guard says `revert: false`;
- group membership is readable (on Cloud the *Browse users and groups* global permission,
  then, on both flavours, the adapter's own per-flavour lookup on the service account);
- suggestions' public URL is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from plugin.jira.errors import JiraApiError
from plugin.jira.port import (
    FieldInfo,
    Identity,
    Issue,
    Project,
    ServerInfo,
    Status,
    Transition,
    User,
)
from plugin.policy.model import ChangeControlRule, Policy, ReviewTask, RiskReviewRule
from plugin.policy.sweep import jql_quote

CheckStatus = Literal["pass", "fail", "warn", "skip"]
AnyRule = ChangeControlRule | RiskReviewRule
# what a predicate reads a field as (see plugin.policy.fields)
Reading = Literal["text", "number", "date", "user", "flag"]

# permission key -> why Hindsight needs it (Jira's own names, as mypermissions reports them)
WHY = {
    "BROWSE_PROJECTS": "read issues, their changelogs and transitions",
    "TRANSITION_ISSUES": "move an issue back after a guarded move that broke the policy",
    "ADD_COMMENTS": "explain a violation, or suggest lessons, in a comment",
    "EDIT_OWN_COMMENTS": "update its one comment instead of adding another",
    "EDIT_ISSUES": "add and remove labels and set the flag",
    "CREATE_ISSUES": "create review sub-tasks",
    "SCHEDULE_ISSUES": "give review sub-tasks a due date",
    "ASSIGN_ISSUES": "assign review sub-tasks",
    "USER_PICKER": "read users' groups for group approvals and exemptions",
}
OPTIONAL = frozenset({"SCHEDULE_ISSUES", "ASSIGN_ISSUES"})  # without them sub-tasks still come
_CREDS = (
    "Cloud: set HINDSIGHT_JIRA_EMAIL to the service account's email and HINDSIGHT_JIRA_API_TOKEN "
    "(or HINDSIGHT_JIRA_TOKEN_FILE) to an API token of that account (id.atlassian.com > "
    "Security > API tokens). Data Center: set HINDSIGHT_JIRA_PAT (or HINDSIGHT_JIRA_TOKEN_FILE) "
    "to a personal access token of the service account (its profile > Personal Access Tokens)"
)


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what, the verdict, what was found, and how to fix it."""

    name: str
    status: CheckStatus
    detail: str
    fix: str = ""
    project: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "project": self.project,
        }


@dataclass(frozen=True)
class DoctorReport:
    jira_url: str
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def counts(self) -> dict[str, int]:
        found = {status: 0 for status in ("pass", "fail", "warn", "skip")}
        for check in self.checks:
            found[check.status] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "jira_url": self.jira_url,
            "ok": not self.failed,
            "counts": self.counts(),
            "checks": [c.to_dict() for c in self.checks],
        }


@runtime_checkable
class DoctorJira(Protocol):
    """What the doctor reads from Jira: the port's reads plus the site checks."""

    def server_info(self) -> ServerInfo: ...

    def myself(self) -> Identity: ...

    def my_permissions(
        self, keys: Iterable[str], project_key: str | None = None
    ) -> dict[str, bool]: ...

    def describe_field(self, name_or_id: str) -> FieldInfo: ...

    def get_project(self, key: str) -> Project: ...

    def project_statuses(self, key: str) -> dict[str, tuple[Status, ...]]: ...

    def search(self, jql: str, *, page_size: int = 50) -> Iterator[Issue]: ...

    def get_transitions(self, key: str) -> list[Transition]: ...

    def user_groups(self, user: User) -> frozenset[str]: ...


@dataclass
class Doctor:
    """Runs the checks in order; a failed connection stops the Jira checks that need it."""

    jira: DoctorJira
    policy: Policy | None
    jira_url: str = ""
    public_url: str | None = None
    service_account: str | None = None  # the `service_account` setting, when set
    credentials: Literal["api_token", "pat"] = "api_token"
    checks: list[Check] = field(default_factory=list, init=False)
    _missing: set[tuple[str | None, str]] = field(default_factory=set, init=False)

    def run(self) -> DoctorReport:
        identity = self._connection()
        if identity is not None:
            self._service_account(identity)
            if self.policy is None:
                self._add(
                    "policy",
                    "warn",
                    "no policy file: the permissions, fields and workflows it needs are not "
                    "checked",
                    "set HINDSIGHT_POLICY_FILE (or pass --policy FILE)",
                )
            else:
                self._permissions(self.policy)
                self._fields(self.policy)
                self._ways_back(self.policy)
                self._groups(self.policy, identity)
        self._public_url()
        return DoctorReport(self.jira_url, tuple(self.checks))

    # -- checks ---------------------------------------------------------------------------

    def _connection(self) -> Identity | None:
        try:
            info = self.jira.server_info()
            flavour = "Jira Cloud" if info.deployment == "cloud" else "Jira Data Center"
            identity = self.jira.myself()
        except JiraApiError as exc:
            if exc.status in (401, 403):  # a wrong token is refused even on /serverInfo
                self._add("credentials", "fail", f"Jira refused the credentials: {exc}", _CREDS)
            else:
                self._add(
                    "credentials",
                    "fail",
                    f"Jira does not answer as expected at {self.jira_url}: {exc}",
                    "check HINDSIGHT_JIRA_URL: the site's base URL, e.g. "
                    "https://example.atlassian.net or https://jira.example.com",
                )
            return None
        version = f" {info.version}" if info.version else ""
        if info.deployment == "cloud" and self.credentials == "pat":
            self._add(
                "credentials",
                "fail",
                f"{flavour}{version} answers, but Cloud does not take personal access tokens",
                "unset HINDSIGHT_JIRA_PAT; set HINDSIGHT_JIRA_EMAIL and HINDSIGHT_JIRA_API_TOKEN",
            )
            return None
        self._add("credentials", "pass", f"{flavour}{version} accepts the credentials")
        return identity

    def _service_account(self, identity: Identity) -> None:
        user = identity.user
        shown = user.display_name or user.ref
        ids = ", ".join(
            f"{label} {value}"
            for label, value in (("accountId", user.account_id), ("name", user.name))
            if value
        )
        configured = self.service_account
        if configured and configured not in (user.account_id, user.name, user.key):
            self._add(
                "service account",
                "fail",
                f"the credentials belong to {shown} ({ids}), but HINDSIGHT_SERVICE_ACCOUNT is "
                f"{configured!r}: Hindsight would not recognise its own writes and could loop",
                f"set HINDSIGHT_SERVICE_ACCOUNT to {user.ref!r}, or unset it (Hindsight then "
                "asks Jira who it is)",
            )
            return
        self._add(
            "service account",
            "pass",
            f"Hindsight acts as {shown} ({ids}); events by this account are ignored",
        )

    def _permissions(self, policy: Policy) -> None:
        for project, keys in needed_permissions(policy).items():
            where = f"project {project}" if project else "any project"
            try:
                held = self.jira.my_permissions(sorted(keys), project)
            except JiraApiError as exc:
                if exc.status == 404 and project:
                    self._add(
                        "permission BROWSE_PROJECTS",
                        "fail",
                        f"project {project} does not exist or the service account cannot "
                        f"browse it ({exc})",
                        f"check the project key in the policy, and grant Browse Projects in "
                        f"{project}'s permission scheme to the service account (or a group or "
                        "role it is in)",
                        project,
                    )
                    continue
                raise
            for key in sorted(keys, key=_permission_order):
                if held.get(key):
                    self._add(f"permission {key}", "pass", f"held in {where}", project=project)
                    continue
                self._missing.add((project, key))
                fix = (
                    f"grant {key} in {project}'s permission scheme to the service account "
                    "(or a group or project role it is in)"
                    if project
                    else f"grant {key} to the service account in the projects it watches"
                )
                self._add(
                    f"permission {key}",
                    "warn" if key in OPTIONAL else "fail",
                    f"missing in {where}: Hindsight cannot {WHY.get(key, 'work')}",
                    fix,
                    project,
                )

    def _fields(self, policy: Policy) -> None:
        for name, reading in policy_fields(policy).items():
            alias = _alias(policy, name)
            try:
                info = self.jira.describe_field(alias or name)
            except KeyError as exc:
                self._add(
                    f"field {name}",
                    "fail",
                    str(exc).strip('"'),
                    "create the field in Jira, correct its name in the policy, or name it by "
                    "its id (customfield_NNNNN) under 'fields:'",
                )
                continue
            problem = unreadable(info, reading)
            shown = f"{info.name} ({info.id}, {_type_text(info)})"
            if problem:
                self._add(
                    f"field {name}",
                    "fail",
                    f"{shown}: {problem}",
                    f"use a field of a type the policy can read as {reading}: {READABLE[reading]}",
                )
            else:
                self._add(f"field {name}", "pass", f"{shown}, read as {reading}")

    def _ways_back(self, policy: Policy) -> None:
        for rule in policy.rules:
            if not rule.scope.projects:
                self._add(
                    f"way back ({rule.name})",
                    "warn",
                    "the rule's scope names no project, so its workflows were not checked",
                    "name the projects under scope.projects to have them checked",
                )
                continue
            for project in rule.scope.projects:
                self._way_back_in(rule, project)

    def _way_back_in(self, rule: AnyRule, project: str) -> None:
        name = f"way back ({rule.name})"
        if not rule.guard.revert:
            self._add(
                name,
                "pass",
                "the rule's guard says revert: false: violations are flagged, not moved back",
                project=project,
            )
            return
        if (project, "TRANSITION_ISSUES") in self._missing:
            self._add(
                name,
                "skip",
                "not checked: without Transition Issues Jira lists no transitions to the "
                "account, so no way back can be read (see the permission above)",
                project=project,
            )
            return
        try:
            by_type = self.jira.project_statuses(project)
        except JiraApiError as exc:
            if exc.status in (403, 404):
                return  # reported by the permission checks (project missing or not browsable)
            raise
        wanted = {t.casefold() for t in rule.scope.issue_types}
        skipped: set[str] = set()
        if isinstance(rule, RiskReviewRule):  # sub-tasks are not risk-assessed
            skipped = {t.name for t in self.jira.get_project(project).issue_types if t.subtask}
        finder = _TransitionFinder(self.jira, project)
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
                        self._add(
                            name,
                            "warn",
                            f"{moves}: no {issuetype} issue in {move.to.name} to read the way "
                            "back from (Jira shows workflows only to administrators)",
                            "check the workflow by hand, or run doctor again once an issue "
                            "is there",
                            project,
                        )
                    elif any(t.to.id == source.id for t in back):
                        self._add(name, "pass", f"{moves} can be moved back", project=project)
                    else:
                        self._add(
                            name,
                            "fail",
                            f"{moves}: no transition from {move.to.name} back to "
                            f"{source.name} for Hindsight's account, so a violation there "
                            "can only be flagged",
                            f"add a transition {move.to.name} -> {source.name} to the {issuetype}"
                            f" workflow in {project} (a condition may restrict it to the service "
                            f"account), or set 'revert: false' in the guard of rule {rule.name}",
                            project,
                        )
            missing = [s.name for s in others if finder.unknown(issuetype, s)]
            if missing:
                self._add(
                    name,
                    "warn",
                    f"{issuetype}: no issue in {', '.join(missing)} to read transitions from, "
                    "so moves out of those statuses were not checked",
                    "check the workflow by hand, or run doctor again once issues are there",
                    project,
                )
        if not checked and not any(c.name == name and c.project == project for c in self.checks):
            self._add(
                name,
                "pass",
                "no transition into a guarded status was found",
                project=project,
            )

    def _groups(self, policy: Policy, identity: Identity) -> None:
        groups = sorted(policy_groups(policy))
        if not groups:
            self._add("group membership", "skip", "the policy names no group")
            return
        fix = (
            "grant the service account the 'Browse users and groups' global permission "
            "(Cloud: Settings > System > Global permissions; Data Center: Administration > "
            "System > Global permissions, 'Browse users')"
        )
        cloud = self.jira.server_info().deployment == "cloud"  # read once by the adapter
        if cloud and not self.jira.my_permissions(["USER_PICKER"]).get("USER_PICKER"):
            self._add(
                "group membership",
                "fail",
                "the service account may not browse users and groups, so group approvals and "
                f"group exemptions ({', '.join(groups)}) can never be confirmed",
                fix,
            )
            return
        try:
            self.jira.user_groups(identity.user)
        except JiraApiError as exc:
            self._add("group membership", "fail", f"reading a user's groups failed: {exc}", fix)
            return
        self._add(
            "group membership",
            "pass",
            f"users' groups are readable (the policy names {', '.join(groups)})",
        )

    def _public_url(self) -> None:
        enabled = self.policy is None or self.policy.suggestions.enabled
        if not self.public_url:
            self._add(
                "public URL",
                "fail" if enabled else "skip",
                "HINDSIGHT_PUBLIC_URL is not set: suggestion comments and feedback links "
                "cannot link to lesson pages"
                if enabled
                else "suggestions are disabled in the policy",
                "set HINDSIGHT_PUBLIC_URL to the https address people reach Hindsight at"
                if enabled
                else "",
            )
        elif not self.public_url.startswith("https://"):
            self._add(
                "public URL",
                "warn",
                f"{self.public_url} is not https: feedback links would travel in clear",
                "put Hindsight behind a reverse proxy with TLS and set HINDSIGHT_PUBLIC_URL to "
                "its https address",
            )
        else:
            self._add("public URL", "pass", f"lesson links point to {self.public_url}")

    def _add(
        self, name: str, status: CheckStatus, detail: str, fix: str = "", project: str | None = None
    ) -> None:
        self.checks.append(Check(name, status, detail, fix, project))


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


# -- what the policy needs --------------------------------------------------------------------


def needed_permissions(policy: Policy) -> dict[str | None, set[str]]:
    """Permission keys per project the rules scope (None: rules without projects, and
    suggestions, which apply everywhere: checked as "in any project")."""
    needs: dict[str | None, set[str]] = {}
    for rule in policy.rules:
        keys = {"BROWSE_PROJECTS"}
        if policy.mode_of(rule) == "enforce":
            keys |= {"ADD_COMMENTS", "EDIT_OWN_COMMENTS", "EDIT_ISSUES"}
            if rule.guard.revert:
                keys.add("TRANSITION_ISSUES")
            if _review_task(rule) is not None:
                keys |= {"CREATE_ISSUES", "SCHEDULE_ISSUES", "ASSIGN_ISSUES"}
        for project in rule.scope.projects or (None,):
            needs.setdefault(project, set()).update(keys)
    if policy.suggestions.enabled:
        needs.setdefault(None, set()).update({"BROWSE_PROJECTS", "ADD_COMMENTS"})
        needs[None].add("EDIT_OWN_COMMENTS")
    return needs


def policy_fields(policy: Policy) -> dict[str, Reading]:
    """Every field the policy names, with how its predicate reads it (first naming wins)."""
    found: dict[str, Reading] = {}

    def add(name: str | None, reading: Reading) -> None:
        if name and name.casefold() not in {"assignee", "reporter"} | {k.casefold() for k in found}:
            found[name] = reading

    for rule in policy.rules:
        for name in rule.scope.fields:
            add(name, "text")
        for requires in _requirements(rule):
            for name in requires.fields:
                add(name, "text")
            for name in requires.field_values:
                add(name, "text")
            for approval in requires.approved_by:
                add(approval.field, "text")
        if isinstance(rule, ChangeControlRule) and rule.change_types is not None:
            add(rule.change_types.field, "text")
        if isinstance(rule, RiskReviewRule):
            if rule.risky.score:
                add(rule.risky.score.field, "number")
            if rule.risky.likelihood_impact:
                add(rule.risky.likelihood_impact.likelihood, "number")
                add(rule.risky.likelihood_impact.impact, "number")
            add(rule.next_review_field, "date")
        task = _review_task(rule)
        if task is not None:
            add(task.assignee, "user")
            if task.flag and policy.mode_of(rule) == "enforce":
                add(policy.defaults.flag_field, "flag")
    return found


def policy_groups(policy: Policy) -> set[str]:
    """Groups whose membership the policy checks (approvals and exemptions)."""
    groups = {e.group for rule in policy.rules for e in rule.exemptions if e.group}
    for rule in policy.rules:
        for requires in _requirements(rule):
            groups.update(a.group for a in requires.approved_by)
    return groups


READABLE: Mapping[Reading, str] = {
    "text": "any field",
    "number": "a number field, or a select or text field holding a leading number ('4 - Likely')",
    "date": "a date or date-time field",
    "user": "a user picker",
    "flag": "a checkbox field (Jira's own 'Flagged')",
}


def unreadable(info: FieldInfo, reading: Reading) -> str:
    """Why a field of this type cannot be read the way its predicate reads it ('' if it can)."""
    kind, items = info.schema_type, info.items
    if (
        reading == "number"
        and kind not in ("number", "option", "string", "")
        and not (kind == "array" and items in ("option", "string"))
    ):
        return "a number is read from it, and a field of this type holds none"
    if reading == "date" and kind not in ("date", "datetime"):
        return "a date is read from it, and it is not a date field"
    if reading == "user" and kind != "user" and not (kind == "array" and items == "user"):
        return "a user is read from it, and it is not a user picker"
    if reading == "flag" and not (kind == "array" and items == "option"):
        return "it is set to a checkbox value, and it is not a checkbox field"
    return ""


def _type_text(info: FieldInfo) -> str:
    if not info.schema_type:
        return "no schema"
    return f"{info.schema_type} of {info.items}" if info.items else info.schema_type


def _alias(policy: Policy, name: str) -> str | None:
    return next(
        (fid for alias, fid in policy.fields.items() if alias.casefold() == name.casefold()), None
    )


def _requirements(rule: AnyRule) -> list[Any]:
    if isinstance(rule, RiskReviewRule):
        return [rule.requires]
    if rule.requires is not None:
        return [rule.requires]
    types = rule.change_types
    assert types is not None
    return [spec.requires for spec in (types.standard, types.normal) if spec is not None]


def _review_task(rule: AnyRule) -> ReviewTask | None:
    if isinstance(rule, RiskReviewRule):
        return rule.review
    types = rule.change_types
    return types.emergency.review if types is not None and types.emergency else None


def _guarded(rule: AnyRule, status: Status) -> bool:
    names = {s.casefold() for s in rule.guard.statuses}
    return (
        status.name.casefold() in names
        or status.id in rule.guard.statuses
        or status.category in rule.guard.categories
    )


def _permission_order(key: str) -> int:
    order = list(WHY)
    return order.index(key) if key in order else len(order)
