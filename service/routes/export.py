"""Exports of a sweep's results in other formats (CSV)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ..deps import require_api_key
from ..errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])
