"""The API's settings: the workers' settings plus what only the server needs.

Every setting comes from an environment variable with the prefix ``GRADSWEEP_`` (for example
``GRADSWEEP_REDIS_URL``, ``GRADSWEEP_PORT``); ``get_settings()`` reads them once.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workers.settings import WorkerSettings


class ServiceSettings(WorkerSettings):
    """Settings of ``gradsweep serve``."""

    model_config = SettingsConfigDict(env_prefix="GRADSWEEP_", extra="ignore")

    host: str = Field("127.0.0.1", description="address the API listens on")
    port: int = Field(8000, ge=0, le=65535, description="port the API listens on")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="uvicorn's log level")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest request body (413 above)")
    max_dataset_bytes: int = Field(64 << 20, ge=1024, description="largest dataset upload, "
                                   "POST /v1/datasets's own body limit (413 above)")
    api_store_retry_seconds: float = Field(
        2.0, ge=0, description="how long an API call waits for an unreachable store before it "
        "answers 503")
    page_size_max: int = Field(100, ge=1, description="largest page of GET /v1/sweeps")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="comma-separated keys; when set, every /v1/ request "
        "needs 'Authorization: Bearer <key>'")
    max_connections: int = Field(
        1000, ge=1, description="open HTTP connections (and requests in progress) the API "
        "serves at once; a request beyond them is answered 503 and its connection closed")
    keep_alive_seconds: int = Field(
        5, ge=1, description="how long a connection may wait before it sends a whole request "
        "head (idle after its last answer, or since it opened) before it is closed")
    backlog: int = Field(2048, ge=1, description="connections the kernel queues before the API "
                         "accepts them (listen backlog)")
    max_pending_chunks: int = Field(
        10_000, ge=1, description="a sweep whose chunks would take the backlog (the chunks of "
        "unfinished sweeps not yet done) over this is refused with 429 and Retry-After; an idle "
        "service takes any valid sweep")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value


class ClientSettings(BaseSettings):
    """Settings of the API's clients (``gradsweep submit``, ``service.client``)."""

    model_config = SettingsConfigDict(env_prefix="GRADSWEEP_", extra="ignore")

    url: str | None = Field(None, description="gradsweep submit: the API's base URL, e.g. "
                            "http://127.0.0.1:8000 (--url overrides it)")
    api_key: SecretStr | None = Field(None, description="gradsweep submit: sent as "
                                      "'Authorization: Bearer <key>' (--api-key overrides it)")


@lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """The settings from the environment, read once."""
    return ServiceSettings()


__all__ = ["ClientSettings", "ServiceSettings", "get_settings"]
