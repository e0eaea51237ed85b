"""One set of cases for every `JiraPort`: what the engine and the lessons features may rely on.

Each case runs against the real adapter on the Cloud fake and on the Data Center fake, the
report-only port (reading through the adapter on the Cloud fake) and the in-memory double
(`testkit.memory_jira`). Where an implementation legitimately differs, the case says so: the
report-only port records each write as a plan instead of making it. Two checks hold every
implementation to the Protocol's shape: the signatures compared here, and mypy over
`jira_port_types.py`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mypy.api
import pytest

from hindsight.jira_metrics import CountingJira
from plugin.jira.adapter import JiraAdapter
from plugin.jira.errors import JiraApiError
from plugin.jira.port import Comment, JiraPort, User, without_markers
from plugin.jira.report_only import PlannedWrite, ReportOnlyJira
from testkit.fakejira import FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.memory_jira import ALICE, CHANGE, DONE, ENDPOINTS, IN_PROGRESS, TODO, MemoryJira

MARKER = "{anchor:hindsight-conformance}"


@dataclass
class Site:
    """A `JiraPort` implementation and the means to arrange the Jira behind it as people would.

    `fail(method, status)` makes the next call of port method `method` meet Jira answering
    `status` (on the fakes: the request that method sends first, per `ENDPOINTS`).
    """

    name: str
    port: JiraPort
    person: User  # a person in the group "change-managers"
    new_change: Callable[..., str]  # (summary, labels=()) -> key of a Change in To Do
    move: Callable[[str, str], None]  # a person moves the issue to the status named
    comment: Callable[[str, str], str]  # a person comments; returns the comment's id
    fail: Callable[[str, int], None]

    @property
    def plans_writes(self) -> bool:
        """The report-only port records writes (`.writes`) and leaves Jira as it was."""
        return isinstance(self.port, ReportOnlyJira)

    def planned(self) -> PlannedWrite:
        assert isinstance(self.port, ReportOnlyJira)
        return self.port.writes[-1]


def _fake_site(name: str, fake: FakeJira, port: JiraPort | None = None) -> Site:
    alice = fake.user("alice")
    person = (
        User(account_id=alice.account_id)
        if fake.flavour == "cloud"
        else User(name=alice.name, key=alice.key)
    )

    def new_change(summary: str, labels: tuple[str, ...] = ()) -> str:
        return fake.add_issue("CHG", "Change", summary, labels=labels, reporter="alice")

    def move(key: str, status: str) -> None:
        fake.move(key, status, as_user="alice")

    def comment(key: str, body: str) -> str:
        return fake.comment(key, body, as_user="alice")

    def fail(method: str, status: int) -> None:
        http_method, path = ENDPOINTS[method]
        fake.inject(http_method, path.format(key="*", comment_id="*", issuetype_id="*"), status)

    return Site(name, port or adapter_for(fake), person, new_change, move, comment, fail)


def _memory_site() -> Site:
    jira = MemoryJira(groups={ALICE.ref: frozenset({"change-managers"})})
    statuses = {status.name: status for status in (TODO, IN_PROGRESS, DONE)}

    def new_change(summary: str, labels: tuple[str, ...] = ()) -> str:
        key = f"CHG-{len(jira.issues) + 1}"
        jira.put(key, issuetype=CHANGE, summary=summary, labels=labels, reporter=ALICE)
        return key

    def move(key: str, status: str) -> None:
        jira.move(key, statuses[status], by=ALICE)

    def comment(key: str, body: str) -> str:
        return jira.comment_by(key, body, by=ALICE).id

    def fail(method: str, status: int) -> None:
        jira.fail(method, status=status)

    return Site("memory", jira, ALICE, new_change, move, comment, fail)


@pytest.fixture(params=["cloud", "data-center", "report-only", "memory", "counting"])
def site(request: pytest.FixtureRequest, fake_jira_factory: Callable[..., FakeJira]) -> Site:
    if request.param == "memory":
        return _memory_site()
    fake = fake_jira_factory("server" if request.param == "data-center" else "cloud")
    if request.param == "report-only":
        return _fake_site("report-only", fake, ReportOnlyJira(reads=adapter_for(fake)))
    if request.param == "counting":  # the runtime's wrapper that counts errors for /metrics
        return _fake_site("counting", fake, CountingJira(adapter_for(fake), lambda status: None))
    return _fake_site(request.param, fake)


def _status_moves(site: Site, key: str) -> list[tuple[str | None, str | None]]:
    changelog = site.port.get_issue(key).changelog
    return [(i.from_string, i.to_string) for e in changelog for i in e.items if i.is_status]


# ------------------------------------------------------------------------------ the contract


@pytest.mark.parametrize(
    "implementation",
    [JiraAdapter, ReportOnlyJira, MemoryJira, CountingJira],
    ids=lambda c: c.__name__,
)
def test_every_implementation_has_the_ports_methods_with_its_signatures(implementation) -> None:
    """A structural match: same methods, same parameters (names, kinds, defaults, types)."""
    methods = [name for name in dir(JiraPort) if not name.startswith("_")]
    assert set(methods) == set(ENDPOINTS)  # the double's failure table covers every method
    for name in methods:
        expected = inspect.signature(getattr(JiraPort, name)).parameters
        actual = inspect.signature(getattr(implementation, name)).parameters
        assert list(actual.values()) == list(expected.values()), f"{implementation}.{name}"


def test_the_type_checker_finds_every_implementation_a_structural_jira_port() -> None:
    checked = Path(__file__).with_name("jira_port_types.py")
    report, errors, status = mypy.api.run(
        [
            "--follow-imports=silent",  # judge that file; what it imports is only read
            "--ignore-missing-imports",
            "--no-incremental",
            f"--cache-dir={os.devnull}",
            str(checked),
        ]
    )
    assert status == 0, report + errors


# ----------------------------------------------------------------------------------- reads


def test_an_issue_reads_with_its_fields_and_a_missing_one_is_a_404(site: Site) -> None:
    key = site.new_change("Upgrade the database", labels=("db",))

    issue = site.port.get_issue(key)

    assert (issue.key, issue.project, issue.summary) == (key, "CHG", "Upgrade the database")
    assert (issue.issuetype.name, issue.status.name, issue.labels) == ("Change", "To Do", ("db",))
    with pytest.raises(JiraApiError) as missing:
        site.port.get_issue("CHG-999")
    assert (missing.value.method, missing.value.path) == ("GET", "/rest/api/2/issue/CHG-999")
    assert missing.value.status == 404 and not missing.value.retryable


def test_the_changelog_is_whole_and_oldest_first(site: Site) -> None:
    """Longer than the 100 histories Cloud embeds (newest first) in `expand=changelog`."""
    key = site.new_change("Flip-flop")
    for _ in range(52):
        site.move(key, "In Progress")
        site.move(key, "To Do")
    site.move(key, "In Progress")

    moves = _status_moves(site, key)

    assert moves[:2] == [("To Do", "In Progress"), ("In Progress", "To Do")]
    assert moves[-3:] == [
        ("To Do", "In Progress"),
        ("In Progress", "To Do"),
        ("To Do", "In Progress"),
    ]
    assert len(moves) == 105


def test_transitions_list_their_target_and_screen(site: Site) -> None:
    key = site.new_change("Upgrade")

    transitions = site.port.get_transitions(key)

    start = next(t for t in transitions if t.to.name == "In Progress")
    assert start.id and start.name and "resolution" not in start.fields
    site.move(key, "In Progress")
    done = next(t for t in site.port.get_transitions(key) if t.to.name == "Done")
    assert "resolution" in done.fields  # Jira asks for the resolution on the way to Done


def test_projects_fields_users_and_the_service_account(site: Site) -> None:
    project = site.port.get_project("CHG")
    subtask_type = site.port.subtask_type("CHG")
    next_review = site.port.field_id("Next review")
    me = site.port.myself()

    assert project.key == "CHG" and subtask_type in project.issue_types and subtask_type.subtask
    assert next_review.startswith("customfield_") and site.port.field_id(next_review) == next_review
    with pytest.raises(KeyError):
        site.port.field_id("No such field")
    assert "change-managers" in site.port.user_groups(site.person)
    assert site.port.user_groups(me.user) == frozenset()
    assert me.user.ref and me.deployment == ("server" if site.name == "data-center" else "cloud")


def test_search_finds_issues_by_project_and_label(site: Site) -> None:
    wanted = site.new_change("Wanted", labels=("conformance",))
    site.new_change("Not wanted")

    found = [issue.key for issue in site.port.search('project = "CHG" AND labels = "conformance"')]

    assert found == [wanted]


def test_screens_list_the_fields_a_write_may_set(site: Site) -> None:
    key = site.new_change("Upgrade")
    subtask_type = site.port.subtask_type("CHG")

    assert {"summary", "labels"} <= set(site.port.create_screen("CHG", subtask_type.id))
    assert {"labels", site.port.field_id("Next review")} <= set(site.port.edit_screen(key))


# ---------------------------------------------------------------------------------- writes


def test_a_transition_moves_the_issue_as_the_service_account(site: Site) -> None:
    key = site.new_change("Upgrade")
    start = next(t for t in site.port.get_transitions(key) if t.to.name == "In Progress")

    site.port.transition_issue(key, start.id)

    issue = site.port.get_issue(key)
    if site.plans_writes:  # report-only: planned, the issue stays where it was
        assert site.planned() == PlannedWrite(
            "transition_issue", key, {"transition_id": start.id, "fields": {}}
        )
        assert issue.status.name == "To Do"
        return
    assert issue.status.name == "In Progress"
    assert _status_moves(site, key)[-1] == ("To Do", "In Progress")
    assert site.port.myself().user.same_as(issue.changelog[-1].author)


def test_a_field_the_transition_screen_lacks_is_refused_with_a_400(site: Site) -> None:
    key = site.new_change("Upgrade")
    start = next(t for t in site.port.get_transitions(key) if t.to.name == "In Progress")

    if site.plans_writes:  # report-only: nothing is sent, so Jira cannot refuse it
        site.port.transition_issue(key, start.id, {"resolution": {"name": "Done"}})
        assert site.planned().operation == "transition_issue"
        return
    with pytest.raises(JiraApiError) as refused:
        site.port.transition_issue(key, start.id, {"resolution": {"name": "Done"}})
    assert refused.value.status == 400 and "resolution" in refused.value.message
    assert site.port.get_issue(key).status.name == "To Do"


def test_own_comments_are_found_again_by_their_marker_property(site: Site) -> None:
    key = site.new_change("Upgrade")
    quoted = site.comment(key, f"A person quoting the marker: {MARKER}")

    made = site.port.add_comment(key, "Checklist", markers=[MARKER])

    assert made.markers == (MARKER,)
    if site.plans_writes:  # report-only: planned, no comment is made
        assert site.planned() == PlannedWrite("add_comment", key, {"body": "Checklist"})
        assert [c.id for c in site.port.get_issue(key).comments] == [quoted]
        return
    assert _own(site, key) == [(made.id, "Checklist", (MARKER,))]

    site.port.edit_comment(key, made.id, "Checklist, revised", markers=[MARKER])

    assert _own(site, key) == [(made.id, "Checklist, revised", (MARKER,))]
    assert [c.id for c in site.port.get_issue(key).comments] == [quoted, made.id]


def _own(site: Site, key: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """The comments with markers (only the service account's have any): id, text, markers."""
    comments: tuple[Comment, ...] = site.port.get_issue(key).comments
    return [(c.id, without_markers(c.body).strip(), c.markers) for c in comments if c.markers]


def test_labels_are_added_and_removed(site: Site) -> None:
    key = site.new_change("Upgrade", labels=("db",))

    site.port.add_labels(key, ["needs-cab", "db"])
    site.port.remove_labels(key, ["db"])

    labels = site.port.get_issue(key).labels
    if site.plans_writes:  # report-only: planned, the labels stay as they were
        assert [w.operation for w in site.port.writes] == ["add_labels", "remove_labels"]
        assert labels == ("db",)
        return
    assert labels == ("needs-cab",)


def test_fields_are_set_by_id(site: Site) -> None:
    key = site.new_change("Upgrade")
    next_review = site.port.field_id("Next review")

    site.port.set_fields(key, {next_review: "2026-05-01"})

    fields = site.port.get_issue(key).fields
    if site.plans_writes:  # report-only: planned, the field stays empty
        assert site.planned() == PlannedWrite(
            "set_fields", key, {"fields": {next_review: "2026-05-01"}}
        )
        assert fields.get(next_review) is None
        return
    assert fields[next_review] == "2026-05-01"


def test_a_subtask_is_created_under_its_parent(site: Site) -> None:
    key = site.new_change("Upgrade")

    ref = site.port.create_subtask(key, "Back up the database")

    if site.plans_writes:  # report-only: planned, the parent has no sub-task
        assert site.planned().operation == "create_subtask" and ref.key.startswith("PLANNED-")
        assert site.port.get_issue(key).subtasks == ()
        return
    assert [sub.key for sub in site.port.get_issue(key).subtasks] == [ref.key]
    subtask = site.port.get_issue(ref.key)
    assert (subtask.parent, subtask.summary) == (key, "Back up the database")
    assert subtask.issuetype == site.port.subtask_type("CHG")


def test_an_issue_is_created_by_issue_type_name(site: Site) -> None:
    ref = site.port.create_issue("CHG", "Change", "Follow-up", "From the retrospective")

    if site.plans_writes:  # report-only: planned, nothing is created
        assert site.planned().arguments["summary"] == "Follow-up"
        return
    issue = site.port.get_issue(ref.key)
    assert (issue.project, issue.issuetype.name, issue.summary) == ("CHG", "Change", "Follow-up")


# ---------------------------------------------------------------------------------- errors


def test_a_refused_write_raises_jiras_status(site: Site) -> None:
    key = site.new_change("Upgrade")
    site.fail("add_comment", 403)

    if site.plans_writes:  # report-only: nothing is sent, so Jira cannot refuse it
        site.port.add_comment(key, "Checklist")
        assert site.planned().operation == "add_comment"
        return
    with pytest.raises(JiraApiError) as refused:
        site.port.add_comment(key, "Checklist")
    error = refused.value
    assert (error.method, error.path) == ("POST", f"/rest/api/2/issue/{key}/comment")
    assert error.status == 403 and not error.retryable
    assert site.port.get_issue(key).comments == ()
    site.port.add_comment(key, "Checklist")  # the failure was for one call
    assert len(site.port.get_issue(key).comments) == 1


def test_a_failed_read_raises_a_retryable_error_once(site: Site) -> None:
    key = site.new_change("Upgrade")
    site.fail("get_issue", 500)

    with pytest.raises(JiraApiError) as failed:
        site.port.get_issue(key)

    assert (failed.value.method, failed.value.path) == ("GET", f"/rest/api/2/issue/{key}")
    assert failed.value.status == 500 and failed.value.retryable
    assert site.port.get_issue(key).key == key


def test_every_port_method_can_be_made_to_fail_in_the_double() -> None:
    jira = MemoryJira()
    jira.put("CHG-1", issuetype=CHANGE)
    calls: dict[str, Callable[[], object]] = {
        "get_issue": lambda: jira.get_issue("CHG-1"),
        "get_transitions": lambda: jira.get_transitions("CHG-1"),
        "transition_issue": lambda: jira.transition_issue("CHG-1", "11"),
        "add_comment": lambda: jira.add_comment("CHG-1", "x"),
        "edit_comment": lambda: jira.edit_comment("CHG-1", "1", "x"),
        "subtask_type": lambda: jira.subtask_type("CHG"),
        "create_screen": lambda: jira.create_screen("CHG", "10003"),
        "edit_screen": lambda: jira.edit_screen("CHG-1"),
        "create_subtask": lambda: jira.create_subtask("CHG-1", "x"),
        "create_issue": lambda: jira.create_issue("CHG", "Change", "x"),
        "add_labels": lambda: jira.add_labels("CHG-1", ["x"]),
        "remove_labels": lambda: jira.remove_labels("CHG-1", ["x"]),
        "set_fields": lambda: jira.set_fields("CHG-1", {"duedate": "2026-01-01"}),
        "search": lambda: list(jira.search('project = "CHG"')),
        "get_project": lambda: jira.get_project("CHG"),
        "field_id": lambda: jira.field_id("Approval"),
        "user_groups": lambda: jira.user_groups(ALICE),
        "myself": lambda: jira.myself(),
    }
    assert set(calls) == set(ENDPOINTS)
    for method, call in calls.items():
        jira.fail(method, status=503, message="busy", retry_after=2)
        with pytest.raises(JiraApiError) as failed:
            call()
        assert (failed.value.status, failed.value.retry_after) == (503, 2), method
        assert failed.value.method == ENDPOINTS[method][0], method


def test_injected_failures_count_down_and_queue() -> None:
    jira = MemoryJira()
    jira.put("CHG-1")
    jira.fail("add_labels", status=429, times=2)
    jira.fail("add_labels", status=None)  # then a transport failure: no response

    statuses = []
    for _ in range(4):
        try:
            jira.add_labels("CHG-1", ["x"])
            statuses.append("ok")
        except JiraApiError as error:
            statuses.append(error.status)

    assert statuses == [429, 429, None, "ok"]
    assert jira.operations() == [("add_labels", "CHG-1")] * 4  # every attempt is recorded
    with pytest.raises(ValueError, match="allowed values"):
        jira.fail("add_label")


def test_a_failure_for_every_call_lasts_until_cleared() -> None:
    jira = MemoryJira()
    jira.put("CHG-1")
    jira.fail("get_issue", status=403, times=None)

    for _ in range(3):
        with pytest.raises(JiraApiError):
            jira.get_issue("CHG-1")
    jira.failures.clear()
    assert jira.get_issue("CHG-1").key == "CHG-1"
