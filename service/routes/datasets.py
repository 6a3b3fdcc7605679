"""``/v1/datasets``: upload a dataset for the model objectives, list, read and delete them.

``POST /v1/datasets`` takes the file itself as the body: CSV (a header row, numeric cells,
``?target=<column>``) or an NPZ archive with arrays ``X`` and ``y`` (recognised by its magic
number, loaded without pickle), ``?task=classification|regression`` to override the guess. Its
body may be up to ``GRADSWEEP_MAX_DATASET_BYTES`` (the other routes' limit is
``GRADSWEEP_MAX_BODY_BYTES``). Hostile data — non-numeric or non-finite cells, ragged rows, an
unknown target, a single class, fewer than 2 rows, object arrays — is a 422 naming the row or
column, and nothing is stored. The id is the sha256 of the data in canonical form: uploading the
same data again answers 200 with the same id (201 the first time). A sweep names it as
``"dataset": {"id": "<id>"}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from optimizers.datasets import DatasetError, Task
from workers.datasets import DatasetMeta

from ..deps import DatasetId, RuntimeDep, require_api_key
from ..errors import ERROR_RESPONSES, ErrorDetail, InvalidRequest, error_responses
from ..models import DatasetList, DatasetView

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])


def _view(meta: DatasetMeta) -> DatasetView:
    return DatasetView.model_validate(meta)


@router.post("", status_code=201, response_model=DatasetView,
             responses={200: {"model": DatasetView, "description": "already uploaded"},
                        **error_responses(413)},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string"}},
                 "application/octet-stream": {"schema": {"type": "string",
                                                         "format": "binary"}}}}})
async def upload_dataset(
        request: Request, runtime: RuntimeDep, response: Response,
        target: Annotated[str | None, Query(max_length=200, description="the CSV column to "
                                            "predict (required for CSV)")] = None,
        task: Annotated[Task | None, Query(description="classification or regression "
                                           "(default: classification when the target holds "
                                           "integers only)")] = None) -> DatasetView:
    """Upload a CSV or NPZ dataset; its id and shape (201, or 200 if it was there already)."""
    body = await request.body()
    try:  # off the event loop: a 64 MB body takes a while to parse
        meta, created = await run_in_threadpool(runtime.datasets.upload, body, target, task)
    except DatasetError as exc:
        field = "target" if "target" in str(exc) and "column" in str(exc) else "body"
        raise InvalidRequest.bounded([ErrorDetail(field=field, message=str(exc))]) from None
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/datasets/{meta['id']}"
    return _view(meta)


@router.get("", response_model=DatasetList)
def list_datasets(runtime: RuntimeDep) -> DatasetList:
    """Every uploaded dataset, oldest first."""
    return DatasetList(items=[_view(m) for m in runtime.datasets.list()])


@router.get("/{dataset_id}", response_model=DatasetView)
def get_dataset(dataset_id: DatasetId, runtime: RuntimeDep) -> DatasetView:
    """One uploaded dataset."""
    return _view(runtime.datasets.get(dataset_id))


@router.delete("/{dataset_id}", response_model=DatasetView, responses=error_responses(409))
def delete_dataset(dataset_id: DatasetId, runtime: RuntimeDep) -> DatasetView:
    """Delete an uploaded dataset (409 while a queued or running sweep uses it)."""
    return _view(runtime.datasets.delete(dataset_id))


__all__ = ["router"]
