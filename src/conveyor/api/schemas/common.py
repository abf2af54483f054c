"""Building blocks shared by the request models.

What is storable is decided in ``domain.validation``; these types ask it, and say
as much of it as JSON Schema can in the OpenAPI document.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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
    WithJsonSchema,
)

from conveyor.api.input import BODY_CLEARED
from conveyor.domain.validation import (
    INT64_MAX,
    INT64_MIN,
    datetime_problem,
    json_problem,
    text_problem,
)

# Text with neither NUL nor a lone surrogate; patterns below say it to OpenAPI too.
NO_NUL = r"^[^\u0000]*$"
# Ids the service makes (UUIDs, node-…) and ids clients choose alike.
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
OPTIONAL_ID_PATTERN = r"^(?:[A-Za-z0-9_.:-]{1,64})?$"
Identifier = Annotated[StrictStr, Field(pattern=ID_PATTERN)]
TaskType = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]


def _json_ok(value: Any) -> Any:
    if BODY_CLEARED.get():
        return value  # the whole body passed the same rule (api/input.py)
    problem = json_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def text_ok(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A date as written (before its offset is applied) from 0001-01-03 to 9999-12-28: an
# offset is under a day, so such a time is inside the calendar ``datetime_problem``
# allows, and unlike an instant's range this one is a pattern OpenAPI can state.
FIRST_DATE, LAST_DATE = date(1, 1, 3), date(9999, 12, 28)
_MIDDLE_YEARS = (
    "000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8]"
)
WHEN_PATTERN = (
    f"^(?:(?:{_MIDDLE_YEARS})-"
    "|0001-(?:01-(?:0[3-9]|[12][0-9]|3[01])|(?:0[2-9]|1[0-2])-)"
    "|9999-(?:(?:0[1-9]|1[01])-|12-(?:0[1-9]|1[0-9]|2[0-8])))"
)


def _text_only(value: Any) -> Any:
    if not isinstance(value, str | datetime):
        raise ValueError("an RFC 3339 string is required")
    return value


def _when_ok(value: datetime) -> datetime:
    problem = datetime_problem(value)
    if not problem and not FIRST_DATE <= value.date() <= LAST_DATE:
        problem = f"the date must be from {FIRST_DATE} to {LAST_DATE}"
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
Text = Annotated[StrictStr, Field(pattern=NO_NUL), AfterValidator(text_ok)]
# JSON Schema has one ``pattern`` per schema: a type with a pattern of its own says
# "no NUL" inside it (``[^\u0000]``) instead of adding Text's.
# Put last: ``Annotated[StrictInt, Field(ge=…, le=…), Integral]``. It then runs first, and
# the bounds stay on the integer schema, where OpenAPI shows them as minimum/maximum
# (put before them, pydantic can only emit its own ``ge``/``le`` keys, which no JSON
# Schema tool reads).
Integral = BeforeValidator(_integral)
Int64 = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX), Integral]
# The largest integer every JSON reader holds exactly (RFC 7493 §2.2). A bound of
# 2**63 - 1 is not a float, so tools that read numbers as floats misjudge values
# near it; where the domain never comes close (a task's version), say this one.
MAX_SAFE_INTEGER = 2**53 - 1
Version = Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INTEGER), Integral]
# An instant with a time zone, kept inside the calendar every layer can hold.
When = Annotated[
    AwareDatetime,
    # A string, as the schema says: pydantic would also read a number as seconds
    # since 1970, which no client means and the document does not admit.
    BeforeValidator(_text_only),
    AfterValidator(_when_ok),
    Field(
        description=f"RFC 3339 with an offset, dated {FIRST_DATE} to {LAST_DATE}",
        json_schema_extra={"pattern": WHEN_PATTERN},
    ),
]
LabelKey = Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=NO_NUL)]
LabelValue = Annotated[StrictStr, Field(max_length=200, pattern=NO_NUL)]
MAX_LABELS = 50
# Stated by hand: pydantic would put the key rule in ``patternProperties`` (which lets
# any other key through) and the count limit in ``maxLength`` (which objects ignore).
LABELS_SCHEMA = {
    "type": "object",
    "maxProperties": MAX_LABELS,
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NO_NUL},
    "additionalProperties": {"type": "string", "maxLength": 200, "pattern": NO_NUL},
}
Labels = Annotated[
    dict[LabelKey, LabelValue],
    Field(max_length=MAX_LABELS),
    AfterValidator(_json_ok),
    WithJsonSchema(LABELS_SCHEMA),
]


class Strict(BaseModel):
    """Unknown fields are an error, not silently dropped: typos must not pass."""

    model_config = ConfigDict(extra="forbid")


__all__ = [
    "MAX_SAFE_INTEGER",
    "NO_NUL",
    "OPTIONAL_ID_PATTERN",
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
    "Version",
    "When",
    "text_ok",
]
