"""The base of every configuration model in a YAML file: strict, frozen, errors that name keys.

Shared by the policy file's models (`plugin.policy.model`) and the lessons settings it embeds
(`plugin.lessons.config`), which cannot import each other's package in both directions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    """Frozen, and unknown keys fail naming the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = [info.alias or name for name, info in cls.model_fields.items()]
            for key in data:
                if key not in allowed:
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key '{key}'; allowed: {allowed}",
                        {"key": str(key), "allowed": ", ".join(allowed)},
                    )
        return data


def as_text_tuple(value: Any) -> Any:
    """Let a single value stand for a one-item list, and YAML numbers/booleans for their text."""
    if value is None:
        return ()
    if isinstance(value, str | int | float | bool):
        return (_scalar_text(value),)
    if isinstance(value, list | tuple):
        return tuple(_scalar_text(v) if isinstance(v, int | float | bool) else v for v in value)
    return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


TextList = Annotated[tuple[str, ...], BeforeValidator(as_text_tuple)]
