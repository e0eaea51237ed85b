"""JiraAdapter against the fake Jira: every port operation, both flavours, every fault."""

from __future__ import annotations

import pytest

from plugin.jira.adapter import JiraAdapter, connect
from plugin.jira.errors import JiraApiError, JiraNotConfigured
from plugin.jira.port import User
from plugin.jira.transitions import fields_for_screen, transition_to
from testkit.fakejira import RESOLUTION_NOT_ON_SCREEN, FakeJira
from testkit.fakejira.fixtures import adapter_for
from testkit.fakejira.scenario import NEXT_REVIEW


@pytest.fixture(params=["cloud", "server"])
def site(request, fake_jira_factory) -> tuple[FakeJira, JiraAdapter]:
    fake = fake_jira_factory(request.param)
    return fake, adapter_for(fake)


def test_get_issue_reads_fields_subtasks_links_comments_and_changelog(site) -> None:
    fake, jira = site
    key = fake.add_issue(
        "CHG",
        "Change",
        "Upgrade the database",
        description="h2. Plan",
        labels=["db"],
        fields={"Next review": "2024-05-01"},
        reporter="bob",
    )
    sub = fake.add_issue("CHG", "Sous-tâche", "Backup first", parent=key)
    other = fake.add_issue("CHG", "Task", "Freeze window")
    fake.link(other, key, "Blocks")
    fake.move(key, "In Progress", as_user="bob")
    fake.comment(key, "Looks risky", as_user="alice")

    issue = jira.get_issue(key)

    assert (issue.key, issue.project, issue.summary) == (key, "CHG", "Upgrade the database")
    assert issue.description == "h2. Plan"
    assert issue.status.name == "In Progress" and issue.status.category == "indeterminate"
    assert issue.labels == ("db",)
    assert issue.fields[NEXT_REVIEW] == "2024-05-01"
    assert [s.key for s in issue.subtasks] == [sub]
    assert issue.subtasks[0].issuetype is not None and issue.subtasks[0].issuetype.subtask
    assert [(link.description, link.issue.key) for link in issue.links] == [
        ("is blocked by", other)
    ]
    assert [c.body for c in issue.comments] == ["Looks risky"]
    (entry,) = issue.changelog
    assert entry.author is not None and entry.author.same_as(_port_user(fake, "bob"))
    (item,) = entry.items
    assert item.is_status and (item.from_string, item.to_string) == ("To Do", "In Progress")
    assert (item.from_value, item.to_value) == ("10000", "3")
    assert jira.get_issue(sub).parent == key


def test_get_issue_reads_every_history_of_a_long_changelog_oldest_first(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "Many moves")
    for _ in range(65):
        fake.move(key, "In Progress")
        fake.move(key, "To Do")
    fake.move(key, "In Progress", as_user="carol")  # the newest of 131 histories

    issue = jira.get_issue(key)

    assert [e.id for e in issue.changelog] == [h.id for h in fake.issue(key).changelog]
    assert len(issue.changelog) == 131
    newest = next(issue.history_newest_first())
    assert newest.author is not None and newest.author.display_name == "Carol"
    paged = [r for r in fake.requests if r.path.endswith(f"{key}/changelog")]
    # Cloud embeds the newest 100: one page of /changelog brings the 31 older ones.
    # Data Center embeds them all and has no /changelog resource.
    assert len(paged) == (1 if fake.flavour == "cloud" else 0)


def test_get_transitions_lists_screen_fields(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x", status="In Progress")

    transitions = {t.name: t for t in jira.get_transitions(key)}

    assert set(transitions) == {"Request approval", "Stop work", "Emergency deploy", "Close"}
    close = transitions["Close"]
    assert close.to.name == "Done" and close.to.category == "done"
    assert close.fields["resolution"].required
    assert "Won't Do" in close.fields["resolution"].allowed_values
    assert transitions["Stop work"].fields == {}


def test_transition_issue_with_screen_fields_and_revert(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x", status="In Progress")
    close = next(t for t in jira.get_transitions(key) if t.name == "Close")

    jira.transition_issue(key, close.id, {"resolution": {"name": "Done"}})
    assert fake.issue(key).status.name == "Done"
    assert fake.issue(key).resolution == {"id": "10000", "name": "Done"}

    back = transition_to(jira.get_transitions(key), "3")  # back to In Progress
    assert back is not None
    kept, dropped = fields_for_screen(back, {"resolution": None})
    assert (kept, dropped) == ({}, ("resolution",))
    jira.transition_issue(key, back.id, kept)
    assert fake.issue(key).status.name == "In Progress" and fake.issue(key).resolution is None
    sent = [r.body for r in fake.requests if r.method == "POST"]
    assert sent[-1] == {"transition": {"id": int(back.id)}, "fields": {}}


def test_no_transition_back_out_of_deploying(jira_adapter, fake_jira) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x", status="In Progress")
    fake_jira.move(key, "Deploying")  # emergency deploy, skipping approval
    assert transition_to(jira_adapter.get_transitions(key), "3") is None


def test_resolution_not_on_screen_is_a_clear_non_retryable_error(jira_adapter, fake_jira):
    key = fake_jira.add_issue("CHG", "Change", "x", status="Done")
    reopen = next(t for t in jira_adapter.get_transitions(key) if t.name == "Reopen")

    with pytest.raises(JiraApiError) as caught:
        jira_adapter.transition_issue(key, reopen.id, {"resolution": None})

    error = caught.value
    assert error.status == 400 and not error.retryable
    assert str(error) == (
        f"POST /rest/api/2/issue/{key}/transitions -> HTTP 400: resolution: "
        f"{RESOLUTION_NOT_ON_SCREEN}"
    )
    assert fake_jira.issue(key).status.name == "Done"


def test_injected_resolution_screen_fault(jira_adapter, fake_jira) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x", status="In Progress")
    fake_jira.resolution_screen_error(key)
    with pytest.raises(JiraApiError, match="not on the appropriate screen") as caught:
        jira_adapter.transition_issue(key, "51")
    assert caught.value.status == 400
    jira_adapter.transition_issue(key, "51")  # the fault was for one call only
    assert fake_jira.issue(key).status.name == "To Do"


def test_add_and_edit_comment(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x")

    comment = jira.add_comment(key, "*Reverted*: approval is missing")
    jira.edit_comment(key, comment.id, "*Reverted*: approval is still missing")

    assert comment.body == "*Reverted*: approval is missing"
    assert comment.author is not None
    assert comment.author.same_as(_port_user(fake, "hindsight-bot"))
    (stored,) = fake.comments(key)
    assert (stored.id, stored.body) == (comment.id, "*Reverted*: approval is still missing")


def test_own_comments_carry_their_markers_from_the_entity_property(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x")
    mark = "{anchor:hindsight-rule}"
    ours = jira.add_comment(key, f"{mark}Reverted", markers=[mark])
    fake.rewrite_comment(key, ours.id, "A person's words now", as_user="alice")
    fake.comment(key, "Me too", as_user="alice", properties={"hindsight": {"markers": [mark]}})
    fake.comment(key, f"{mark}pasted", as_user="bob")

    comments = jira.get_issue(key).comments

    assert [c.markers for c in comments] == [(mark,), (), ()]
    assert ours.markers == (mark,)
    sent = next(r.body for r in fake.requests if r.method == "POST" and "comment" in r.path)
    assert sent["properties"] == [{"key": "hindsight", "value": {"markers": [mark]}}]
    jira.edit_comment(key, ours.id, f"{mark}Reverted again", markers=[mark, "{anchor:x-more}"])
    stored = fake.comments(key)[0].properties["hindsight"]
    assert stored == {"markers": [mark, "{anchor:x-more}"]}


def test_own_markers_are_read_one_by_one_when_the_listing_leaves_properties_out(site) -> None:
    fake, jira = site
    fake.expands_comment_properties = False
    key = fake.add_issue("CHG", "Change", "x")
    mark = "{anchor:hindsight-rule}"
    jira.add_comment(key, f"{mark}Reverted", markers=[mark])
    fake.comment(key, "A person's", as_user="alice")
    fake.comment(key, "Older, no property", as_user=fake.service_account)

    comments = jira.get_issue(key).comments

    assert [c.markers for c in comments] == [(mark,), (), ()]
    asked = [r for r in fake.requests if "/properties/" in r.path]
    assert [r.status for r in asked] == [200, 404]  # ours only, one each


def test_own_comments_from_before_the_property_are_found_by_their_body(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x")
    fake.comment(key, "{anchor:hindsight-rule}Older", as_user=fake.service_account)

    (comment,) = jira.get_issue(key).comments

    # Data Center kept the macro in the body; Cloud's ADF storage dropped it long ago
    expected = () if fake.flavour == "cloud" else ("{anchor:hindsight-rule}",)
    assert comment.markers == expected


def test_create_subtask_finds_the_localised_subtask_type(site) -> None:
    fake, jira = site
    parent = fake.add_issue("CHG", "Change", "Upgrade")

    ref = jira.create_subtask(
        parent, "Write the rollback plan", "Steps...", assignee=_port_user(fake, "carol")
    )

    created = fake.issue(ref.key)
    assert created.issuetype.name == "Sous-tâche" and created.parent == parent
    assert created.fields["description"] == "Steps..."
    assert created.assignee is not None and created.assignee.name == "carol"
    assert ref.issuetype is not None and ref.issuetype.subtask
    assert fake.issue(parent).subtasks == [ref.key]


def test_create_subtask_without_a_subtask_type_says_what_to_fix(fake_jira, jira_adapter):
    from testkit.fakejira.workflows import DEFAULT_ISSUE_TYPES

    fake_jira.add_project("OPS", issue_types=[t for t in DEFAULT_ISSUE_TYPES if not t.subtask])
    parent = fake_jira.add_issue("OPS", "Task", "x")
    with pytest.raises(JiraApiError, match="no sub-task issue type"):
        jira_adapter.create_subtask(parent, "y")


def test_create_issue_by_type_name_and_custom_field_name(site) -> None:
    fake, jira = site
    ref = jira.create_issue(
        "CHG", "task", "Lesson follow-up", "From the retro", fields={"Next review": "2025-01-31"}
    )
    created = fake.issue(ref.key)
    assert created.issuetype.name == "Task" and created.fields[NEXT_REVIEW] == "2025-01-31"
    with pytest.raises(JiraApiError, match="has no issue type 'Epic'"):
        jira.create_issue("CHG", "Epic", "x")


def test_labels_are_added_and_removed_never_replaced(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x", labels=["db", "weekend"])

    jira.add_labels(key, ["policy-violation", "policy-violation"])
    fake.edit(key, {"labels": ["db", "weekend", "policy-violation", "human"]}, as_user="bob")
    jira.remove_labels(key, ["weekend"])

    assert fake.issue(key).fields["labels"] == ["db", "policy-violation", "human"]
    puts = [r.body for r in fake.requests if r.method == "PUT"]
    assert puts == [
        {"update": {"labels": [{"add": "policy-violation"}]}},
        {"update": {"labels": [{"remove": "weekend"}]}},
    ]


def test_set_fields_by_name_or_id(site) -> None:
    fake, jira = site
    key = fake.add_issue("CHG", "Change", "x")
    jira.set_fields(key, {"Next review": "2024-06-01", "duedate": "2024-07-01"})
    assert fake.issue(key).fields[NEXT_REVIEW] == "2024-06-01"
    assert fake.issue(key).fields["duedate"] == "2024-07-01"
    history = fake.issue(key).changelog[-1]
    assert {i.field for i in history.items} == {"Next review", "duedate"}


def test_search_pages_through_every_match(site) -> None:
    fake, jira = site
    keys = [fake.add_issue("CHG", "Change", f"c{n}", labels=["db"]) for n in range(5)]
    fake.add_issue("CHG", "Task", "not me", labels=["db"])
    fake.move(keys[0], "In Progress")

    found = list(jira.search("project = CHG AND issuetype = Change AND labels = db", page_size=2))

    assert [i.key for i in found] == keys
    pages = [r for r in fake.requests if "/search" in r.path]
    assert len(pages) == 3
    assert pages[0].path.endswith("/search/jql" if fake.flavour == "cloud" else "/search")
    assert [i.key for i in jira.search("statusCategory != Done AND status = 'In Progress'")] == [
        keys[0]
    ]


def test_search_on_dates_and_resolution(jira_adapter, fake_jira) -> None:
    due = fake_jira.add_issue("CHG", "Change", "due", fields={"Next review": "2000-01-01"})
    fake_jira.add_issue("CHG", "Change", "later", fields={"Next review": "2999-01-01"})
    fake_jira.add_issue(
        "CHG", "Change", "done", status="Done", fields={"Next review": "2000-01-01"}
    )
    jql = '"Next review" < now() AND resolution = Unresolved ORDER BY created DESC'
    assert [i.key for i in jira_adapter.search(jql)] == [due]


def test_bad_jql_is_a_400_with_jiras_message(jira_adapter) -> None:
    with pytest.raises(JiraApiError, match="Field 'Nope' does not exist") as caught:
        list(jira_adapter.search('"Nope" = 1'))
    assert caught.value.status == 400


def test_get_project_with_issue_types(site) -> None:
    fake, jira = site
    project = jira.get_project("CHG")
    assert (project.key, project.name, project.project_type) == (
        "CHG",
        "Change management",
        "software",
    )
    assert [(t.name, t.subtask) for t in project.issue_types][-1] == ("Sous-tâche", True)
    assert project.lead is not None and project.lead.same_as(_port_user(fake, "alice"))


def test_field_id_resolves_names_once(site) -> None:
    fake, jira = site
    assert jira.field_id("Next review") == NEXT_REVIEW
    assert jira.field_id("next REVIEW") == NEXT_REVIEW
    assert jira.field_id("cf[10051]") == NEXT_REVIEW
    assert jira.field_id(NEXT_REVIEW) == NEXT_REVIEW
    assert jira.field_id("duedate") == "duedate"
    with pytest.raises(KeyError, match="no field named 'Blast radius'"):
        jira.field_id("Blast radius")
    assert sum(r.path.endswith("/field") for r in fake.requests) == 1


def test_field_id_refuses_ambiguous_names(fake_jira, jira_adapter) -> None:
    fake_jira.add_field("Risk", "customfield_10070")
    fake_jira.add_field("Risk", "customfield_10071")
    with pytest.raises(KeyError, match="ambiguous"):
        jira_adapter.field_id("Risk")


def test_user_groups_and_myself(site) -> None:
    fake, jira = site
    fake.add_group("cab", ["alice"])
    assert jira.user_groups(_port_user(fake, "alice")) == {"change-managers", "cab"}
    assert jira.user_groups(_port_user(fake, "hindsight-bot")) == frozenset()
    asked = [(r.path, r.query) for r in fake.requests if r.path.startswith("/rest/api/2/user")]
    alice = fake.user("alice")
    if fake.flavour == "cloud":  # Cloud: /user/groups by accountId
        assert asked[0] == ("/rest/api/2/user/groups", {"accountId": [alice.account_id]})
    else:  # Data Center has no /user/groups: the user, with its groups expanded
        assert asked[0] == ("/rest/api/2/user", {"username": ["alice"], "expand": ["groups"]})
    me = jira.myself()
    assert me.deployment == fake.flavour
    assert me.user.same_as(_port_user(fake, "hindsight-bot"))
    if fake.flavour == "cloud":
        assert me.user.account_id and me.user.name is None
    else:
        assert me.user.name == "hindsight-bot" and me.user.account_id is None


# ---------------------------------------------------------------------- faults


def test_429_is_retried_honouring_retry_after(fake_jira) -> None:
    slept: list[float] = []
    jira = adapter_for(fake_jira, sleep=slept.append, max_retries=3)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.rate_limit("GET", f"/rest/api/2/issue/{key}", times=2, retry_after=7)

    assert jira.get_issue(key).key == key
    assert slept == [7.0, 7.0]


def test_429_surfaces_with_retry_after_when_retries_run_out(fake_jira) -> None:
    slept: list[float] = []
    jira = adapter_for(fake_jira, sleep=slept.append, max_retries=2)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.rate_limit("POST", "/rest/api/2/issue/*/comment", times=5, retry_after=3)

    with pytest.raises(JiraApiError) as caught:
        jira.add_comment(key, "hello")

    error = caught.value
    assert (error.status, error.retry_after, error.retryable) == (429, 3.0, True)
    assert str(error) == f"POST /rest/api/2/issue/{key}/comment -> HTTP 429: Rate limit exceeded."
    assert slept == [3.0, 3.0]
    assert fake_jira.comments(key) == []


def test_long_retry_after_is_not_slept_in_the_worker(fake_jira) -> None:
    slept: list[float] = []
    jira = adapter_for(fake_jira, sleep=slept.append, max_retry_delay=30)
    fake_jira.rate_limit("GET", "/rest/api/2/project/*", retry_after=600)
    with pytest.raises(JiraApiError) as caught:
        jira.get_project("CHG")
    assert caught.value.retry_after == 600.0 and slept == []


def test_503_is_retried_with_backoff_then_succeeds(fake_jira) -> None:
    slept: list[float] = []
    jira = adapter_for(fake_jira, sleep=slept.append)
    fake_jira.unavailable("*", "/rest/api/2/myself", times=2)
    assert jira.myself().deployment == "cloud"
    assert slept == [1.0, 2.0]


def test_503_with_retry_after_surfaces_when_retries_run_out(fake_jira) -> None:
    jira = adapter_for(fake_jira, max_retries=1)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.unavailable("PUT", f"/rest/api/2/issue/{key}", times=2, retry_after=4)
    with pytest.raises(JiraApiError) as caught:
        jira.add_labels(key, ["x"])
    assert (caught.value.status, caught.value.retry_after) == (503, 4.0)
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "You do not have permission to perform this operation."),
        (404, "Issue does not exist or you do not have permission to see it."),
        (400, f"resolution: {RESOLUTION_NOT_ON_SCREEN}"),
        (401, "Client must be authenticated to access this resource."),
    ],
)
def test_other_4xx_are_not_retried(fake_jira, status: int, message: str) -> None:
    slept: list[float] = []
    jira = adapter_for(fake_jira, sleep=slept.append)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fault = fake_jira.inject("GET", "/rest/api/2/issue/*/transitions", status, times=3)

    with pytest.raises(JiraApiError) as caught:
        jira.get_transitions(key)

    assert str(caught.value) == (
        f"GET /rest/api/2/issue/{key}/transitions -> HTTP {status}: {message}"
    )
    assert not caught.value.retryable and fault.hits == 1 and slept == []


def test_deleted_issue_is_a_404(jira_adapter, fake_jira) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.delete_issue(key)
    with pytest.raises(JiraApiError) as caught:
        jira_adapter.get_issue(key)
    assert caught.value.status == 404 and "does not exist" in caught.value.message


def test_forbidden_write_is_a_403(jira_adapter, fake_jira) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.forbid("POST", "/rest/api/2/issue/*/comment", message="You cannot comment.")
    with pytest.raises(JiraApiError, match=r"HTTP 403: You cannot comment\.") as caught:
        jira_adapter.add_comment(key, "x")
    assert not caught.value.retryable


def test_timeout_becomes_a_retryable_error_without_status(fake_jira) -> None:
    jira = adapter_for(fake_jira, timeout=0.3)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.slow("GET", f"/rest/api/2/issue/{key}", seconds=2)

    with pytest.raises(JiraApiError) as caught:
        jira.get_issue(key)

    assert caught.value.status is None and caught.value.retryable
    assert str(caught.value).startswith(f"GET /rest/api/2/issue/{key} -> no response: ")


def test_slow_answer_within_the_timeout_succeeds(fake_jira) -> None:
    jira = adapter_for(fake_jira, timeout=5)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.slow("GET", f"/rest/api/2/issue/{key}", seconds=0.2)
    assert jira.get_issue(key).key == key


def test_connection_refused_is_a_retryable_error() -> None:
    jira = connect("http://127.0.0.1:9", pat="x", timeout=1)
    with pytest.raises(JiraApiError) as caught:
        jira.myself()
    assert caught.value.status is None and caught.value.retryable


def test_wrong_credentials_are_a_401(fake_jira) -> None:
    jira = connect(fake_jira.base_url, email="hindsight-bot@example.com", api_token="wrong")
    with pytest.raises(JiraApiError) as caught:
        jira.myself()
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"url": "jira.example.com", "pat": "x"}, "not an http"),
        ({"url": "https://x.atlassian.net"}, "credentials are missing"),
        ({"url": "https://x.atlassian.net", "email": "a@b.c"}, "credentials are missing"),
        ({"url": "https://x", "pat": "p", "email": "a@b.c", "api_token": "t"}, "not both"),
    ],
)
def test_connect_says_what_to_fix(kwargs, problem) -> None:
    url = kwargs.pop("url")
    with pytest.raises(JiraNotConfigured, match=problem):
        connect(url, **kwargs)


def test_secrets_never_show_in_repr(fake_jira) -> None:
    jira = adapter_for(fake_jira)
    assert fake_jira.service_account.api_token not in repr(jira)
    assert repr(jira) == f"JiraAdapter({fake_jira.base_url!r})"


def _port_user(fake: FakeJira, name: str) -> User:
    user = fake.user(name)
    return User(account_id=user.account_id, name=user.name, key=user.key)
