"""The base of every scenario section, below the schema and the modules that declare sections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every scenario section: unknown keys, wrong types, NaN and infinities are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
