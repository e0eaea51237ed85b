"""Every real delivery in ../shared/data/jira-webhooks, through a report-only Hindsight.

Without Jira, handlers read the delivery's own issue snapshot; a Data Center `comment_created`
carries none, so reading its issue is a 404 that no retry can mend. Each delivery must end
done, skipped or ignored, once, with the reason recorded, and none may wait for a retry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hindsight.config import load_settings
from hindsight.wiring import Config, build_runtime
from hindsight.wsgi import create_app
from plugin.lessons.services import build_services
from testkit.kb import HashingEmbedder
from tests.webhooks.helpers import RETRO_WITH_SCRIPT, post_delivery
from webhooks.queue import build_delivery_queue, build_huey
from webhooks.store import DONE, IGNORED, SKIPPED

ROOT = Path(__file__).resolve().parents[2]
WEBHOOKS = ROOT.parent / "shared" / "data" / "jira-webhooks"
SECRET = "real-deliveries-secret"


@pytest.mark.shared_data
def test_a_report_only_run_ends_every_real_delivery_without_retrying(tmp_path: Path) -> None:
    deliveries = sorted(WEBHOOKS.glob("*.json")) if WEBHOOKS.is_dir() else []
    if not deliveries:
        pytest.skip(f"{WEBHOOKS} is absent: this test reads the shared real deliveries")
    settings = load_settings(
        environ={},
        overrides={
            "db": tmp_path / "hindsight.db",
            "webhook_secret": [SECRET],
            "policy_file": ROOT / "deploy" / "policies" / "itil-change.yaml",
        },
    )
    config = Config(settings)
    services = build_services(config.lessons, embedder=HashingEmbedder())
    assert services.store is not None
    services.store.ingest_source("retros/pay-4.2.md", RETRO_WITH_SCRIPT)
    runtime = build_runtime(config, lessons=services)
    assert runtime.jira is None  # report-only: nothing is written anywhere
    queue = build_delivery_queue(runtime, huey=build_huey("memory://", immediate=True))
    client = create_app(runtime=runtime, queue=queue, test_config={"TESTING": True}).test_client()

    ended = {}
    for path in deliveries:
        answer = post_delivery(client, json.loads(path.read_text()), secret=SECRET)
        assert answer.status_code in (200, 202), (path.name, answer.get_json())
        row = runtime.deliveries.get(answer.get_json()["key"])
        assert row is not None
        ended[path.name] = (row.status, row.attempts, row.last_error)

    assert len(ended) == len(deliveries) == 12
    unfinished = {
        name: end for name, end in ended.items() if end[0] not in (DONE, SKIPPED, IGNORED)
    }
    assert not unfinished, unfinished
    assert all(attempts <= 1 for _, attempts, _ in ended.values()), ended
    status, _, reason = ended["mattermost-plugin-jira__webhook-server-comment-created.json"]
    assert status == SKIPPED
    assert reason is not None and "HTTP 404" in reason  # the issue it names is not known
