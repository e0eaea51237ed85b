"""Read by the type checker, never run: every `JiraPort` implementation is a structural match.

`test_jira_conformance.py` runs mypy over this file; a method an implementation lacks, or one
whose parameters or return type drifted from the Protocol, fails it with the member named.
"""

from __future__ import annotations

from hindsight.jira_metrics import CountingJira
from plugin.jira.adapter import JiraAdapter
from plugin.jira.port import JiraPort
from plugin.jira.report_only import ReportOnlyJira
from testkit.memory_jira import MemoryJira


def adapter(jira: JiraAdapter) -> JiraPort:
    return jira


def report_only(jira: ReportOnlyJira) -> JiraPort:
    return jira


def in_memory(jira: MemoryJira) -> JiraPort:
    return jira


def counting(jira: CountingJira) -> JiraPort:
    return jira
