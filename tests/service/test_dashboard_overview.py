"""The sweep page of a 1,000-trial sweep in a real browser (the fixtures of ``test_dashboard``):
quantile bands of all curves, a sample and the best drawn, never every curve; the trials table
paged from ``GET /v1/sweeps/{id}/trials`` (next, previous, order by score, status filter)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from harness import Cluster, wait_for_status
from test_dashboard import browser, needs_chromium, page, server

FIXTURES = (browser, page, server)

SPEC: dict[str, Any] = {
    "name": "1,000 trials", "objective": {"name": "rosenbrock", "dim": 2},
    "optimizer": "momentum",
    "grid": {"lr": [float(x) for x in np.geomspace(1e-5, 1e-2, 200)],
             "momentum": [0.0, 0.5, 0.9, 0.95, 0.99]},
    "seeds": 1, "steps": 300, "record_every": 1}


@pytest.fixture(scope="module")
def sweep(server: Cluster) -> dict[str, Any]:
    with server.client() as client:
        sweep_id = client.post("/v1/sweeps", json=SPEC).json()["id"]
        assert wait_for_status(client, sweep_id, {"succeeded"}, 180)["status"] == "succeeded"
        return {"id": sweep_id,
                "overview": client.get(f"/v1/sweeps/{sweep_id}/overview").json()}


@needs_chromium
def test_a_1000_trial_sweep_draws_bands_sample_and_best(page: Any, sweep: dict[str, Any]) -> None:
    page.goto(f"/sweeps/{sweep['id']}")
    page.wait_for_function("bandTraces().length === 5 && curveTraces().length > 0")
    bands = page.evaluate("bandTraces().map(t => ({q: t.meta.quantile, y: Array.from(t.y), "
                          "fill: t.fill || null}))")
    overview = sweep["overview"]
    assert [b["q"] for b in bands] == [0.05, 0.95, 0.25, 0.75, 0.5]
    for b in bands:
        assert b["y"] == overview["bands"][overview["quantiles"].index(b["q"])]
    assert [b["fill"] for b in bands[:4]] == [None, "tonexty", None, "tonexty"]
    # the sample merged by colour into a few traces, never 1,000 of them
    curves = page.evaluate("curveTraces().map(t => ({kind: t.meta.kind || 'trial', "
                           "trials: t.meta.trials || [t.meta.index], width: t.line.width}))")
    assert len(curves) < 60
    drawn = {i for c in curves for i in c["trials"]}
    assert {t["index"] for t in overview["sample"]} <= drawn
    assert 200 <= len(drawn) < 1000
    note = page.text_content("#curve-note") or ""
    assert "bands over 1,000 of 1,000 trials" in note
    best = page.evaluate("document.querySelectorAll('#best-params td').length")
    assert best > 0
    # the best, thick (from /trials?order=score, or the results document without that route)
    page.wait_for_function("curveTraces().some(t => t.line.width > 2)")
    # the log toggle still works on the bands
    page.click("#log-y")
    page.wait_for_function("document.getElementById('curves').layout.yaxis.type === 'linear'")


@needs_chromium
def test_the_trials_table_pages_from_the_api(page: Any, sweep: dict[str, Any],
                                             server: Cluster) -> None:
    page.goto(f"/sweeps/{sweep['id']}")
    rows = "Array.from(document.querySelectorAll('#trials tbody tr')).map(r => +r.dataset.index)"
    page.wait_for_function(f"{rows}.length === 50")
    assert page.evaluate(rows) == list(range(50))
    page.click("#table-next")
    page.wait_for_function(f"{rows}[0] === 50")
    assert page.evaluate(rows) == list(range(50, 100))
    page.click("#table-prev")
    page.wait_for_function(f"{rows}[0] === 0")
    # more than one page: a header asks the server (the metric's column: order=score, the
    # trial column: order=index); another column does not sort the 50 rows on screen
    mean_header = "#trials th[data-key='mean_loss']"
    assert "sortable" not in (page.get_attribute(mean_header, "class") or "")
    page.click("#trials th[data-key='final_loss']")
    order_is = "document.getElementById('table-order').value === "
    page.wait_for_function(f"{order_is}'score' && {rows}[0] !== 0")
    with server.client() as client:
        by_score = client.get(f"/v1/sweeps/{sweep['id']}/trials",
                              params={"order": "score", "limit": 50, "curves": "false"}).json()
    page.wait_for_function(f"{rows}[0] === {by_score['items'][0]['index']}")
    assert page.evaluate(rows) == [t["index"] for t in by_score["items"]]
    page.click("#trials th[data-key='index']")
    page.wait_for_function(f"{order_is}'index' && {rows}[0] === 0")
    assert page.evaluate(rows) == list(range(50))
    page.select_option("#table-order", "score")
    page.wait_for_function(f"{rows}[0] !== 0")
    finals = page.evaluate("Array.from(document.querySelectorAll('#trials tbody tr')).map(r => "
                           "r.querySelector('td[data-value]') && r.dataset.index)")
    assert len(finals) == 50
    page.select_option("#table-status", "diverged")
    page.wait_for_function("Array.from(document.querySelectorAll('#trials tbody td[data-status]'))"
                           ".every(td => td.dataset.status === 'diverged')")
    assert "of" in (page.text_content("#table-page") or "")


@needs_chromium
def test_a_row_click_on_a_trial_not_drawn_reads_and_highlights_its_curve(
        page: Any, sweep: dict[str, Any], server: Cluster) -> None:
    page.goto(f"/sweeps/{sweep['id']}")
    page.wait_for_function("curveTraces().length > 0")
    page.wait_for_selector("#trials tbody tr")
    drawn = set(page.evaluate("curveTraces().flatMap(t => t.meta.trials || [t.meta.index])"))
    rows = page.evaluate("Array.from(document.querySelectorAll('#trials tbody tr'))"
                         ".map(r => +r.dataset.index)")
    index = next(i for i in rows if i not in drawn)  # the sample holds 200 of 1,000
    page.click(f"#trials tbody tr[data-index='{index}']")
    page.wait_for_function(f"curveTraces().some(t => t.meta.highlighted && t.meta.index === {index})")
    with server.client() as client:
        trial = client.get(f"/v1/sweeps/{sweep['id']}/trials/{index}").json()
    lit = page.evaluate("i => { const t = curveTraces().find(t => t.meta.index === i);"
                        " return {x: Array.from(t.x), y: Array.from(t.y)}; }", index)
    assert lit["y"][0] == trial["curve"]["loss"][0] and lit["y"][-1] == trial["curve"]["loss"][-1]
    assert lit["x"][-1] == trial["curve"]["step"][-1]
    assert f"highlighted: trial {index}" in (page.text_content("#curve-note") or "")
