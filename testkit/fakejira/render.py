"""JSON as Jira's REST API v2 and its webhooks write it, Cloud or Data Center flavour.

Shapes follow the real responses and deliveries in ../shared/data (keys, nesting, string ids,
`self` links); `tests/fakejira/test_fidelity.py` holds the fake to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from testkit.fakejira.model import (
    FakeComment,
    FakeIssue,
    FakeLink,
    FakeProject,
    FakeUser,
    Flavour,
    History,
    IssueTypeDef,
    StatusDef,
    TransitionDef,
)

_CATEGORY = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


class Renderer:
    """Renders the fake's state; `issue_lookup` finds related issues (sub-tasks, links)."""

    def __init__(
        self, base_url: str, flavour: Flavour, issue_lookup: Callable[[str], FakeIssue | None]
    ) -> None:
        self.base_url = base_url
        self.flavour = flavour
        self._lookup = issue_lookup

    @property
    def api(self) -> str:
        return f"{self.base_url}/rest/api/2"

    def user(self, user: FakeUser | None) -> dict[str, Any] | None:
        if user is None:
            return None
        avatars = {
            size: f"https://avatar.example/{user.account_id}?s={size.split('x')[0]}"
            for size in ("48x48", "24x24", "16x16", "32x32")
        }
        if self.flavour == "cloud":
            return {
                "self": f"{self.api}/user?accountId={user.account_id}",
                "accountId": user.account_id,
                "avatarUrls": avatars,
                "displayName": user.display_name,
                "active": user.active,
                "timeZone": user.time_zone,
            }
        return {
            "self": f"{self.api}/user?username={user.name}",
            "name": user.name,
            "key": user.key,
            "emailAddress": user.email,
            "avatarUrls": avatars,
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": user.time_zone,
        }

    def status(self, status: StatusDef) -> dict[str, Any]:
        category = _CATEGORY[status.category]
        return {
            "self": f"{self.api}/status/{status.id}",
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": {"self": f"{self.api}/statuscategory/{category['id']}", **category},
        }

    def issuetype(self, issuetype: IssueTypeDef) -> dict[str, Any]:
        return {
            "self": f"{self.api}/issuetype/{issuetype.id}",
            "id": issuetype.id,
            "description": issuetype.description,
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{issuetype.id}.svg",
            "name": issuetype.name,
            "subtask": issuetype.subtask,
            "avatarId": 10300,
        }

    def project_ref(self, project: FakeProject) -> dict[str, Any]:
        """A project as issues embed it (Data Center leaves out `projectTypeKey`)."""
        ref: dict[str, Any] = {
            "self": f"{self.api}/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
        }
        if self.flavour == "cloud":
            ref["projectTypeKey"] = project.project_type
        ref["avatarUrls"] = {
            size: f"{self.base_url}/secure/projectavatar?pid={project.id}&s={size}"
            for size in ("48x48", "24x24", "16x16", "32x32")
        }
        return ref

    def project(self, project: FakeProject) -> dict[str, Any]:
        body = {
            **self.project_ref(project),
            "projectTypeKey": project.project_type,
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "description": project.description,
            "lead": self.user(project.lead),
            "components": [],
            "issueTypes": [self.issuetype(t) for t in project.issue_types],
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "roles": {},
        }
        if project.category:
            body["projectCategory"] = {
                "self": f"{self.api}/projectCategory/10000",
                "id": "10000",
                "name": project.category,
                "description": "",
            }
        return body

    def resolution(self, resolution: dict[str, str] | None) -> dict[str, Any] | None:
        if resolution is None:
            return None
        return {
            "self": f"{self.api}/resolution/{resolution['id']}",
            "id": resolution["id"],
            "description": "",
            "name": resolution["name"],
        }

    def priority(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        ids = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
        pid = ids.get(name, "3")
        return {
            "self": f"{self.api}/priority/{pid}",
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def comment(
        self, issue: FakeIssue, comment: FakeComment, *, with_properties: bool = False
    ) -> dict[str, Any]:
        """A comment; its entity properties only when asked for (`expand=properties`)."""
        body = {
            "self": f"{self.api}/issue/{issue.id}/comment/{comment.id}",
            "id": comment.id,
            "author": self.user(comment.author),
            "body": comment.body,
            "updateAuthor": self.user(comment.update_author or comment.author),
            "created": comment.created,
            "updated": comment.updated,
        }
        if with_properties:
            body["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
        return body

    def issue_ref(self, issue: FakeIssue) -> dict[str, Any]:
        """A related issue as Jira embeds it in `subtasks`, `parent` and `issuelinks`."""
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.api}/issue/{issue.id}",
            "fields": {
                "summary": issue.fields.get("summary", ""),
                "status": self.status(issue.status),
                "priority": self.priority(issue.fields.get("priority")),
                "issuetype": self.issuetype(issue.issuetype),
            },
        }

    def link(self, link: FakeLink, viewed_from: str) -> dict[str, Any] | None:
        other_key, side = (
            (link.target, "outwardIssue")
            if link.source == viewed_from
            else (link.source, "inwardIssue")
        )
        other = self._lookup(other_key)
        if other is None:
            return None
        return {
            "id": link.id,
            "self": f"{self.api}/issueLink/{link.id}",
            "type": {
                "id": "10000",
                "name": link.type_name,
                "inward": link.inward,
                "outward": link.outward,
                "self": f"{self.api}/issueLinkType/10000",
            },
            side: self.issue_ref(other),
        }

    def fields(
        self, issue: FakeIssue, links: Iterable[FakeLink], *, with_comments: bool = True
    ) -> dict[str, Any]:
        stored = issue.fields
        fields: dict[str, Any] = {
            "issuetype": self.issuetype(issue.issuetype),
            "project": self.project_ref(issue.project),
            "fixVersions": [],
            "resolution": self.resolution(issue.resolution),
            "resolutiondate": issue.resolution_date,
            "created": issue.created,
            "updated": issue.updated,
            "priority": self.priority(stored.get("priority")),
            "labels": list(stored.get("labels", [])),
            "versions": [],
            "issuelinks": [
                rendered for link in links if (rendered := self.link(link, issue.key)) is not None
            ],
            "assignee": self.user(issue.assignee),
            "status": self.status(issue.status),
            "components": [
                {"self": f"{self.api}/component/1", "id": "1", "name": name}
                for name in stored.get("components", [])
            ],
            "description": stored.get("description"),
            "summary": stored.get("summary", ""),
            "creator": self.user(issue.creator),
            "subtasks": [
                self.issue_ref(sub)
                for sub_key in issue.subtasks
                if (sub := self._lookup(sub_key)) is not None and not sub.deleted
            ],
            "reporter": self.user(issue.reporter),
            "duedate": stored.get("duedate"),
            "watches": {
                "self": f"{self.api}/issue/{issue.key}/watchers",
                "watchCount": 1,
                "isWatching": True,
            },
        }
        for key, value in stored.items():
            if key.startswith("customfield_"):
                fields[key] = value
        if issue.parent and (parent := self._lookup(issue.parent)) is not None:
            fields["parent"] = self.issue_ref(parent)
        if with_comments:
            fields["comment"] = {
                "comments": [self.comment(issue, c) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            }
        return fields

    def issue(
        self,
        issue: FakeIssue,
        links: Iterable[FakeLink],
        *,
        changelog: Sequence[History] | None = None,
        with_comments: bool = True,
    ) -> dict[str, Any]:
        """`GET /issue/{key}`; `changelog` holds the embedded histories, in the order given."""
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
            "versionedRepresentations",
            "id": issue.id,
            "self": f"{self.api}/issue/{issue.id}",
            "key": issue.key,
            "fields": self.fields(issue, links, with_comments=with_comments),
        }
        if changelog is not None:
            body["changelog"] = {
                "startAt": 0,
                "maxResults": len(changelog),
                "total": len(issue.changelog),
                "histories": [self.history(h) for h in changelog],
            }
        return body

    def history(self, history: History, *, for_webhook: bool = False) -> dict[str, Any]:
        """A changelog entry (REST) or a webhook's `changelog` object (`for_webhook`)."""
        items = []
        for item in history.items:
            rendered: dict[str, Any] = {"field": item.field, "fieldtype": item.fieldtype}
            if self.flavour == "cloud":
                rendered["fieldId"] = item.field_id
            rendered.update(
                {
                    "from": item.from_value,
                    "fromString": item.from_string,
                    "to": item.to_value,
                    "toString": item.to_string,
                }
            )
            items.append(rendered)
        if for_webhook:
            return {"id": history.id, "items": items}
        return {
            "id": history.id,
            "author": self.user(history.author),
            "created": history.created,
            "items": items,
        }

    def transition(
        self, transition: TransitionDef, to: StatusDef, *, with_fields: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": transition.id,
            "name": transition.name,
            "to": self.status(to),
            "hasScreen": bool(transition.screen),
            "isGlobal": transition.sources is None,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        if with_fields:
            body["fields"] = {f.id: self.screen_field(f.id, f.required) for f in transition.screen}
        return body

    def screen_field(self, field_id: str, required: bool) -> dict[str, Any]:
        if field_id == "resolution":
            return {
                "required": required,
                "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution",
                "key": "resolution",
                "hasDefaultValue": False,
                "operations": ["set"],
                "allowedValues": [self.resolution(r) for r in RESOLUTIONS],
            }
        return {
            "required": required,
            "schema": {"type": "string", "custom": "textfield", "customId": 0},
            "name": field_id,
            "key": field_id,
            "hasDefaultValue": False,
            "operations": ["set"],
        }


RESOLUTIONS = (
    {"id": "10000", "name": "Done"},
    {"id": "10001", "name": "Won't Do"},
    {"id": "10002", "name": "Duplicate"},
)
