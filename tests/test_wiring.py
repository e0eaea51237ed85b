"""The composition root maps every setting an area reads onto its typed options."""

from __future__ import annotations

from pathlib import Path

import pytest

from hindsight.config import load_settings
from hindsight.jira_metrics import CountingJira
from hindsight.wiring import Config, build_runtime
from plugin.jira.errors import JiraApiError
from testkit.memory_jira import MemoryJira


def _config(tmp_path: Path, **overrides: object) -> Config:
    values = {"db": tmp_path / "h.db", "webhook_secret": ["s1", "s0"], **overrides}
    return Config(load_settings(environ={}, overrides=values))


def test_each_area_gets_its_settings(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        feedback_link_days=7,
        web_token=["w"],
        web_user_header="X-Forwarded-User",
        editor_token=["e"],
        editors=["ann"],
        public_url="https://hindsight.example.com/",
        max_body_bytes=4096,
        max_attempts=3,
        policy_report_only=True,
        embed_model="/models/x",
    )
    assert config.lessons.feedback_link_days == 7  # was read by getattr with a default of 90
    assert config.lessons.base_url == "https://hindsight.example.com"
    assert config.lessons.embed_model == config.kb.embed_model == "/models/x"
    access = config.web.access
    assert (access.tokens, access.user_header) == (("w",), "X-Forwarded-User")
    assert (access.editor_tokens, access.editors) == (("e",), frozenset({"ann"}))
    assert access.allowed_origins == ("https://hindsight.example.com",)
    assert config.edge.credentials.secrets == ("s1", "s0")
    assert (config.edge.max_body_bytes, config.edge.retry.max_attempts) == (4096, 3)
    assert config.policy.report_only and config.policy.audit_db == tmp_path / "h.db"
    assert config.jira is None


def test_no_secret_in_the_options_repr(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        webhook_secret=["hook-s3cret"],
        web_token=["web-s3cret"],
        editor_token=["edit-s3cret"],
    )
    shown = repr(config.web) + repr(config.edge) + repr(config.log)
    assert "s3cret" not in shown


def test_the_runtime_is_built_once_with_its_lessons_services(tmp_path: Path) -> None:
    runtime = build_runtime(_config(tmp_path), installers=())
    assert runtime.lessons.options.report_only  # no Jira configured
    assert runtime.lessons.options.feedback_secrets  # derived from the webhook secrets
    assert runtime.edge is runtime.config.edge  # options are built once per process


@pytest.mark.parametrize("method", ["get_issue", "search"])
def test_jira_errors_are_counted_then_raised(method: str) -> None:
    """Also an error raised while a search's pages are read, not only when it is called."""
    inner = MemoryJira()
    inner.put("CHG-1", summary="x")
    counted: list[int | None] = []
    jira = CountingJira(inner, counted.append)
    inner.fail(method, status=503)
    with pytest.raises(JiraApiError):
        if method == "search":
            list(jira.search("project = CHG"))
        else:
            jira.get_issue("CHG-1")
    assert counted == [503]
    assert jira.get_issue("CHG-1").key == "CHG-1"  # the next call goes through, uncounted
    assert counted == [503]
