"""The dispatcher handler: events in, decisions audited, Hindsight's own events skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin.audit import AuditLog, SQLiteAuditLog
from plugin.dispatch import Dispatcher
from plugin.events import JiraEvent
from plugin.jira.report_only import ReportOnlyJira
from plugin.policy.handler import EVENT_TYPES, PolicyHandler, PolicySource
from plugin.policy.loader import PolicyError
from plugin.policy.reasons import ApprovalMissing, FieldEmpty
from plugin.policy.render import text as worded
from testkit.memory_jira import BOT, DONE, FIELDS, IN_PROGRESS, TODO, MemoryJira, change_issue
from tests.plugin.policy.conftest import POLICY_YAML


def _payload(*, actor: str = "alice-1", to_done: bool = True) -> dict:
    items = [
        {"field": "status", "fieldId": "status", "from": "3", "fromString": "In Progress",
         "to": "10002", "toString": "Done"}
    ]  # fmt: skip
    return {
        "webhookEvent": "jira:issue_updated",
        "timestamp": 1770000000000,
        "user": {"accountId": actor, "displayName": "Alice"},
        "issue": {
            "id": "101",
            "key": "CHG-1",
            "fields": {
                "project": {"key": "CHG"},
                "issuetype": {"id": "10001", "name": "Change"},
                "status": {"id": "10002", "name": "Done", "statusCategory": {"key": "done"}},
                "summary": "Upgrade the database",
                FIELDS["Change type"]: {"value": "Normal"},
            },
        },
        "changelog": {"id": "5", "items": items if to_done else []},
    }


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    return path


def _handler(policy_file: Path, jira, audit: AuditLog, **kwargs) -> PolicyHandler:
    return PolicyHandler(
        PolicySource(policy_file), lambda event: jira, audit,
        service_account=lambda: BOT, **kwargs,
    )  # fmt: skip


def test_a_violation_is_reverted_and_audited(policy_file, jira: MemoryJira, tmp_path):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)
    audit = SQLiteAuditLog(tmp_path / "db.sqlite")
    dispatcher = Dispatcher()
    dispatcher.register(EVENT_TYPES, "policy", _handler(policy_file, jira, audit))

    [(name, result)] = dispatcher.dispatch(JiraEvent.from_payload(_payload()), "delivery-1")

    assert (name, result.outcome) == ("policy", "acted")
    assert "CHG-1 change-control: fail" in result.detail
    [entry] = audit.query()
    assert (entry.delivery, entry.rule, entry.outcome, entry.actor) == (
        "delivery-1", "change-control", "fail", "Alice",
    )  # fmt: skip
    assert [a["kind"] for a in entry.actions] == ["comment", "label", "revert"]


class WorkerDied(Exception):
    """The worker's process was killed (SIGKILL) at this point."""


class DiesBeforeRecording:
    """An audit log whose first `record` never happens: its worker dies just before it."""

    def __init__(self, inner: AuditLog) -> None:
        self.inner = inner
        self.died = False

    def record(self, decisions, trigger, **kwargs) -> int:
        if not self.died:
            self.died = True
            raise WorkerDied
        return self.inner.record(decisions, trigger, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def test_a_rerun_after_the_worker_died_before_auditing_records_the_revert_once(
    policy_file, jira: MemoryJira, tmp_path
):
    # Found by bench/multiprocess_reliability.py: the re-run saw the move reverted, took it
    # for a stale event and recorded nothing, so the audit lacked a revert Jira shows.
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)
    audit = SQLiteAuditLog(tmp_path / "db.sqlite")
    handler = _handler(policy_file, jira, DiesBeforeRecording(audit))
    event = JiraEvent.from_payload(_payload())
    with pytest.raises(WorkerDied):
        handler(event, "delivery-1")
    assert jira.issues["CHG-1"].status == IN_PROGRESS  # the first attempt reverted it
    written = list(jira.writes)

    result = handler(event, "delivery-1")  # the recovered delivery runs again

    assert result.outcome == "reported"  # nothing written this time
    assert jira.writes == written
    [entry] = audit.query()
    assert (entry.delivery, entry.rule, entry.outcome) == ("delivery-1", "change-control", "fail")
    actions = {a["kind"]: (a["result"], a["detail"]) for a in entry.actions}
    assert actions["revert"] == ("unchanged", "already moved back by an earlier attempt")
    assert actions["comment"][0] == "unchanged"
    assert all(a["result"] != "done" for a in entry.actions)


def test_a_rerun_after_the_worker_died_before_marking_done_audits_nothing_twice(
    policy_file, jira: MemoryJira, tmp_path
):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)
    audit = SQLiteAuditLog(tmp_path / "db.sqlite")
    handler = _handler(policy_file, jira, audit)
    event = JiraEvent.from_payload(_payload())
    handler(event, "delivery-1")  # recorded, then the worker died before the delivery was done
    written = list(jira.writes)

    handler(event, "delivery-1")
    handler(event, "delivery-2")  # another delivery of the same move is its own decision

    assert jira.writes == written
    assert [e.delivery for e in audit.query()] == ["delivery-1", "delivery-2"]


def test_a_move_a_person_made_after_hindsights_revert_stays_stale(
    policy_file, jira: MemoryJira, tmp_path
):
    jira.put(change_issue(fields={FIELDS["Change type"]: {"value": "Normal"}}))
    jira.move("CHG-1", DONE)
    audit = SQLiteAuditLog(tmp_path / "db.sqlite")
    handler = _handler(policy_file, jira, audit)
    event = JiraEvent.from_payload(_payload())
    handler(event, "delivery-1")
    jira.move("CHG-1", TODO)  # a person moves it on: the old move is stale now
    written = list(jira.writes)

    result = handler(event, "delivery-1-again")

    assert result.outcome == "no-op"
    assert jira.writes == written
    assert [e.delivery for e in audit.query()] == ["delivery-1"]


def test_hindsights_own_events_are_skipped(policy_file, jira, tmp_path):
    handler = _handler(policy_file, jira, SQLiteAuditLog(tmp_path / "db.sqlite"))
    result = handler(JiraEvent.from_payload(_payload(actor="bot-1")), "d")
    assert result.outcome == "skipped"
    assert jira.reads == 0


def test_without_jira_the_snapshot_is_judged_report_only(policy_file, tmp_path):
    event = JiraEvent.from_payload(_payload())
    offline = ReportOnlyJira(snapshot=event.issue)
    audit = SQLiteAuditLog(tmp_path / "db.sqlite")
    policy_text = POLICY_YAML.replace("version: 1\n", "version: 1\nfields:\n" + "".join(
        f"  {name}: {field_id}\n" for name, field_id in FIELDS.items()
    ))  # fmt: skip
    policy_file.write_text(policy_text)
    handler = PolicyHandler(
        PolicySource(policy_file), lambda e: offline, audit, offline=lambda: True
    )
    result = handler(event, "d-offline")

    assert result.outcome == "reported"
    assert offline.writes == []
    [entry] = audit.query()
    assert entry.mode == "report-only" and entry.outcome == "fail"
    # the row keeps the reasons in the renderer's words
    assert worded(FieldEmpty("Impact on scope")) in entry.reasons
    assert worded(ApprovalMissing("Approval", "Approved", "cab")) in entry.reasons
    assert {a["result"] for a in entry.actions} >= {"planned"}


def test_a_broken_policy_is_refused_at_start_with_its_line(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nrules:\n  - name: x\n    kind: change-control\n    mood: on\n")
    with pytest.raises(PolicyError, match=r"policy.yaml:5: rules\[0\]: unknown key 'mood'"):
        PolicySource(path)


def test_the_policy_is_read_again_when_its_file_changes(policy_file, jira, tmp_path):
    source = PolicySource(policy_file)
    assert len(source.get().rules) == 2
    policy_file.write_text("version: 1\nrules: []\n# changed\n")
    assert source.get().rules == ()
    handler = PolicyHandler(source, lambda e: jira, SQLiteAuditLog(tmp_path / "db.sqlite"))
    assert handler(JiraEvent.from_payload(_payload()), "d").outcome == "no-op"


def test_an_issue_deleted_since_the_event_is_skipped(policy_file, jira, tmp_path):
    handler = _handler(policy_file, jira, SQLiteAuditLog(tmp_path / "db.sqlite"))
    result = handler(JiraEvent.from_payload(_payload()), "d")  # CHG-1 was never created
    assert (result.outcome, result.detail) == ("skipped", "CHG-1 no longer exists")
