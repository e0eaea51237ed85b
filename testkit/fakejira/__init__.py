"""A faithful fake Jira for tests: a real HTTP server the `jira` library talks to.

See README.md beside this file for the setup API; `testkit.fakejira.fixtures` holds the pytest
fixtures (`fake_jira`, `fake_jira_server`, `jira_adapter`...).
"""

from testkit.fakejira.fake import FakeJira, JiraRestError, RecordedRequest
from testkit.fakejira.faults import RESOLUTION_NOT_ON_SCREEN, Fault
from testkit.fakejira.model import FakeIssue, FakeUser
from testkit.fakejira.webhooks import Webhook

__all__ = [
    "RESOLUTION_NOT_ON_SCREEN",
    "FakeIssue",
    "FakeJira",
    "FakeUser",
    "Fault",
    "JiraRestError",
    "RecordedRequest",
    "Webhook",
]
