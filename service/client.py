"""A Python client of the gradsweep API (synchronous, on httpx).

::

    from service.client import Client

    with Client("http://127.0.0.1:8000") as client:
        sweep_id = client.submit({"objective": "rosenbrock", "optimizer": "adam",
                                  "grid": {"lr": [0.01, 0.1]}, "steps": 200})
        client.wait(sweep_id, progress=True)
        results = client.results(sweep_id)
        print(results.best)

Answers are typed with the API's own models (``service.models``). An error answer (4xx, 5xx)
raises ``ClientError`` with the API's error body: status, code, message and details (one per
field); a network failure raises httpx's own ``httpx.HTTPError``.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel

from optimizers import SweepSpec, SweepStatus

from .models import DatasetList, DatasetView, SweepPage, SweepResultsDocument, SweepView


class ErrorDetail(BaseModel):
    """One problem with the request: the field's dotted path and what is wrong with it."""

    field: str
    message: str


class ClientError(Exception):
    """The API answered with an error (4xx or 5xx)."""

    def __init__(self, status: int, code: str, message: str,
                 details: list[ErrorDetail] | None = None, more: int = 0) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.more = more  # problems the API counted but did not list

    @property
    def problems(self) -> int:
        """How many problems the API found: the details listed and those only counted."""
        return len(self.details) + self.more

    @classmethod
    def from_response(cls, response: httpx.Response) -> ClientError:
        """From an error answer: the API's error body, or (not the API's: a proxy's, say) the
        status and the body's text."""
        try:
            error = orjson.loads(response.content)["error"]
            return cls(int(error["status"]), str(error["code"]), str(error["message"]),
                       [ErrorDetail.model_validate(d) for d in error.get("details") or []],
                       int(error.get("more") or 0))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls(response.status_code, "http_error",
                       response.text.strip()[:500] or response.reason_phrase)


SpecLike = SweepSpec | Mapping[str, Any] | str | bytes


class Client:
    """The API at ``url``; ``api_key`` is sent as a bearer token. Use it as a context manager,
    or ``close()`` it."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- the endpoints ------------------------------------------------------------------------

    def create(self, spec: SpecLike) -> tuple[SweepView, str]:
        """Submit a sweep: its status view and its absolute URL (the Location)."""
        if isinstance(spec, SweepSpec):
            content = orjson.dumps(spec.model_dump(mode="json"))
        elif isinstance(spec, (str, bytes)):
            content = spec.encode() if isinstance(spec, str) else spec
        else:
            content = orjson.dumps(dict(spec))
        response = self._request("POST", "/v1/sweeps", content=content,
                                 headers={"Content-Type": "application/json"})
        view = SweepView.model_validate_json(response.content)
        location = response.headers.get("location", f"/v1/sweeps/{view.id}")
        return view, str(httpx.URL(self.url + "/").join(location))

    def submit(self, spec: SpecLike) -> str:
        """Submit a sweep (a dict, a ``SweepSpec`` or JSON text); its id."""
        return self.create(spec)[0].id

    def status(self, sweep_id: str) -> SweepView:
        """The sweep's status, progress and best setting so far."""
        return SweepView.model_validate_json(self._request("GET", self._path(sweep_id)).content)

    def wait(self, sweep_id: str, progress: bool = False, poll: float = 0.25,
             timeout: float | None = None) -> SweepView:
        """Poll until the sweep is finished (succeeded, failed or cancelled); its last view.
        ``progress``: a progress bar of trials done on standard error.

        Raises:
          TimeoutError: not finished after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _ProgressBar() if progress else None
        try:
            while True:
                view = self.status(sweep_id)
                if bar is not None:
                    bar.show(view)
                if view.status.is_finished():
                    return view
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"sweep {sweep_id} is still {view.status.value} after "
                                       f"{timeout} s")
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.close()

    def results(self, sweep_id: str) -> SweepResultsDocument:
        """Everything the sweep produced so far (the whole document, once finished)."""
        response = self._request("GET", self._path(sweep_id) + "/results")
        # orjson, then the model: floats read exactly as the server wrote them
        return SweepResultsDocument.model_validate(orjson.loads(response.content))

    def trials(self, sweep_id: str, *, order: str = "index", status: str | None = None,
               curves: bool = True, limit: int = 1000, poll: float = 0.25,
               follow: bool = True) -> Iterator[dict[str, Any]]:
        """The sweep's trials one at a time, read lazily a page (``limit``, at most 1,000) of
        ``GET …/trials`` at a time, in ``order`` ("index" or "score"), of one ``status`` if
        given, without curves if ``curves`` is False: plain dicts as the results document holds
        them, so a million trials cost a page of memory.

        While the sweep runs, a page in index order stops before the first trial not saved
        yet: with ``follow`` the iterator waits there (``poll`` seconds between asks) and ends
        with the sweep's last trial, every trial exactly once; without, it ends at the trials
        saved so far."""
        params: dict[str, Any] = {"order": order, "limit": limit,
                                  "curves": "true" if curves else "false"}
        if status is not None:
            params["status"] = status
        cursor: str | None = None
        while True:
            query = params if cursor is None else {**params, "cursor": cursor}
            page = orjson.loads(self._request("GET", self._path(sweep_id) + "/trials",
                                              params=query).content)
            yield from page["items"]
            if page["next"] is None:
                return
            if len(page["items"]) < limit:  # the end of what is saved so far
                if not follow:
                    return
                time.sleep(poll)
            cursor = page["next"]

    def trial(self, sweep_id: str, index: int, *, curves: bool = True) -> dict[str, Any]:
        """Trial ``index`` of the sweep as the results document holds it (``ClientError`` 404
        while it is not saved)."""
        response = self._request("GET", f"{self._path(sweep_id)}/trials/{index}",
                                 params={"curves": "true" if curves else "false"})
        trial: dict[str, Any] = orjson.loads(response.content)
        return trial

    def download_trials(self, sweep_id: str, to: BinaryIO, *, curves: bool = True,
                        status: str | None = None) -> int:
        """Write every trial saved so far to the binary file ``to`` as NDJSON (one JSON object
        a line, in index order), streamed from ``GET …/trials.ndjson`` without holding it in
        memory; how many trials it wrote."""
        params: dict[str, Any] = {"curves": "true" if curves else "false"}
        if status is not None:
            params["status"] = status
        lines = 0
        with self._http.stream("GET", self._path(sweep_id) + "/trials.ndjson",
                               params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise ClientError.from_response(response)
            for piece in response.iter_bytes():
                to.write(piece)
                lines += piece.count(b"\n")
        return lines

    def cancel(self, sweep_id: str) -> SweepView:
        """Cancel a queued or running sweep (409 ``ClientError`` if it has already finished)."""
        return SweepView.model_validate_json(
            self._request("DELETE", self._path(sweep_id)).content)

    def list(self, status: SweepStatus | str | None = None, limit: int = 20,
             offset: int = 0) -> SweepPage:
        """A page of sweeps, newest first, optionally of one status."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = SweepStatus(status).value
        return SweepPage.model_validate_json(
            self._request("GET", "/v1/sweeps", params=params).content)

    # -- datasets -----------------------------------------------------------------------------

    def upload_dataset(self, data: bytes | str | Path, target: str | None = None,
                       task: str | None = None) -> DatasetView:
        """Upload a CSV (with its ``target`` column) or NPZ dataset — bytes or a file's path —
        and return its id and shape (the same data gives the same id)."""
        body = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
        params = {k: v for k, v in (("target", target), ("task", task)) if v is not None}
        kind = "application/octet-stream" if body[:4] == b"PK\x03\x04" else "text/csv"
        response = self._request("POST", "/v1/datasets", content=body, params=params,
                                 headers={"content-type": kind})
        return DatasetView.model_validate_json(response.content)

    def datasets(self) -> builtins.list[DatasetView]:
        """Every uploaded dataset, oldest first."""
        return DatasetList.model_validate_json(
            self._request("GET", "/v1/datasets").content).items

    def dataset(self, dataset_id: str) -> DatasetView:
        """One uploaded dataset."""
        return DatasetView.model_validate_json(
            self._request("GET", f"/v1/datasets/{quote(dataset_id, safe='')}").content)

    def delete_dataset(self, dataset_id: str) -> DatasetView:
        """Delete an uploaded dataset (409 ``ClientError`` while a running sweep uses it)."""
        return DatasetView.model_validate_json(
            self._request("DELETE", f"/v1/datasets/{quote(dataset_id, safe='')}").content)

    # -- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _path(sweep_id: str) -> str:
        return f"/v1/sweeps/{quote(sweep_id, safe='')}"

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ClientError.from_response(response)
        return response


class _ProgressBar:
    """A rich progress bar of a sweep's trials on standard error."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TextColumn("trials"),
                                  TimeElapsedColumn(), console=Console(stderr=True))
        self._task: Any = None
        self._progress.start()

    def show(self, view: SweepView) -> None:
        if self._task is None:
            self._task = self._progress.add_task(view.name, total=view.progress.total)
        self._progress.update(self._task, completed=view.progress.done,
                              total=view.progress.total,
                              description=f"{view.name} ({view.status.value})")

    def close(self) -> None:
        self._progress.stop()


__all__ = ["Client", "ClientError", "ErrorDetail", "SpecLike"]
