"""The policy file as typed, strict models: every key is known, every value checked at load.

`Policy` is what `plugin.policy.loader` builds from YAML. Unknown keys are refused with the list of
allowed ones (see `plugin.strict_model.StrictModel`), closed sets are `Literal`s, and cross-field
rules (a change rule needs a guard and requirements, a risk rule needs a way to tell risky issues)
are model validators, so a policy that loads is a policy the engine can run. The `suggestions:`
section is the lessons area's own model (`plugin.lessons.config.LessonsSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from plugin.lessons.config import LessonsSettings
from plugin.strict_model import StrictModel, TextList, as_text_tuple

Mode = Literal["enforce", "report-only"]
CategoryName = Literal["new", "indeterminate", "done"]
ChangeTypeName = Literal["standard", "normal", "emergency"]
RESPONSE_STRATEGIES = ("avoid", "transfer", "mitigate", "accept")
DEFAULT_PRIORITY_ORDER = ("Lowest", "Low", "Medium", "High", "Highest")
RULE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

CategoryList = Annotated[tuple[CategoryName, ...], BeforeValidator(as_text_tuple)]


class Scope(StrictModel):
    """Which issues a rule looks at. Every listed predicate must hold; names match case-blind."""

    projects: TextList = ()
    issue_types: TextList = ()
    labels: TextList = ()  # the issue carries at least one of these
    exclude_labels: TextList = ()  # ...and none of these
    priorities: TextList = ()
    components: TextList = ()
    statuses: TextList = ()  # current status, by name or id
    status_categories: CategoryList = ()
    fields: dict[str, TextList] = Field(default_factory=dict)  # field (name or id): values


class Guard(StrictModel):
    """The transitions a rule guards: into any of these statuses (name or id) or categories.

    `revert: false` says the workflow has no way back from these statuses (or moving back is
    not wanted): a violation is commented, labelled and flagged, never moved back, and
    `hindsight doctor` does not look for a transition back.
    """

    statuses: TextList = ()
    categories: CategoryList = ()
    revert: bool = True

    @model_validator(mode="after")
    def _not_empty(self) -> Guard:
        if not self.statuses and not self.categories:
            raise PydanticCustomError(
                "empty_guard", "name at least one of 'statuses' or 'categories'"
            )
        return self


class ApprovalRequirement(StrictModel):
    """`field` was set to `value` by a member of `group` (read from the changelog)."""

    field: str
    value: str = "Approved"
    group: str


class LinkRequirement(StrictModel):
    """At least `at_least` linked issues of this link type / issue type (done, unless told)."""

    link: str | None = None  # link type name ("Blocks") or direction text ("is tested by")
    issue_type: str | None = None
    done: bool = True
    at_least: int = Field(default=1, ge=1)


class SubtaskRequirement(StrictModel):
    """At least `at_least` sub-tasks of this type / whose summary contains this text."""

    issue_type: str | None = None
    summary: str | None = None
    done: bool = True
    at_least: int = Field(default=1, ge=1)


class Requirements(StrictModel):
    """What must be true before a guarded transition; each missing item is reported by name."""

    fields: TextList = ()  # each must be filled in
    field_values: dict[str, TextList] = Field(default_factory=dict)  # field: allowed values
    approved_by: tuple[ApprovalRequirement, ...] = ()
    links: tuple[LinkRequirement, ...] = ()
    subtasks: tuple[SubtaskRequirement, ...] = ()

    @field_validator("approved_by", "links", "subtasks", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, Mapping) else value

    @property
    def empty(self) -> bool:
        return not (
            self.fields or self.field_values or self.approved_by or self.links or self.subtasks
        )


class ReviewTask(StrictModel):
    """A sub-task Hindsight creates once (found again by its summary), due within N days."""

    summary: str
    description: str = ""
    due_in_days: int = Field(default=2, ge=0, le=365)
    # who gets it: "assignee", "reporter", or a user-picker field (name or id); falls back to
    # the assignee, then the reporter, when that field is empty
    assignee: str = "assignee"
    label: str | None = None  # put on the parent while the sub-task is open
    flag: bool = True  # set the parent's "Flagged" field while the sub-task is open


class ChangeTypeSpec(StrictModel):
    values: TextList = ()  # values of the change type field that mean this type
    requires: Requirements = Field(default_factory=Requirements)


class EmergencySpec(StrictModel):
    values: TextList = ()
    review: ReviewTask = Field(
        default_factory=lambda: ReviewTask(summary="Post-implementation review")
    )


class ChangeTypes(StrictModel):
    """ITIL change types, told apart by one field: standard, normal, emergency."""

    field: str
    default: ChangeTypeName = "normal"  # when the field is empty or holds another value
    standard: ChangeTypeSpec | None = None
    normal: ChangeTypeSpec | None = None
    emergency: EmergencySpec | None = None

    @model_validator(mode="after")
    def _default_declared(self) -> ChangeTypes:
        if getattr(self, self.default) is None:
            raise PydanticCustomError(
                "undeclared_default",
                "default change type '{name}' is not declared here; declare it or change "
                "'default' to one of: {declared}",
                {"name": self.default, "declared": ", ".join(self.declared) or "(none declared)"},
            )
        return self

    @property
    def declared(self) -> list[str]:
        return [n for n in ("standard", "normal", "emergency") if getattr(self, n) is not None]


class Exemption(StrictModel):
    """A label that waives the rule, optionally only when a member of `group` added it."""

    label: str
    group: str | None = None
    reason: str = ""


class Threshold(StrictModel):
    field: str
    at_least: float


class LikelihoodImpact(StrictModel):
    likelihood: str  # field name or id, numeric or "4 - Likely"
    impact: str
    at_least: float


class Risky(StrictModel):
    """An issue is risky when any one of these holds."""

    priority_at_least: str | None = None
    priority_order: TextList = Field(default=DEFAULT_PRIORITY_ORDER)
    labels: TextList = ()
    score: Threshold | None = None
    likelihood_impact: LikelihoodImpact | None = None

    @model_validator(mode="after")
    def _something_to_test(self) -> Risky:
        if not (self.priority_at_least or self.labels or self.score or self.likelihood_impact):
            raise PydanticCustomError(
                "empty_risky",
                "name at least one of: priority_at_least, labels, score, likelihood_impact",
            )
        order = [p.casefold() for p in self.priority_order]
        if self.priority_at_least and self.priority_at_least.casefold() not in order:
            raise PydanticCustomError(
                "unknown_priority",
                "priority_at_least '{value}' is not in priority_order: {order}",
                {"value": self.priority_at_least, "order": ", ".join(self.priority_order)},
            )
        return self


class _RuleBase(StrictModel):
    name: Annotated[str, Field(pattern=RULE_NAME_PATTERN)]
    description: str = ""
    mode: Mode | None = None  # defaults.mode when absent
    label: str | None = None  # defaults.label when absent
    scope: Scope = Field(default_factory=Scope)
    exemptions: tuple[Exemption, ...] = ()


class ChangeControlRule(_RuleBase):
    """Requirements checked when an issue enters a guarded status; violations are reverted."""

    kind: Literal["change-control"]
    guard: Guard
    requires: Requirements | None = None
    change_types: ChangeTypes | None = None

    @model_validator(mode="after")
    def _requirements_somewhere(self) -> ChangeControlRule:
        if (self.requires is None) == (self.change_types is None):
            raise PydanticCustomError(
                "requires_or_change_types",
                "give exactly one of 'requires' (one set of requirements) or 'change_types' "
                "(requirements per standard/normal/emergency change)",
            )
        return self


class RiskReviewRule(_RuleBase):
    """Risky issues get a review sub-task; they may not close while it is open or incomplete."""

    kind: Literal["risk-review"]
    risky: Risky
    review: ReviewTask = Field(default_factory=lambda: ReviewTask(summary="Risk review"))
    requires: Requirements = Field(default_factory=Requirements)
    guard: Guard = Field(default_factory=lambda: Guard(categories=("done",)))
    next_review_field: str | None = None  # a date field; `hindsight sweep` flags it when passed
    overdue_label: str = "risk-review-overdue"


AnyRule = ChangeControlRule | RiskReviewRule  # every rule kind; each has an evaluator
Rule = Annotated[AnyRule, Field(discriminator="kind")]


class Defaults(StrictModel):
    mode: Mode = "enforce"
    label: str = "policy-violation"
    flag_field: str = "Flagged"  # the field set when a change must be flagged
    flag_value: str = "Impediment"


class Sweep(StrictModel):
    """What `hindsight sweep` looks at: issues updated within this window are re-evaluated."""

    recent_minutes: int = Field(default=90, ge=1, le=60 * 24 * 31)


class Policy(StrictModel):
    """A whole policy file."""

    version: Literal[1]
    defaults: Defaults = Field(default_factory=Defaults)
    # field names the policy uses -> Jira ids; saves a lookup and lets `policy check` run offline
    fields: dict[str, Annotated[str, Field(pattern=r"^(customfield_\d+|[a-z]+)$")]] = Field(
        default_factory=dict
    )
    rules: tuple[Rule, ...] = ()
    sweep: Sweep = Field(default_factory=Sweep)
    # owned by the lessons area: one model, one set of defaults with or without a policy file
    suggestions: LessonsSettings = Field(default_factory=LessonsSettings)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Policy:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise PydanticCustomError(
                    "duplicate_rule", "rule name '{name}' is used twice", {"name": rule.name}
                )
            seen.add(rule.name)
        return self

    def rule(self, name: str) -> ChangeControlRule | RiskReviewRule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def mode_of(self, rule: ChangeControlRule | RiskReviewRule) -> Mode:
        return rule.mode or self.defaults.mode

    def label_of(self, rule: ChangeControlRule | RiskReviewRule) -> str:
        return rule.label or self.defaults.label
