"""``/v1/optimizers``, ``/v1/schedules`` and ``/v1/objectives``: what can be swept, read from
the engine."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from optimizers import objective_catalogue, optimizer_catalogue
from optimizers.catalogue import schedule_catalogue

from ..deps import require_api_key
from ..errors import error_responses

# 422 in the error shape, not FastAPI's default HTTPValidationError (the authorization header is
# a parameter, so FastAPI documents a 422)
router = APIRouter(prefix="/v1", tags=["catalogue"], dependencies=[Depends(require_api_key)],
                   responses=error_responses(401, 422))
_OPTIMIZERS = optimizer_catalogue()
_SCHEDULES = schedule_catalogue()
_OBJECTIVES = objective_catalogue()


@router.get("/optimizers")
def optimizers() -> list[dict[str, Any]]:
    """Every optimizer: formula, hyperparameters with defaults and valid ranges, options."""
    return _OPTIMIZERS


@router.get("/schedules")
def schedules() -> list[dict[str, Any]]:
    """Every learning-rate schedule: formula, torch equivalent, parameters with defaults and
    valid ranges."""
    return _SCHEDULES


@router.get("/objectives")
def objectives() -> list[dict[str, Any]]:
    """Every objective: formula, dimensions, parameters, start point and minimum."""
    return _OBJECTIVES
