"""Policy commands: `policy validate|check|explain|backtest`, `audit` and `sweep`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hindsight.commands.service import config_from, config_option, require_database
from hindsight.terminal import echo_line, printable
from hindsight.wiring import Config, ConfigError, JiraOptions, connect_jira
from plugin.audit import BadAuditQuery, open_audit_log, to_csv
from plugin.events import InvalidEvent, JiraEvent
from plugin.jira.errors import JiraApiError
from plugin.jira.port import JiraPort
from plugin.jira.report_only import ReportOnlyJira
from plugin.policy.backtest import run_backtest
from plugin.policy.decision import PolicyDecision, Trigger
from plugin.policy.engine import PolicyEngine
from plugin.policy.loader import PolicyError, load_policy
from plugin.policy.model import Policy
from plugin.policy.render import action_text, render_decisions
from plugin.policy.sweep import last_status_change, run_sweep

policy_file_argument = click.argument(
    "policy_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path)
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
policy_option = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Policy file (default: the configured one).",
)


def _invalid(exc: PolicyError) -> click.ClickException:
    """Every problem on its own line; a file name or value cannot start another one."""
    return click.ClickException(
        "the policy is invalid:\n" + "\n".join(printable(p) for p in exc.problems)
    )


def _load(path: Path) -> Policy:
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise _invalid(exc) from None


def jira_options(config: Config) -> JiraOptions:
    """The configured Jira; says what to set when there is none."""
    if config.jira is None:
        raise click.ClickException(
            "this command reads live Jira: set HINDSIGHT_JIRA_URL and credentials "
            "(HINDSIGHT_JIRA_EMAIL + HINDSIGHT_JIRA_API_TOKEN, or HINDSIGHT_JIRA_PAT)"
        )
    return config.jira


def live_jira(config: Config) -> JiraPort:
    """The real Jira for read-only commands; says what to set when it is not configured."""
    try:
        return connect_jira(jira_options(config))
    except (ConfigError, JiraApiError) as exc:
        raise click.ClickException(f"cannot connect to Jira: {exc}") from None


def configured_policy(config: Config, path: Path | None) -> Policy:
    chosen = path or config.policy.policy_file
    if chosen is None:
        raise click.ClickException(
            "no policy file: pass --policy FILE or set HINDSIGHT_POLICY_FILE"
        )
    return _load(chosen)


def _print_decisions(decisions: list[PolicyDecision], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in decisions], indent=2))
    else:
        click.echo(render_decisions(decisions, escape=printable) or "no rule applies")


@click.group()
def policy() -> None:
    """Validate a policy file, and see what it decides before switching it on.

    \b
    Example:
        hindsight policy validate deploy/policies/itil-change.yaml
        hindsight policy check deploy/policies/itil-change.yaml --event delivery.json
        hindsight policy explain CHG-42
        hindsight policy backtest policy.yaml --jql "project = CHG AND updated >= -30d"
    """


@policy.command()
@policy_file_argument
@json_option
def validate(policy_file: Path, as_json: bool) -> None:
    """Check a policy file: every problem with its line, key and the allowed values.

    Exits 1 when the policy is invalid, so CI can gate a change to it.

    \b
    Example:
        hindsight policy validate deploy/policies/itil-change.yaml
    """
    try:
        loaded = load_policy(policy_file)
    except PolicyError as exc:
        if as_json:
            problems = [p.to_dict() for p in exc.problems]
            click.echo(json.dumps({"valid": False, "errors": problems}, indent=2))
            sys.exit(1)
        raise _invalid(exc) from None
    names = [rule.name for rule in loaded.rules]
    if as_json:
        click.echo(json.dumps({"valid": True, "rules": names}, indent=2))
    else:
        echo_line(f"{policy_file}: valid, {len(names)} rule(s): {', '.join(names) or '-'}")


@policy.command()
@policy_file_argument
@click.option(
    "--event",
    "event_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A Jira webhook delivery body (JSON).",
)
@json_option
def check(policy_file: Path, event_file: Path, as_json: bool) -> None:
    """Judge one delivery offline, against the issue snapshot it carries; writes nothing.

    Field names must be ids or be mapped under `fields:` in the policy, since there is no Jira
    to resolve them; group memberships (approvals, exemptions) cannot be checked offline.

    \b
    Example:
        hindsight policy check policy.yaml --event delivery.json --json
    """
    loaded = _load(policy_file)
    try:
        event = JiraEvent.from_payload(json.loads(event_file.read_text(encoding="utf-8")))
    except (ValueError, InvalidEvent) as exc:
        raise click.ClickException(f"{event_file}: not a Jira webhook delivery: {exc}") from None
    if event.issue is None:
        raise click.ClickException(f"{event_file}: the delivery carries no issue to judge")
    engine = PolicyEngine(loaded, ReportOnlyJira(snapshot=event.issue), offline=True)
    trigger = Trigger(event.webhook_event, "check", event.actor, event.status_change)
    _print_decisions(engine.evaluate_issue(event.issue, trigger), as_json)


@policy.command()
@click.argument("issue_key", metavar="KEY")
@policy_option
@json_option
@config_option
def explain(
    issue_key: str, policy_path: Path | None, as_json: bool, config_file: Path | None
) -> None:
    """Judge an issue now, read-only against live Jira, on its latest status change.

    \b
    Example:
        hindsight policy explain CHG-42
    """
    config = config_from(config_file)
    loaded = configured_policy(config, policy_path)
    jira = ReportOnlyJira(reads=live_jira(config))
    try:
        issue = jira.get_issue(issue_key)
        change = last_status_change(issue)
        engine = PolicyEngine(loaded, jira, report_only=True)
        decisions = engine.evaluate_issue(issue, Trigger("explain", "explain", None, change))
    except JiraApiError as exc:
        raise click.ClickException(str(exc)) from None
    _print_decisions(decisions, as_json)


@policy.command()
@policy_file_argument
@click.option("--jql", required=True, help="Which past issues to replay.")
@click.option("--limit", type=click.IntRange(1, 100_000), help="At most this many issues.")
@click.option("--all", "show_all", is_flag=True, help="Also list the moves that passed.")
@json_option
@config_option
def backtest(
    policy_file: Path,
    jql: str,
    limit: int | None,
    show_all: bool,
    as_json: bool,
    config_file: Path | None,
) -> None:
    """Replay past issues' changelogs: what would this policy have flagged? (read-only)

    \b
    Example:
        hindsight policy backtest policy.yaml --jql "project = CHG AND resolved >= -90d"
    """
    loaded = _load(policy_file)
    jira = ReportOnlyJira(reads=live_jira(config_from(config_file)))
    counts: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    try:
        for finding in run_backtest(loaded, jira, jql, limit=limit):
            status = finding.decision.status
            counts[status] = counts.get(status, 0) + 1
            if status != "pass" or show_all:
                rows.append(finding.to_dict())
                if not as_json:
                    d = finding.decision
                    echo_line(
                        f"{finding.issue_key} {finding.when} {finding.moved} by "
                        f"{finding.actor or '?'}: {d.rule} {status.upper()} - {d.summary}"
                    )
                    for reason in d.reason_texts:
                        echo_line(f"    - {reason}")
    except JiraApiError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"counts": counts, "findings": rows}, indent=2))
    else:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no guarded moves"
        click.echo(f"guarded moves judged: {summary}")


@click.command()
@click.option("--issue", help="Only this issue key.")
@click.option("--rule", help="Only this rule.")
@click.option("--since", help="Only entries at or after: 2026-03-01, 2026-03-01T12:00, 7d, 12h.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), help="Only the latest N entries.")
@click.option("--json", "fmt", flag_value="json", help="JSON lines, one entry per line.")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@config_option
def audit(
    issue: str | None,
    rule: str | None,
    since: str | None,
    limit: int | None,
    fmt: str | None,
    config_file: Path | None,
) -> None:
    """Show the policy audit log: every decision and action, oldest first.

    \b
    Example:
        hindsight audit --issue CHG-42
        hindsight audit --rule change-control --since 7d --csv > audit.csv
    """
    audit_db = config_from(config_file).policy.audit_db
    require_database(
        audit_db,
        "the service records decisions there (`hindsight serve`, or try `python3 dev.py demo`)",
    )
    log = open_audit_log(audit_db)
    try:
        entries = log.query(issue=issue, rule=rule, since=since, limit=limit)
    except BadAuditQuery as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        for entry in entries:
            click.echo(json.dumps(entry.to_dict()))
    elif fmt == "csv":
        click.echo(to_csv(entries), nl=False)
    else:
        for e in entries:
            echo_line(
                f"{e.at} {e.issue_key} {e.rule} ({e.mode}) {e.outcome.upper()}: {e.summary}"
                f" [{e.event} {e.delivery} by {e.actor or '-'}]"
            )
            for reason in e.reasons:
                echo_line(f"    - {reason}")
            for action in e.actions:
                line = action_text(action["kind"], action["detail"], action["result"])
                echo_line(f"    > {line}")
        if not entries:
            click.echo("no audit entries match", err=True)


@click.command()
@policy_option
@click.option("--report-only", is_flag=True, help="Judge and audit, but write nothing to Jira.")
@json_option
@config_option
def sweep(
    policy_path: Path | None, report_only: bool, as_json: bool, config_file: Path | None
) -> None:
    """Flag risks whose review date passed; re-judge recently updated issues (backstop).

    Run it from cron or a systemd timer, e.g. every 15 minutes; the policy's `sweep:` section
    sets how far back it looks. Decisions go to the audit log like the webhook's.

    \b
    Example:
        hindsight sweep
        hindsight sweep --report-only --json
    """
    config = config_from(config_file)
    loaded = configured_policy(config, policy_path)
    jira = live_jira(config)
    try:
        result = run_sweep(loaded, jira, report_only=report_only or config.policy.report_only)
    except JiraApiError as exc:
        raise click.ClickException(f"the sweep stopped: {exc}") from None
    log = open_audit_log(config.policy.audit_db)
    for trigger, decision in result.decisions:
        if decision.noteworthy:
            log.record([decision], trigger)
    noteworthy = [d for _, d in result.decisions if d.noteworthy]
    if as_json:
        payload = {"issues_checked": result.issues_checked,
                   "decisions": [d.to_dict() for d in noteworthy]}  # fmt: skip
        click.echo(json.dumps(payload, indent=2))
    else:
        click.echo(render_decisions(noteworthy, escape=printable) or "nothing to flag")
        click.echo(f"issues checked: {result.issues_checked}", err=True)


COMMANDS: list[click.Command] = [policy, audit, sweep]
