"""Execution settings, from environment variables prefixed ``GRADSWEEP_``.

``get_settings()`` is the one way to read them (cached; tests clear the cache or pass their own).
The service's settings extend this class with the API's own.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from optimizers import Limits


class WorkerSettings(BaseSettings):
    """What execution needs: size limits of a sweep and the local pool's size."""

    model_config = SettingsConfigDict(env_prefix="GRADSWEEP_", extra="ignore")

    max_trials: int = Field(Limits().max_trials, ge=1, description="most trials in one sweep")
    max_steps: int = Field(Limits().max_steps, ge=1, description="most steps per trial")
    max_dim: int = Field(Limits().max_dim, ge=1, description="most coordinates per trial")
    max_work: float = Field(Limits().max_work, gt=0,
                            description="most trials × dim × steps in one sweep")
    jobs: int | None = Field(None, ge=1, description="worker processes of the local pool "
                             "(default: one per core)")

    def limits(self) -> Limits:
        """The engine's size limits."""
        return Limits(max_trials=self.max_trials, max_steps=self.max_steps,
                      max_dim=self.max_dim, max_work=self.max_work)


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    """The settings from the environment, read once."""
    return WorkerSettings()


__all__ = ["WorkerSettings", "get_settings"]
