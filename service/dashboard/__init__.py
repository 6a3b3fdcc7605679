"""The dashboard: HTML pages served by the API at ``/``.

Four static pages (vanilla JS, no build step) that read the public JSON API from the browser:

- ``/``: the sweeps, newest first, filtered by status, refreshed every 2 s;
- ``/sweeps/{id}``: one sweep's loss curves, scores, trials and best setting (with early
  stopping: its rungs on the curves, each pruned trial's end marked, and what it saved), live
  over ``/v1/sweeps/{id}/events`` (polling when the stream is unavailable);
- ``/new``: a form built from the catalogue that submits a sweep (early stopping included);
- ``/compare?ids=<id>,<id>,…``: two or more sweeps side by side, their best curves and scores
  overlaid (the page reads and checks the ids itself).

The pages and scripts live in ``service/dashboard/static/``; plotly.js is the file the ``plotly``
Python package ships (``plotly/package_data/plotly.min.js``), served from ``/static``.
The pages hold no data, so they need no API key; the scripts send the key the user gave
(kept in the browser's localStorage) with every API request.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from ..errors import NotFound
from ..models import SWEEP_ID_PATTERN

router = APIRouter(include_in_schema=False)
STATIC = files(__package__) / "static"
#: the files of static/ that are served, and their media types
ASSETS = {
    "common.js": "text/javascript; charset=utf-8",
    "sweeps.js": "text/javascript; charset=utf-8",
    "sweep.js": "text/javascript; charset=utf-8",
    "new.js": "text/javascript; charset=utf-8",
    "compare.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
PAGES = {"sweeps": "sweeps.html", "sweep": "sweep.html", "new": "new.html",
         "compare": "compare.html"}
# The pages load only their own scripts and styles; data comes from this origin's API.
# ('unsafe-eval': the plotly.js bundle's WebGL trace types (regl) compile draw calls with Function;
# the pages draw SVG traces only, but the bundle is served whole.)
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; "
       "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-cache"}
SweepId = Annotated[str, PathParam(pattern=SWEEP_ID_PATTERN)]


def _read(resource: Traversable) -> bytes:
    return resource.read_bytes()


def _page(name: str) -> Response:
    return Response(_read(STATIC / PAGES[name]), media_type="text/html; charset=utf-8",
                    headers=HEADERS)


@router.get("/")
def sweeps_page() -> Response:
    """The sweeps."""
    return _page("sweeps")


@router.get("/new")
def new_sweep_page() -> Response:
    """The form that submits a sweep."""
    return _page("new")


@router.get("/sweeps/{sweep_id}")
def sweep_page(sweep_id: SweepId) -> Response:
    """One sweep (the page reads the sweep itself; an unknown id shows a message)."""
    return _page("sweep")


@router.get("/compare")
def compare_page() -> Response:
    """Sweeps side by side (the page reads ``ids`` itself; a bad or unknown id shows a
    message)."""
    return _page("compare")


def plotly_js() -> Path:
    """The path of plotly.min.js as the ``plotly`` package installed it."""
    resource = files("plotly") / "package_data" / "plotly.min.js"
    with as_file(resource) as path:  # a real file for any ordinary install
        return path


@router.get("/static/plotly.min.js")
def plotly() -> FileResponse:
    """plotly.js from the installed ``plotly`` package (cached by the browser, revalidated by
    its ETag)."""
    return FileResponse(plotly_js(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})


@router.get("/static/{name}")
def asset(name: str) -> Response:
    """One of the dashboard's scripts or its stylesheet."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound(f"no static file {name}")
    return Response(_read(STATIC / name), media_type=media_type,
                    headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


__all__ = ["router"]
