"""What every scenario table shares: strict types, no unknown keys, immutable once loaded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Table(BaseModel):
    """A scenario table: strict types, no unknown keys, immutable once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
