"""The base of every inventory model: unknown keys are errors, values are frozen, a key
given as None reads as its empty default."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class InventoryModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True,
                              validate_by_alias=True)

    @model_validator(mode="before")
    @classmethod
    def _absent_is_default(cls, data):
        return {} if data is None else data  # "spf": None reads as "spf": {}
