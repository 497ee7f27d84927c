"""The base of every model read from the config file a user writes (the bus lines here, the rest
of the schema in the controller's config): one place that says how strictly keys are read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """No unknown keys, no coercion: `unit_id = "11"` or `period_s = true` is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
