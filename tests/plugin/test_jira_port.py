"""The port's values: what they promise whatever order or shape Jira sent."""

from __future__ import annotations

from plugin.jira.port import ChangeEntry, ChangeItem, Issue, IssueType, Status

STATUS = ChangeItem("status", "status", "1", "To Do", "3", "In Progress")


def _entry(entry_id: str, created: str) -> ChangeEntry:
    return ChangeEntry(entry_id, created, None, (STATUS,))


def _issue(*entries: ChangeEntry) -> Issue:
    return Issue("CHG-1", "1", "CHG", IssueType("1", "Change"), Status("3", "x"), changelog=entries)


def test_the_changelog_is_oldest_first_whatever_order_jira_listed_it_in() -> None:
    # Cloud's expand=changelog lists the newest first; authors' time zones differ in the offset
    newest = _entry("10", "2026-03-02T10:30:00.000+0100")  # 09:30 UTC
    middle = _entry("12", "2026-03-02T09:00:00.000+0000")
    tied_late = _entry("9", "2026-03-02T01:00:00.000-0800")  # 09:00 UTC, same instant, lower id
    oldest = _entry("7", "2026-03-01T23:00:00.000+0000")

    issue = _issue(newest, middle, tied_late, oldest)

    assert [e.id for e in issue.changelog] == ["7", "9", "12", "10"]
    assert [e.id for e in issue.history_newest_first()] == ["10", "12", "9", "7"]
    assert [e.id for e in _issue(*issue.changelog).changelog] == ["7", "9", "12", "10"]


def test_numeric_ids_order_entries_of_the_same_millisecond() -> None:
    same = "2026-03-02T09:00:00.000+0000"
    issue = _issue(_entry("100", same), _entry("99", same), _entry("1000", same))
    assert [e.id for e in issue.changelog] == ["99", "100", "1000"]
