"""The scenario's building blocks: the base of every section and the value types they share.

:mod:`carnet.scenario.schema` and :mod:`carnet.scenario.policies` both build on them (the schema
names the policies' classes in its fields, so they cannot live in the schema itself).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: Points are stored as int16: every bound and start value must fit in it.
POINTS_MIN, POINTS_MAX = -32768, 32767

Name = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$"), Field(description="a lowercase name")
]
# A scenario's name may also hold hyphens (it names run folders, never a column).
ScenarioName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,39}$"),
    Field(description="a lowercase name; hyphens allowed"),
]
GradeName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9_]{0,15}$")]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Multiplier = Annotated[float, Field(ge=0.0, le=1000.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Points = Annotated[int, Field(ge=POINTS_MIN, le=POINTS_MAX)]

SENSITIVITIES = ("medical", "location", "financial", "speech", "identity", "social")
Sensitivity = Literal["medical", "location", "financial", "speech", "identity", "social"]


class Section(BaseModel):
    """Base of every scenario section: unknown keys, wrong types, NaN and infinities are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
