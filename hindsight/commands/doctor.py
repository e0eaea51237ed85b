"""`hindsight doctor`: the checklist of what the configured Jira lets Hindsight do."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import cast

import click

from hindsight.commands.policy import (
    configured_policy,
    jira_options,
    json_option,
    live_jira,
    policy_option,
)
from hindsight.commands.service import config_from, config_option
from hindsight.terminal import printable
from plugin.doctor import Doctor, DoctorJira, DoctorReport
from plugin.jira.errors import JiraApiError

MARKS = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skip": "SKIP"}


def render_report(report: DoctorReport) -> str:
    """The checklist for a terminal: one line per check, its fix under each failure."""
    lines = [f"Hindsight doctor: {report.jira_url}"]
    for check in report.checks:
        where = f" [{check.project}]" if check.project else ""
        lines.append(f"  {MARKS[check.status]}  {check.name}{where}: {check.detail}")
        if check.fix and check.status in ("fail", "warn"):
            lines.append(f"        fix: {check.fix}")
    counts = report.counts()
    lines.append(
        f"{len(report.checks)} checks: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['warn']} warnings, {counts['skip']} skipped"
    )
    return "\n".join(printable(line) for line in lines)  # details quote Jira's own text


@click.command()
@policy_option
@json_option
@config_option
def doctor(policy_path: Path | None, as_json: bool, config_file: Path | None) -> None:
    """Check the configured Jira: credentials, service account, permissions, fields,
    workflows' ways back, group lookups and the public URL. Read-only.

    Every failure comes with its fix; exits 1 when any check fails.

    \b
    Example:
        hindsight doctor
        hindsight doctor --policy deploy/policies/itil-change.yaml --json
    """
    config = config_from(config_file)
    policy = (
        configured_policy(config, policy_path) if policy_path or config.policy.policy_file else None
    )
    jira = live_jira(config)
    options = jira_options(config)
    checker = Doctor(
        cast(DoctorJira, jira),
        policy,
        jira_url=options.url,
        public_url=options.public_url,
        service_account=options.service_account,
        credentials=options.credentials,
    )
    try:
        report = checker.run()
    except JiraApiError as exc:
        raise click.ClickException(f"Jira failed during the checks: {exc}") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_report(report))
    if report.failed:
        sys.exit(1)


COMMANDS: list[click.Command] = [doctor]
