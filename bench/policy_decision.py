"""Policy decision time per event: report-only in memory, and enforce end to end on the fake Jira.

1. Report-only, in-memory port: the shipped ITIL change and PMBOK risk policies together (three
   rules) judge a mix of status moves into Done (normal changes with and without approval,
   standard and emergency changes, risky and plain issues). The clock runs over
   `PolicyEngine.evaluate`: re-reading the issue, scope, change type, requirements, approvals
   from the changelog, exemptions and the planned actions. Target: p95 <= 5 ms.
2. End to end over loopback: the fake Jira (HTTP on 127.0.0.1, OpenAPI validation off) and the
   real `JiraAdapter`; each event is a human closing a change, judged by the webhook handler in
   enforce mode. The clock runs over the handler: re-read over HTTP, judge, then (for
   violations) read transitions, comment, label and revert; the audit row is written too.

Run: .venv/bin/python -m bench.policy_decision [--events N] [--live-events N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.figures import percentile
from plugin.audit import SQLiteAuditLog
from plugin.events import JiraEvent
from plugin.policy.decision import Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.handler import PolicyHandler, PolicySource
from plugin.policy.loader import load_policy, parse_policy
from testkit.memory_jira import (
    ALICE,
    CAB,
    DONE,
    FIELDS,
    MemoryJira,
    change_issue,
)

POLICIES = Path(__file__).resolve().parents[1] / "deploy" / "policies"
IMPACTS = ("Impact on scope", "Impact on schedule", "Impact on cost", "Impact on quality")


def _combined_policy_text() -> str:
    """Both shipped policies as one file (the risk rule scoped to the change project too)."""
    itil = (POLICIES / "itil-change.yaml").read_text()
    pmbok = (POLICIES / "pmbok-risk-register.yaml").read_text()
    risk_rules = pmbok.split("rules:\n", 1)[1].split("\nsweep:", 1)[0]
    head, tail = itil.split("\nsweep:", 1)
    return head.rstrip() + "\n\n" + risk_rules.rstrip() + "\n\nsweep:" + tail


def _report(name: str, samples: list[float]) -> None:
    ms = [s * 1000 for s in samples]
    print(
        f"{name}: {len(ms)} events, p50 {statistics.median(ms):.2f} ms, "
        f"p95 {percentile(ms, 0.95):.2f} ms, max {max(ms):.2f} ms"
    )


def in_memory(events: int, seed: int = 7) -> tuple[list[float], Counter[str]]:
    policy = parse_policy(_combined_policy_text(), source="combined.yaml")
    rng = random.Random(seed)
    jira = MemoryJira(groups={CAB.ref: frozenset({"change-advisory-board"})})
    triggers: list[tuple[str, Trigger]] = []
    for number in range(1, events + 1):
        key = f"CHG-{number}"
        kind = rng.choice(["Normal", "Normal", "Standard", "Emergency"])
        fields: dict = {FIELDS["Change type"]: {"value": kind}}
        if rng.random() < 0.5:
            fields.update({FIELDS[name]: "low" for name in (*IMPACTS, "Backout plan")})
        labels = ("high-risk",) if rng.random() < 0.2 else ()
        jira.put(change_issue(key, fields=fields, labels=labels,
                              priority=rng.choice(["Low", "Medium", "High"])))  # fmt: skip
        if rng.random() < 0.5:
            jira.set_by(key, "Approval", {"value": "Approved"}, by=CAB, text="Approved")
        change = jira.move(key, DONE)
        triggers.append((key, Trigger("jira:issue_updated", f"d-{number}", ALICE, change)))
    engine_samples: list[float] = []
    verdicts: Counter[str] = Counter()
    writes_before = len(jira.writes)
    for key, trigger in triggers:
        started = time.perf_counter()
        engine = PolicyEngine(policy, jira, report_only=True)  # one per event, as the handler
        decisions = engine.evaluate(key, trigger)
        engine_samples.append(time.perf_counter() - started)
        verdicts.update(f"{d.rule}:{d.status}" for d in decisions)
    assert len(jira.writes) == writes_before, "report-only must not write"
    assert not any(v.endswith(":error") for v in verdicts), verdicts
    return engine_samples, verdicts


def live(events: int) -> tuple[list[float], list[float]]:
    from testkit.fakejira.fake import FakeJira
    from testkit.fakejira.fixtures import adapter_for
    from testkit.fakejira.scenario import populate_change_site

    fake = populate_change_site(FakeJira("cloud", validator=None).start())
    try:
        for name in (*IMPACTS, "Backout plan"):
            fake.add_field(name)
        fake.add_field("Approval", None, {"type": "option", "custom": "select"})
        flagged = {"type": "array", "items": "option", "custom": "multicheckboxes"}
        fake.add_field("Flagged", "customfield_10021", flagged)
        fake.add_user("dave", groups=["change-advisory-board"], api_token="dave-token")
        jira = adapter_for(fake)
        with tempfile.TemporaryDirectory() as folder:
            audit = SQLiteAuditLog(Path(folder) / "bench.db")
            handler = PolicyHandler(
                PolicySource(POLICIES / "itil-change.yaml"), lambda event: jira, audit,
                service_account=lambda: None,
            )  # fmt: skip
            violations: list[float] = []
            passes: list[float] = []
            for number in range(events):
                complete = number % 2 == 1
                fields = {"Change type": {"value": "Standard"}}
                if complete:
                    fields["Backout plan"] = "restore the snapshot"
                key = fake.add_issue("CHG", "Change", f"Change {number}", status="In Progress",
                                     fields=fields, reporter="bob")  # fmt: skip
                if complete:
                    verify = fake.add_issue("CHG", "Sous-tâche", "Verify", parent=key)
                    fake.move(verify, "In Progress", as_user="bob")
                    fake.move(verify, "Done", as_user="bob")
                fake.clear_webhooks()
                fake.move(key, "Done", as_user="bob")
                event = JiraEvent.from_payload(fake.webhooks[-1].body)
                started = time.perf_counter()
                result = handler(event, f"bench-{number}")
                elapsed = time.perf_counter() - started
                (passes if complete else violations).append(elapsed)
                expected = "reported" if complete else "acted"
                assert result.outcome == expected, (result, fake.issue(key).status.name)
            audit.close()
        return violations, passes
    finally:
        fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Run both measurements; `argv` defaults to none (as `python -m bench` calls it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--live-events", type=int, default=100)
    args = parser.parse_args(argv or [])
    load_policy(POLICIES / "itil-change.yaml")  # the shipped files must load
    in_memory(200)  # warm-up: imports, regex and pydantic caches
    samples, verdicts = in_memory(args.events)
    _report("report-only, in-memory port (decision per event)", samples)
    print("  verdicts:", ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
    violations, passes = live(args.live_events)
    _report("enforce, fake Jira over loopback, violation (re-read, comment, label, revert)",
            violations)  # fmt: skip
    _report("enforce, fake Jira over loopback, pass (re-read, judge)", passes)


if __name__ == "__main__":
    main(sys.argv[1:])
