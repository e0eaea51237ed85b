"""What the lessons features may do per project: suggestion threshold and limit, seeding, capture.

The values come from the policy file's `suggestions:` section (owned by the policy package) when
one is loaded; `StaticLessonsPolicy` serves the built-in defaults, or fixed values in tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

SeedMode = Literal["issue", "epic"]

# Cosine similarity of all-MiniLM-L6-v2 between an issue's text and a lesson. Measured on the
# gitbugs-hadoop duplicate pairs (bench/suggest_latency.py); see README for the trade-off.
DEFAULT_THRESHOLD = 0.55
DEFAULT_LIMIT = 3


@dataclass(frozen=True)
class SuggestionSettings:
    """How lessons are suggested on one project's new issues."""

    enabled: bool = True
    threshold: float = DEFAULT_THRESHOLD
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"suggestion threshold must be within 0..1, got {self.threshold}")
        if not 1 <= self.limit <= 20:
            raise ValueError(f"suggestion limit must be within 1..20, got {self.limit}")


@dataclass(frozen=True)
class SeedSettings:
    """How a new project is seeded with lessons."""

    enabled: bool = True
    limit: int = 10  # the policy file's default too (plugin.policy.model.Seed)
    mode: SeedMode = "issue"
    issue_type: str = "Task"
    epic_type: str = "Epic"
    summary: str = "Lessons to apply"
    threshold: float = 0.25  # a project's description is short and generic: a lower bar


@dataclass(frozen=True)
class CaptureSettings:
    """Which resolved issues are retrospectives to ingest into the knowledge base."""

    enabled: bool = True
    issue_types: frozenset[str] = frozenset({"retrospective"})  # lower-cased names
    labels: frozenset[str] = frozenset({"retrospective"})  # lower-cased

    def matches(self, issue_type: str, labels: tuple[str, ...] | list[str]) -> bool:
        if not self.enabled:
            return False
        return issue_type.lower() in self.issue_types or any(
            label.lower() in self.labels for label in labels
        )


@runtime_checkable
class LessonsPolicy(Protocol):
    """Per-project lessons settings, as the policy file declares them."""

    def suggestions_for(self, project: str | None) -> SuggestionSettings: ...

    def seed_for(self, project: str | None) -> SeedSettings: ...

    def capture_for(self, project: str | None) -> CaptureSettings: ...


@dataclass(frozen=True)
class StaticLessonsPolicy:
    """Defaults for every project, optionally overridden per project key."""

    suggestions: SuggestionSettings = SuggestionSettings()
    seed: SeedSettings = SeedSettings()
    capture: CaptureSettings = CaptureSettings()
    per_project: Mapping[str, SuggestionSettings] = field(default_factory=dict)

    def suggestions_for(self, project: str | None) -> SuggestionSettings:
        return self.per_project.get(project or "", self.suggestions)

    def seed_for(self, project: str | None) -> SeedSettings:
        return self.seed

    def capture_for(self, project: str | None) -> CaptureSettings:
        return self.capture


class PolicyFileLessons:
    """`LessonsPolicy` over a loaded policy file's `suggestions:` section.

    Duck-typed on the policy model (`suggestions_for(project)` and `suggestions.capture` /
    `suggestions.seed`), so this module does not depend on how the policy package parses YAML.
    """

    def __init__(self, policy: Any, *, seed_defaults: SeedSettings = SeedSettings()) -> None:
        self.policy = policy
        self.seed_defaults = seed_defaults

    def suggestions_for(self, project: str | None) -> SuggestionSettings:
        found = self.policy.suggestions_for(project)
        return SuggestionSettings(
            enabled=found.enabled, threshold=found.threshold, limit=min(found.limit, 20)
        )

    def seed_for(self, project: str | None) -> SeedSettings:
        seed = getattr(self.policy.suggestions, "seed", None)
        if seed is None:
            return self.seed_defaults
        return replace(
            self.seed_defaults,
            enabled=getattr(seed, "enabled", self.seed_defaults.enabled),
            mode=getattr(seed, "mode", self.seed_defaults.mode),
            limit=getattr(seed, "limit", self.seed_defaults.limit),
        )

    def capture_for(self, project: str | None) -> CaptureSettings:
        capture = getattr(self.policy.suggestions, "capture", None)
        if capture is None:
            return CaptureSettings()
        return CaptureSettings(
            enabled=getattr(capture, "enabled", True),
            issue_types=frozenset(name.lower() for name in capture.issue_types),
            labels=frozenset(label.lower() for label in capture.labels),
        )
