"""Building blocks shared by the request models.

What is storable is decided in ``domain.validation``; these types ask it, and say
as much of it as JSON Schema can in the OpenAPI document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)

from conveyor.domain.validation import (
    INT64_MAX,
    INT64_MIN,
    datetime_problem,
    json_problem,
    text_problem,
)

# Text with neither NUL nor a lone surrogate; patterns below say it to OpenAPI too.
NO_NUL = r"^[^\u0000]*$"
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


def _when_ok(value: datetime) -> datetime:
    problem = datetime_problem(value)
    if problem:
        raise ValueError(problem)
    return value.astimezone(UTC)


def _integral(value: Any) -> Any:
    # JSON has one number type: 3.0 is the integer 3 (JSON Schema agrees), 3.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_json_ok)]
JsonValue = Annotated[Any, AfterValidator(_json_ok)]
Text = Annotated[StrictStr, Field(pattern=NO_NUL), AfterValidator(_text_ok)]
# Put before StrictInt: ``Annotated[StrictInt, Integral, Field(ge=…, le=…)]``.
Integral = BeforeValidator(_integral)
Int64 = Annotated[StrictInt, Integral, Field(ge=INT64_MIN, le=INT64_MAX)]
# An instant with a time zone, kept inside the calendar every layer can hold.
When = Annotated[
    AwareDatetime,
    AfterValidator(_when_ok),
    Field(description="RFC 3339 with an offset, between 0001-01-02 and 9999-12-30 UTC"),
]
LabelKey = Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=NO_NUL)]
LabelValue = Annotated[StrictStr, Field(max_length=200, pattern=NO_NUL)]
Labels = Annotated[dict[LabelKey, LabelValue], AfterValidator(_json_ok), Field(max_length=50)]


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped: typos must not pass."""

    model_config = ConfigDict(extra="forbid")


__all__ = [
    "Identifier",
    "Int64",
    "Integral",
    "JsonObject",
    "JsonValue",
    "Labels",
    "Strict",
    "StrictBool",
    "StrictInt",
    "TaskType",
    "Text",
    "When",
]
