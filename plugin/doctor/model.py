"""The doctor's result model (`Check`, `DoctorReport`) and what it reads from Jira
(`DoctorJira`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

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

CheckStatus = Literal["pass", "fail", "warn", "skip"]


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
