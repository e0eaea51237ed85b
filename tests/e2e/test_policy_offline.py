"""Without Jira configured the service judges each delivery's own snapshot, report-only."""

from __future__ import annotations

from pathlib import Path

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime, install_policy
from hindsight.wsgi import create_app
from plugin.audit import open_audit_log
from plugin.lessons.services import build_services
from testkit.kb import HashingEmbedder
from testkit.memory_jira import FIELDS
from tests.conftest import WEBHOOK_SECRET
from tests.plugin.policy.conftest import POLICY_YAML
from tests.plugin.policy.test_handler import _payload
from tests.webhooks.helpers import post_delivery
from webhooks.queue import build_delivery_queue, build_huey


def test_a_delivery_is_judged_on_its_snapshot_and_nothing_is_written(
    tmp_path: Path, store_location: str
):
    """On each engine: every store (deliveries, audit, lessons) where HINDSIGHT_DB says."""
    mapped = "".join(f"  {name}: {field_id}\n" for name, field_id in FIELDS.items())
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_YAML.replace("version: 1\n", f"version: 1\nfields:\n{mapped}", 1))
    settings = load_settings(
        environ={},
        overrides={"db": store_location, "queue": f"sqlite:///{tmp_path}/q.db",
                   "webhook_secret": [WEBHOOK_SECRET], "policy_file": policy},
    )  # fmt: skip
    config = Config(settings)
    lessons = build_services(config.lessons, embedder=HashingEmbedder())
    runtime = build_runtime(config, installers=[install_policy], lessons=lessons)
    assert runtime.jira is None
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    client = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True}).test_client()

    response = post_delivery(client, _payload(), delivery_id="offline-1")
    assert response.status_code in (200, 202), response.get_data(as_text=True)

    record = runtime.deliveries.get("offline-1")
    assert record is not None and record.status == "done"
    assert record.handler_results()["policy"]["outcome"] == "reported"
    [entry] = open_audit_log(settings.db).query()
    assert (entry.issue_key, entry.rule, entry.mode, entry.outcome) == (
        "CHG-1", "change-control", "report-only", "fail",
    )  # fmt: skip
    assert all(a["result"].startswith("planned") for a in entry.actions)
