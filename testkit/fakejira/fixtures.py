"""pytest fixtures for the fake Jira, registered for every test through tests/conftest.py.

- `fake_jira`: a Cloud-flavoured fake with the default change site (`scenario.py`).
- `fake_jira_server`: the same as Data Center (name/key users, no `fieldId`, PAT auth).
- `jira_adapter` / `jira_adapter_server`: a real `JiraAdapter` logged in as the service account.
- `fake_jira_factory(flavour="cloud", populate=True, **kwargs)`: more fakes in one test.

Every request is validated against Atlassian's descriptions in ../shared/data/jira-openapi (2022
and 2025-12) when present; a test whose requests break them fails at teardown with the list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testkit.fakejira.fake import FakeJira
from testkit.fakejira.openapi import RequestValidator, load_validator
from testkit.fakejira.scenario import populate_change_site


@pytest.fixture(scope="session")
def jira_openapi_validator() -> RequestValidator | None:
    """The OpenAPI request validator, built once per session (None when no description is there)."""
    return load_validator()


@pytest.fixture
def fake_jira_factory(
    jira_openapi_validator: RequestValidator | None,
) -> Iterator[Callable[..., FakeJira]]:
    started: list[FakeJira] = []

    def make(flavour: str = "cloud", *, populate: bool = True, **kwargs: Any) -> FakeJira:
        kwargs.setdefault("validator", jira_openapi_validator)
        fake = FakeJira(flavour, **kwargs).start()  # type: ignore[arg-type]
        started.append(fake)
        return populate_change_site(fake) if populate else fake

    yield make
    violations = [v for fake in started for v in fake.violations]
    for fake in started:
        fake.stop()
    if violations:
        pytest.fail(
            "requests not allowed by the Jira REST API description:\n" + "\n".join(violations),
            pytrace=False,
        )


@pytest.fixture
def fake_jira(fake_jira_factory: Callable[..., FakeJira]) -> FakeJira:
    return fake_jira_factory("cloud")


@pytest.fixture
def fake_jira_server(fake_jira_factory: Callable[..., FakeJira]) -> FakeJira:
    return fake_jira_factory("server")


def adapter_for(fake: FakeJira, **kwargs: Any):
    """A `JiraAdapter` logged in to `fake` as its service account (no real sleeping)."""
    from plugin.jira.adapter import connect

    bot = fake.service_account
    kwargs.setdefault("sleep", lambda seconds: None)
    kwargs.setdefault("timeout", 5.0)
    if fake.flavour == "cloud":
        return connect(fake.base_url, email=bot.email, api_token=bot.api_token, **kwargs)
    return connect(fake.base_url, pat=bot.pat, **kwargs)


@pytest.fixture
def jira_adapter(fake_jira: FakeJira):
    return adapter_for(fake_jira)


@pytest.fixture
def jira_adapter_server(fake_jira_server: FakeJira):
    return adapter_for(fake_jira_server)
