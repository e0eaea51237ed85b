"""What the lessons features may do per project: suggestion threshold and limit, seeding, capture.

`LessonsSettings` is the policy file's `suggestions:` section (embedded in
`plugin.policy.model.Policy`) and, with its defaults, what runs without a policy file: one model,
one set of defaults either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from plugin.strict_model import StrictModel, TextList

SeedMode = Literal["issue", "epic"]

DEFAULT_LIMIT = 3
MAX_LIMIT = 20


@dataclass(frozen=True)
class ProjectSuggestions:
    """The suggestion settings that apply to one project, its overrides merged in.

    `threshold` is a cosine similarity; None means the knowledge base's threshold calibrated
    for its embedding model (`LessonIndex.related_similarity`), so the bar moves with the model
    instead of holding one model's number for another.
    """

    enabled: bool
    threshold: float | None
    limit: int


class SuggestionOverride(StrictModel):
    """A project's own `enabled` / `threshold` / `limit`; what it leaves out comes from the top."""

    enabled: bool | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    limit: int | None = Field(default=None, ge=1, le=MAX_LIMIT)


class CaptureSettings(StrictModel):
    """Resolved issues of these types or with these labels capture a retrospective lesson."""

    enabled: bool = True
    issue_types: TextList = Field(default=("Retrospective", "Post-incident review"))
    labels: TextList = Field(default=("retrospective", "lessons-learned"))

    def matches(self, issue_type: str, labels: Iterable[str]) -> bool:
        """Whether an issue of this type with these labels is a retrospective (case-blind)."""
        if not self.enabled:
            return False
        types = {name.casefold() for name in self.issue_types}
        wanted = {label.casefold() for label in self.labels}
        return issue_type.casefold() in types or any(label.casefold() in wanted for label in labels)


class SeedSettings(StrictModel):
    """Seeding a new project with the lessons closest to it: listed in one "Lessons to apply"
    issue (`issue`) or as an epic with a sub-task per lesson (`epic`), at most `limit` of them."""

    enabled: bool = True
    mode: SeedMode = "issue"
    limit: int = Field(default=10, ge=1, le=50)  # as `seed-project --limit`: a list people read
    # unset: the model's calibrated threshold, as for suggestions
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    issue_type: str = Field(default="Task", min_length=1)  # the issue listing the lessons
    epic_type: str = Field(default="Epic", min_length=1)  # mode: epic


class LessonsSettings(StrictModel):
    """Lesson suggestions in Jira, with per-project overrides; capture and seeding."""

    enabled: bool = True
    # cosine similarity; unset: the threshold calibrated for the knowledge base's model
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    projects: dict[str, SuggestionOverride] = Field(default_factory=dict)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    seed: SeedSettings = Field(default_factory=SeedSettings)

    def suggestions_for(self, project: str | None) -> ProjectSuggestions:
        """Suggestion settings for `project` (its key, case-blind), falling back to the top."""
        override = SuggestionOverride()
        if project:
            wanted = project.casefold()
            override = next(
                (v for k, v in self.projects.items() if k.casefold() == wanted), override
            )
        return ProjectSuggestions(
            enabled=self.enabled if override.enabled is None else override.enabled,
            threshold=self.threshold if override.threshold is None else override.threshold,
            limit=self.limit if override.limit is None else override.limit,
        )
