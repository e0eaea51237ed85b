"""`Doctor`: runs the checks in order (connection, service account, permissions, fields, ways
back, groups, public URL) and returns a `DoctorReport`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from plugin.doctor.model import Check, CheckStatus, DoctorJira, DoctorReport
from plugin.doctor.needs import (
    OPTIONAL,
    READABLE,
    WHY,
    field_alias,
    needed_permissions,
    permission_order,
    policy_fields,
    policy_groups,
    type_text,
    unreadable,
)
from plugin.doctor.ways_back import way_back_checks
from plugin.jira.errors import JiraApiError
from plugin.jira.port import Identity
from plugin.policy.model import Policy

_CREDS = (
    "Cloud: set HINDSIGHT_JIRA_EMAIL to the service account's email and HINDSIGHT_JIRA_API_TOKEN "
    "(or HINDSIGHT_JIRA_TOKEN_FILE) to an API token of that account (id.atlassian.com > "
    "Security > API tokens). Data Center: set HINDSIGHT_JIRA_PAT (or HINDSIGHT_JIRA_TOKEN_FILE) "
    "to a personal access token of the service account (its profile > Personal Access Tokens)"
)


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
            for key in sorted(keys, key=permission_order):
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
            alias = field_alias(policy, name)
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
            shown = f"{info.name} ({info.id}, {type_text(info)})"
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
                self.checks.extend(way_back_checks(self.jira, rule, project, self._missing))

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
