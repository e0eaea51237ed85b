"""The fake itself: validation catches bad requests, JQL, workflow rules, webhooks and loops."""

from __future__ import annotations

import pytest
import requests

from testkit.fakejira import FakeJira, JiraRestError, Webhook
from testkit.fakejira.fixtures import adapter_for
from testkit.fakejira.jql import JqlContext, JqlError, compile_jql
from testkit.fakejira.scenario import NEXT_REVIEW


def _auth(fake: FakeJira) -> tuple[str, str]:
    bot = fake.service_account
    return bot.email, bot.api_token or ""


def test_a_request_the_description_forbids_is_refused_and_recorded(
    fake_jira: FakeJira, jira_openapi_validator
) -> None:
    if jira_openapi_validator is None:
        pytest.skip("the Jira OpenAPI description is absent (../shared/data)")
    key = fake_jira.add_issue("CHG", "Change", "x")
    url = f"{fake_jira.base_url}/rest/api/2/issue/{key}"

    answer = requests.get(url, params={"expandd": "changelog"}, auth=_auth(fake_jira))
    wrong_body = requests.post(
        f"{url}/transitions", json={"transition": "11"}, auth=_auth(fake_jira)
    )

    assert answer.status_code == 400 and wrong_body.status_code == 400
    for description in jira_openapi_validator.names:  # each description refuses both
        assert any(
            f"[{description}] query parameter 'expandd' is not declared" in v
            for v in fake_jira.violations
        )
        assert any(f"transitions: [{description}]" in v for v in fake_jira.violations)
    assert fake_jira.issue(key).status.name == "To Do"
    fake_jira.violations.clear()  # this test made them on purpose


def _check(validator, method: str, path: str, flavour: str = "cloud", **query: str) -> list[str]:
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    environ = EnvironBuilder(method=method, path=path, query_string=query).get_environ()
    return validator.check(Request(environ), flavour=flavour)


def test_both_descriptions_are_checked(jira_openapi_validator) -> None:
    if jira_openapi_validator is None or len(jira_openapi_validator.names) < 2:
        pytest.skip("both Jira OpenAPI descriptions are needed (../shared/data)")
    validator = jira_openapi_validator
    assert validator.names == ["2022", "2025-12"]
    # only the 2025-12 description has the enhanced search: checked against it alone
    assert _check(validator, "GET", "/rest/api/2/search/jql", jql="x", reconcileIssues="1") == []
    refused = _check(validator, "GET", "/rest/api/2/search/jql", jql="x", startAt="0")
    assert refused == [
        "[2025-12] query parameter 'startAt' is not declared for GET /rest/api/3/search/jql"
    ]
    # deprecated in the newest description: removed (or being removed) from Cloud only
    (gone,) = _check(validator, "GET", "/rest/api/2/search", jql="x")
    assert gone.startswith("[2025-12] GET /rest/api/3/search is deprecated")
    assert _check(validator, "GET", "/rest/api/2/search", "server", jql="x") == []


def test_unknown_calls_are_violations_too(fake_jira: FakeJira) -> None:
    answer = requests.get(f"{fake_jira.base_url}/rest/api/2/dashboard", auth=_auth(fake_jira))
    assert answer.status_code in (400, 404)
    assert fake_jira.violations
    fake_jira.violations.clear()


def test_requests_are_logged_with_the_authenticated_user(fake_jira, jira_adapter) -> None:
    jira_adapter.myself()
    (logged,) = [r for r in fake_jira.requests if r.path.endswith("/myself")]
    assert (logged.method, logged.user, logged.status) == ("GET", "hindsight-bot", 200)


def test_move_follows_the_workflow(fake_jira: FakeJira) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x")
    with pytest.raises(JiraRestError, match="No transition from 'To Do' to 'Done'"):
        fake_jira.move(key, "Done")
    fake_jira.move(key, "In Progress")
    fake_jira.move(key, "Done")
    assert fake_jira.issue(key).resolution == {"id": "10000", "name": "Done"}
    fake_jira.move(key, "In Progress")  # Reopen clears the resolution (post-function)
    assert fake_jira.issue(key).resolution is None
    assert [i.field for i in fake_jira.issue(key).changelog[-1].items] == [
        "status",
        "resolution",
    ]


def test_subtask_needs_a_parent(fake_jira: FakeJira) -> None:
    with pytest.raises(JiraRestError) as caught:
        fake_jira.add_issue("CHG", "Sous-tâche", "orphan")
    assert "parent" in caught.value.body["errors"]


@pytest.mark.parametrize(
    ("jql", "expected"),
    [
        ("project = CHG", ["CHG-1", "CHG-2", "CHG-3"]),
        ("key in (CHG-1, CHG-3)", ["CHG-1", "CHG-3"]),
        ('status = "In Progress"', ["CHG-2"]),
        ("status != 'In Progress' AND project = CHG", ["CHG-1", "CHG-3"]),
        ("statusCategory = Done", ["CHG-3"]),
        ("statusCategory != Done", ["CHG-1", "CHG-2"]),
        ("labels = db OR labels = net", ["CHG-1", "CHG-2"]),
        ("labels is EMPTY", ["CHG-3"]),
        ("issuetype = Task", ["CHG-3"]),
        ("resolution = Unresolved", ["CHG-1", "CHG-2"]),
        ("resolution is EMPTY", ["CHG-1", "CHG-2"]),
        ("resolution = Done", ["CHG-3"]),
        ('"Next review" < now()', ["CHG-1"]),
        ('"Next review" < "2030-01-01"', ["CHG-1", "CHG-2"]),
        ("cf[10051] >= 2030-01-01", []),
        ("NOT (labels = db) AND (issuetype = Change OR issuetype = Task)", ["CHG-2", "CHG-3"]),
        ("summary ~ upgrade ORDER BY created DESC", ["CHG-1"]),
    ],
)
def test_jql(fake_jira: FakeJira, jql: str, expected: list[str]) -> None:
    fake_jira.add_issue(
        "CHG", "Change", "Upgrade", labels=["db"], fields={"Next review": "2001-01-01"}
    )
    fake_jira.add_issue(
        "CHG",
        "Change",
        "Patch",
        labels=["net"],
        status="In Progress",
        fields={NEXT_REVIEW: "2029-01-01"},
    )
    fake_jira.add_issue("CHG", "Task", "Tidy", status="Done")
    jira = adapter_for(fake_jira)
    assert [i.key for i in jira.search(jql)] == expected


def test_jql_errors_read_like_jira() -> None:
    context = JqlContext(field_ids=lambda name: None, now=None, current_user=None)  # type: ignore[arg-type]
    with pytest.raises(JqlError, match="Field 'Blast' does not exist"):
        compile_jql("Blast = 1", context)
    with pytest.raises(JqlError):
        compile_jql("project = ", context)


def test_hindsights_own_writes_come_back_as_webhooks_by_the_service_account(
    fake_jira: FakeJira, jira_adapter
) -> None:
    key = fake_jira.add_issue("CHG", "Change", "x", status="In Progress")
    fake_jira.clear_webhooks()
    jira_adapter.transition_issue(key, "51")
    jira_adapter.add_comment(key, "moved back")
    jira_adapter.add_labels(key, ["reverted"])
    events = [(w.event, w.actor_ref) for w in fake_jira.webhooks]
    bot = fake_jira.service_account.account_id
    assert events == [
        ("jira:issue_updated", bot),
        ("comment_created", bot),
        ("jira:issue_updated", bot),
    ]


def test_deliver_webhooks_runs_jira_hindsight_jira_loops_to_rest(fake_jira: FakeJira) -> None:
    """A toy handler reverting every human move; it ignores its own events, so it settles."""
    jira = adapter_for(fake_jira)
    bot = fake_jira.service_account.account_id
    handled: list[Webhook] = []

    def handler(webhook: Webhook) -> None:
        handled.append(webhook)
        item = next(
            (
                i
                for i in webhook.body.get("changelog", {}).get("items", [])
                if i["field"] == "status"
            ),
            None,
        )
        if item is None or webhook.actor_ref == bot:
            return
        key = webhook.body["issue"]["key"]
        back = next(t for t in jira.get_transitions(key) if t.to.id == item["from"])
        jira.transition_issue(key, back.id)

    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.send_webhooks_to(handler)
    fake_jira.move(key, "In Progress", as_user="bob")

    delivered = fake_jira.deliver_webhooks()

    assert fake_jira.issue(key).status.name == "To Do"
    assert [w.actor_ref for w in delivered][-1] == bot
    assert len(delivered) == 3  # created, bob's move, the bot's revert


def test_a_loop_that_never_settles_is_reported(fake_jira: FakeJira) -> None:
    jira = adapter_for(fake_jira)
    key = fake_jira.add_issue("CHG", "Change", "x")
    fake_jira.send_webhooks_to(lambda webhook: jira.add_comment(key, "again"))
    with pytest.raises(RuntimeError, match="write loop"):
        fake_jira.deliver_webhooks(max_rounds=5)


def test_webhooks_can_be_posted_to_a_url(fake_jira: FakeJira) -> None:
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    received: list[bytes] = []

    @Request.application
    def receiver(request: Request) -> Response:
        received.append(request.get_data())
        return Response("ok")

    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        fake_jira.send_webhooks_to(url=f"http://127.0.0.1:{server.server_port}/hook")
        fake_jira.add_issue("CHG", "Change", "x")
        fake_jira.deliver_webhooks()
    finally:
        server.shutdown()
    assert len(received) == 1 and b'"jira:issue_created"' in received[0]


def test_faults_expire_after_their_count(fake_jira: FakeJira) -> None:
    fault = fake_jira.inject("GET", "/rest/api/2/myself", 500, times=2)
    url = f"{fake_jira.base_url}/rest/api/2/myself"
    codes = [requests.get(url, auth=_auth(fake_jira)).status_code for _ in range(3)]
    assert codes == [500, 500, 200] and fault.exhausted


def _histories(fake: FakeJira, key: str, **params: str) -> dict:
    url = f"{fake.base_url}/rest/api/2/issue/{key}"
    answer = requests.get(url, params=params, auth=_auth(fake), timeout=5)
    return answer.json()


def test_cloud_embeds_the_newest_100_histories_newest_first(fake_jira: FakeJira) -> None:
    # Atlassian: expand=changelog "Returns a list of recent updates to an issue, sorted by date,
    # starting from the most recent"; /changelog pages "all changelogs ... starting from the oldest"
    key = fake_jira.add_issue("CHG", "Change", "x")
    for number in range(105):
        fake_jira.edit(key, {"summary": f"x{number}"})
    stored = [h.id for h in fake_jira.issue(key).changelog]

    embedded = _histories(fake_jira, key, expand="changelog")["changelog"]
    first_page = _histories(fake_jira, f"{key}/changelog", maxResults="100")
    second_page = _histories(fake_jira, f"{key}/changelog", startAt="100")

    assert (embedded["total"], embedded["maxResults"]) == (105, 100)
    assert [h["id"] for h in embedded["histories"]] == stored[::-1][:100]
    assert [h["id"] for h in first_page["values"] + second_page["values"]] == stored
    assert not first_page["isLast"] and second_page["isLast"]


def test_data_center_embeds_every_history_and_has_no_changelog_resource(
    fake_jira_server: FakeJira,
) -> None:
    key = fake_jira_server.add_issue("CHG", "Change", "x")
    for number in range(105):
        fake_jira_server.edit(key, {"summary": f"x{number}"})

    embedded = _histories(fake_jira_server, key, expand="changelog")["changelog"]
    paged = requests.get(
        f"{fake_jira_server.base_url}/rest/api/2/issue/{key}/changelog",
        headers={"Authorization": f"Bearer {fake_jira_server.service_account.pat}"},
        timeout=5,
    )

    assert [h["id"] for h in embedded["histories"]] == [
        h.id for h in fake_jira_server.issue(key).changelog
    ]
    assert paged.status_code == 404


def test_data_center_has_no_user_groups_resource(fake_jira_server: FakeJira) -> None:
    url = f"{fake_jira_server.base_url}/rest/api/2/user"
    auth = _auth(fake_jira_server)

    groups = requests.get(f"{url}/groups", params={"username": "alice"}, auth=auth, timeout=5)
    user = requests.get(url, params={"username": "alice", "expand": "groups"}, auth=auth, timeout=5)

    assert groups.status_code == 404
    assert [g["name"] for g in user.json()["groups"]["items"]] == ["change-managers"]


def test_cloud_names_users_by_account_id_only(fake_jira: FakeJira) -> None:
    url = f"{fake_jira.base_url}/rest/api/2/user/groups"
    alice = fake_jira.user("alice")

    by_id = requests.get(url, params={"accountId": alice.account_id}, auth=_auth(fake_jira))
    by_name = requests.get(url, params={"accountId": "alice"}, auth=_auth(fake_jira))

    assert [g["name"] for g in by_id.json()] == ["change-managers"]
    assert by_name.status_code == 404


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("version", ["2", "3"])
def test_cloud_answers_410_gone_on_the_removed_search(fake_jira, method, version) -> None:
    # CHANGE-2046: GET|POST /rest/api/{2,3}/search are removed; /search/jql replaces them
    url = f"{fake_jira.base_url}/rest/api/{version}/search"
    answer = requests.request(method, url, params={"jql": "project = CHG"}, auth=_auth(fake_jira))

    assert answer.status_code == 410
    assert "/rest/api/3/search/jql" in answer.json()["errorMessages"][0]


@pytest.mark.parametrize("flavour", ["cloud", "server"])
def test_comment_properties_survive_a_persons_edit_and_bodies_are_stored_per_flavour(
    fake_jira_factory, flavour: str
) -> None:
    fake = fake_jira_factory(flavour)
    key = fake.add_issue("CHG", "Change", "x")
    url = f"{fake.base_url}/rest/api/2/issue/{key}/comment"
    marked = {"key": "hindsight", "value": {"markers": ["{anchor:hindsight-x}"]}}
    posted = requests.post(
        url, json={"body": "{anchor:hindsight-x}Hello", "properties": [marked]}, auth=_auth(fake)
    ).json()
    fake.rewrite_comment(key, posted["id"], "Edited by a person", as_user="alice")

    plain = requests.get(url, auth=_auth(fake)).json()["comments"]
    listed = requests.get(url, params={"expand": "properties"}, auth=_auth(fake)).json()
    (comment,) = listed["comments"]

    assert "properties" not in plain[0]  # only when expanded
    assert comment["properties"] == [marked]
    assert comment["body"] == "Edited by a person"
    # Cloud keeps ADF, which has no anchor node: the macro does not come back; DC keeps text
    assert posted["body"] == ("Hello" if flavour == "cloud" else "{anchor:hindsight-x}Hello")
