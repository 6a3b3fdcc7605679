"""Server-sent events: a sweep's progress and status changes, live.

``GET /v1/sweeps/{id}/events`` is an ``text/event-stream``: an event ``progress`` (data: the
``SweepView`` JSON) whenever the sweep's done count or status changed, then — once the sweep is
finished (succeeded, failed or cancelled) — one event ``end`` with the final view, and the stream
closes. Every stream of one sweep shares one poll of the store every ``POLL_SECONDS``
(``service.feeds``), so a hundred viewers cost what one does; a comment ping every
``PING_SECONDS`` keeps proxies from closing an idle stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from workers.store import SweepRecord
from workers.sweeps import SweepService

from ..deps import FeedsDep, RuntimeDep, SweepId, require_api_key
from ..errors import ERROR_RESPONSES
from ..feeds import Feeds
from ..models import SweepView

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], responses=ERROR_RESPONSES,
                   dependencies=[Depends(require_api_key)])
POLL_SECONDS = 0.2
PING_SECONDS = 15
#: the browser's EventSource waits this long before reconnecting after a dropped stream
RETRY_MILLISECONDS = 2000
#: one event of the stream (its data is a SweepView as JSON text)
EVENT_SCHEMA = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": ["progress", "end"]},
    "data": {"type": "string", "contentMediaType": "application/json"},
    "retry": {"type": "integer", "minimum": 0}}}


@router.get("/{sweep_id}/events", response_class=EventSourceResponse, responses={200: {
    "description": "an event stream: `progress` events (data: a SweepView) whenever done or "
                   "status changes, then one `end` event (the final SweepView) and the end",
    "content": {"text/event-stream": {"schema": EVENT_SCHEMA}}}})
async def sweep_events(sweep_id: SweepId, runtime: RuntimeDep,
                       feeds: FeedsDep) -> EventSourceResponse:
    """Stream the sweep's progress as server-sent events until it is finished."""
    record = await run_in_threadpool(runtime.sweeps.record, sweep_id)
    return EventSourceResponse(_events(feeds, record), ping=PING_SECONDS)


def view_json(sweeps: SweepService, record: SweepRecord) -> str:
    """The ``SweepView`` JSON of ``record``, with the best so far (blocking: reads the store)."""
    return SweepView.of(sweeps.state(record)).model_dump_json()


async def _events(feeds: Feeds, record: SweepRecord) -> AsyncIterator[ServerSentEvent]:
    """``progress`` on every change of (done, status), then ``end`` once finished."""
    async with feeds.watch(record) as feed:
        version = 0
        while True:
            snapshot = await feed.after(version)
            version = snapshot.version
            if snapshot.record is None:  # deleted (retention) while watched
                return
            yield ServerSentEvent(data=snapshot.view, event="progress", retry=RETRY_MILLISECONDS)
            if snapshot.final:
                yield ServerSentEvent(data=snapshot.view, event="end")
                return


__all__ = ["router"]
