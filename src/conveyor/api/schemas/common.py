"""Building blocks shared by the request models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from conveyor.domain.validation import json_problem, text_problem

Identifier = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
TaskType = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]


def _json_ok(value: Any) -> Any:
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _text_ok(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_ok)]
JsonValue = Annotated[Any, AfterValidator(_json_ok)]
Text = Annotated[StrictStr, AfterValidator(_text_ok)]
Labels = Annotated[
    dict[Annotated[str, Field(max_length=100)], Annotated[StrictStr, Field(max_length=200)]],
    AfterValidator(_json_ok),
    Field(max_length=50),
]


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped: typos must not pass."""

    model_config = ConfigDict(extra="forbid")


__all__ = [
    "Identifier",
    "JsonObject",
    "JsonValue",
    "Labels",
    "Strict",
    "StrictBool",
    "StrictInt",
    "TaskType",
    "Text",
]
