"""Comparing sweeps in a real browser (the fixtures of ``test_dashboard``): ticked on the sweeps
page, then /compare?ids=… overlays their best curves and scores as the API has them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from harness import Cluster, cluster, wait_for_status
from test_dashboard import (
    LONG,
    browser,
    needs_chromium,
    number,
    page,
    screenshot,
    server,
    watched_page,
)

FIXTURES = (browser, page, server)
LRS = [0.0001, 0.001, 0.01]
OPTIMIZERS = ("adam", "sgd", "momentum")


def spec(optimizer: str, metric: str = "final_loss") -> dict[str, Any]:
    return {"name": f"{optimizer} on rosenbrock", "objective": {"name": "rosenbrock", "dim": 2},
            "optimizer": optimizer, "grid": {"lr": LRS}, "seeds": 2, "steps": 40,
            "metric": metric}


@pytest.fixture(scope="module")
def compared(server: Cluster) -> list[dict[str, Any]]:
    """Three finished sweeps, each with its view, its results and its best trial as the API
    gives them."""
    out = []
    with server.client() as client:
        ids = []
        for optimizer in OPTIMIZERS:
            created = client.post("/v1/sweeps", json=spec(optimizer))
            assert created.status_code == 202, created.text
            ids.append(created.json()["id"])
        for sweep_id in ids:
            view = wait_for_status(client, sweep_id, {"succeeded"}, 60)
            assert view["status"] == "succeeded", view
            top = client.get(f"/v1/sweeps/{sweep_id}/trials",
                             params={"order": "score", "limit": 1, "curves": "true"}).json()
            out.append({"id": sweep_id, "view": view,
                        "results": client.get(f"/v1/sweeps/{sweep_id}/results").json(),
                        "top": top["items"][0]})
    return out


def plot_data(page: Any, selector: str) -> list[dict[str, Any]]:
    return list(page.evaluate(
        f"Array.from(document.querySelector(\"{selector}\").data).map(t => ({{"
        "name: t.name, x: Array.from(t.x), y: Array.from(t.y), meta: t.meta || null, "
        "customdata: t.customdata ? Array.from(t.customdata) : null, "
        "colour: t.line && t.line.color, markers: t.marker && t.marker.color}))"))


@needs_chromium
def test_tick_sweeps_then_compare_their_best_curves_and_scores(
        page: Any, compared: list[dict[str, Any]]) -> None:
    page.goto("/")
    ids = [s["id"] for s in compared]
    for sweep_id in ids:
        page.wait_for_selector(f"#sweeps tr[data-id='{sweep_id}']")
    assert page.is_disabled("#compare")
    page.check(f"#sweeps input.select-sweep[data-id='{ids[0]}']")
    assert page.is_disabled("#compare")  # one is not a comparison
    assert page.text_content("#selection") == "tick one more to compare"
    for sweep_id in ids[1:]:
        page.check(f"#sweeps input.select-sweep[data-id='{sweep_id}']")
    with page.expect_response(lambda r: "/v1/sweeps?" in r.url):
        pass  # the list's next refresh (every 2 s) keeps the ticks
    page.wait_for_timeout(100)
    assert page.is_checked(f"#sweeps input.select-sweep[data-id='{ids[1]}']")
    assert page.text_content("#compare") == "Compare selected (3)"
    screenshot(page, "sweeps-selected.png")
    page.click("#compare")
    page.wait_for_url("**/compare?ids=" + ",".join(ids))
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#messages") == ""

    # the table: a row per sweep in the order ticked, as the API has them
    rows = page.eval_on_selector_all("#compared tbody tr", """rows => rows.map(r => ({
        id: r.dataset.id, name: r.querySelector('.name').textContent,
        href: r.querySelector('.name a').getAttribute('href'),
        objective: r.querySelector('.objective').textContent,
        optimizer: r.querySelector('.optimizer').textContent,
        status: r.querySelector('[data-status]').textContent,
        trials: r.querySelector('.trials').textContent,
        metric: r.querySelector('.metric').dataset.metric,
        score: r.querySelector('.score').dataset.value,
        params: JSON.parse(r.querySelector('.params').dataset.params),
        paramsText: r.querySelector('.params').textContent}))""")
    assert [r["id"] for r in rows] == ids
    for row, sweep in zip(rows, compared, strict=True):
        view = sweep["view"]
        assert row["name"] == view["name"] and row["href"] == f"/sweeps/{sweep['id']}"
        assert (row["objective"], row["optimizer"], row["status"]) == (
            "rosenbrock", view["optimizer"], "succeeded")
        assert row["trials"] == "6 / 6" and row["metric"] == "final_loss"
        assert number(row["score"]) == sweep["results"]["best"]["score"]
        assert row["params"] == sweep["results"]["best"]["params"]
        assert f"lr={sweep['results']['best']['params']['lr']}" in row["paramsText"]

    # one best curve per sweep, its y the API's best trial's curve, one colour each, log y
    curves = plot_data(page, "#curves")
    assert [c["meta"]["sweep"] for c in curves] == ids
    for curve, sweep in zip(curves, compared, strict=True):
        assert curve["meta"]["trial"] == sweep["top"]["index"]
        assert curve["x"] == sweep["top"]["curve"]["step"]
        assert curve["y"] == sweep["top"]["curve"]["loss"]
        assert curve["name"] == sweep["view"]["name"]
    assert len({c["colour"] for c in curves}) == 3
    layout = page.evaluate("(() => { const d = document.getElementById('curves'); "
                           "return {y: d._fullLayout.yaxis.type, legend: d._fullLayout.showlegend,"
                           " width: d.getBoundingClientRect().width}; })()")
    assert layout["y"] == "log" and layout["legend"] is True
    panel = page.eval_on_selector("#curves", "d => d.parentElement.getBoundingClientRect().width")
    assert layout["width"] > 0.9 * panel - 40  # the panel's width, not plotly's default 700
    page.uncheck("#log-y")
    assert page.evaluate("document.getElementById('curves')._fullLayout.yaxis.type") == "linear"

    # scores: each sweep's best (± std) as the API has it, then the best score by lr per sweep
    plots = page.eval_on_selector_all("#scores [data-plot]", "ds => ds.map(d => d.dataset.plot)")
    assert plots == ["best:final_loss", "param:final_loss:lr"]
    [best] = plot_data(page, "#scores [data-plot='best:final_loss']")
    assert best["customdata"] == ids
    assert best["y"] == [s["results"]["best"]["score"] for s in compared]
    assert best["markers"] == [c["colour"] for c in curves]
    by_lr = plot_data(page, "#scores [data-plot='param:final_loss:lr']")
    assert [t["meta"]["sweep"] for t in by_lr] == ids
    for trace, sweep in zip(by_lr, compared, strict=True):
        # a setting without a score (sgd's largest lr diverges) has no point
        scored = sorted((s for s in sweep["results"]["settings"] if s["score"] is not None),
                        key=lambda s: s["params"]["lr"])
        assert len(scored) >= 2
        assert trace["x"] == [s["params"]["lr"] for s in scored]
        assert trace["y"] == [s["score"] for s in scored]
    assert page.evaluate("document.querySelector(\"#scores [data-plot='param:final_loss:lr']\")"
                         "._fullLayout.xaxis.type") == "log"
    assert page.text_content("#metric-note") == ""
    screenshot(page, "compare.png")


@needs_chromium
def test_different_metrics_are_not_put_on_one_score_axis(
        page: Any, server: Cluster, compared: list[dict[str, Any]]) -> None:
    with server.client() as client:
        created = client.post("/v1/sweeps", json=spec("adam", metric="min_loss"))
        assert created.status_code == 202, created.text
        other = created.json()["id"]
        assert wait_for_status(client, other, {"succeeded"}, 60)["status"] == "succeeded"
        other_best = client.get(f"/v1/sweeps/{other}").json()["best"]["score"]
    page.goto(f"/compare?ids={compared[0]['id']},{other}")
    page.wait_for_selector("body[data-ready='1']")
    assert "scored by different metrics (final_loss, min_loss)" in (
        page.text_content("#metric-note") or "")
    assert "not comparable" in (page.text_content("#metric-note") or "")
    plots = page.eval_on_selector_all("#scores [data-plot]", "ds => ds.map(d => d.dataset.plot)")
    assert plots == ["best:final_loss", "best:min_loss"]  # one sweep each: no shared lr plot
    [final] = plot_data(page, "#scores [data-plot='best:final_loss']")
    [least] = plot_data(page, "#scores [data-plot='best:min_loss']")
    assert final["customdata"] == [compared[0]["id"]] and least["customdata"] == [other]
    assert least["y"] == [other_best]
    assert len(plot_data(page, "#curves")) == 2  # the loss curves still share one plot


@needs_chromium
def test_a_malformed_id_says_so_and_the_others_are_compared(
        page: Any, compared: list[dict[str, Any]]) -> None:
    ids = [s["id"] for s in compared[:2]]
    page.goto(f"/compare?ids={ids[0]},not-an-id,{ids[1]}")
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#messages [data-kind='malformed']") == (
        'Not a sweep id: "not-an-id" (a sweep id is 32 hexadecimal digits, 0–9 and a–f).')
    assert page.eval_on_selector_all("#compared tbody tr", "rs => rs.map(r => r.dataset.id)") == ids
    assert len(plot_data(page, "#curves")) == 2
    screenshot(page, "compare-malformed-id.png")


@needs_chromium
def test_an_unknown_id_says_no_sweep(browser: Any, server: Cluster,
                                     compared: list[dict[str, Any]]) -> None:
    # its own page: the GET of the unknown sweep is a 404, which the page fixture would fail
    with watched_page(browser, server, refuse_failures=False) as page:
        unknown = "f" * 32
        page.goto(f"/compare?ids={compared[0]['id']},{unknown}")
        page.wait_for_selector("body[data-ready='1']")
        assert page.text_content("#messages [data-kind='unknown']") == f"There is no sweep {unknown}."
        assert page.eval_on_selector_all("#compared tbody tr",
                                         "rs => rs.map(r => r.dataset.id)") == [compared[0]["id"]]
        assert len(plot_data(page, "#curves")) == 1

        # past 12 ids: the first 12 (each unknown one said so), and a note
        ids = [s["id"] for s in compared] + [f"{i:x}" * 32 for i in range(10)]
        page.goto("/compare?ids=" + ",".join(ids))
        page.wait_for_selector("body[data-ready='1']")
        assert page.text_content("#messages [data-kind='too-many']") == (
            "At most 12 sweeps at once: comparing the first 12 of 13.")
        assert page.eval_on_selector_all("#messages [data-kind='unknown']",
                                         "ps => ps.map(p => p.textContent)") == [
            f"There is no sweep {i}." for i in ids[3:12]]
        assert page.eval_on_selector_all("#compared tbody tr",
                                         "rs => rs.map(r => r.dataset.id)") == ids[:3]


@needs_chromium
def test_no_ids_says_what_to_do(page: Any) -> None:
    page.goto("/compare")
    page.wait_for_selector("body[data-ready='1']")
    assert "tick two or more on the sweeps page" in (
        page.text_content("#messages [data-kind='none']") or "")
    assert page.query_selector_all("#compared tbody tr") == []



@needs_chromium
def test_a_running_sweep_is_shown_with_a_note_then_re_read(
        page: Any, server: Cluster, compared: list[dict[str, Any]]) -> None:
    with server.client() as client:
        created = client.post("/v1/sweeps", json=LONG)
        assert created.status_code == 202, created.text
        running = created.json()["id"]
        try:
            assert wait_for_status(client, running, {"running"}, 30)["status"] == "running"
            page.goto(f"/compare?ids={compared[0]['id']},{running}")
            page.wait_for_selector("body[data-ready='1']")
            row = f"#compared tr[data-id='{running}']"
            assert page.get_attribute(row, "data-status") == "running"
            assert "1 of 2 sweeps still running" in (page.text_content("#metric-note") or "")
            assert page.text_content("#live") == "re-read every 3 s while a sweep runs"
        finally:
            client.delete(f"/v1/sweeps/{running}")
        # the page reads it again until it is finished, then stops
        page.wait_for_selector(f"{row}[data-status='cancelled']")
        page.wait_for_function("document.getElementById('live').textContent === ''")
        assert "still running" not in (page.text_content("#metric-note") or "")


@needs_chromium
def test_sweeps_over_the_inline_limit_are_compared_from_their_top_settings(
        browser: Any, tmp_path: Any) -> None:
    """Over GRADSWEEP_RESULTS_INLINE_MAX trials /results is a summary document without
    settings: the score by lr comes from its top_settings, and the page says so."""
    grid = {"lr": [float(x) for x in np.geomspace(1e-4, 1e-2, 12)]}
    with cluster(tmp_path, redis=False, jobs=2, results_inline_max=10) as c:
        c.start_server()
        ids, documents = [], []
        with c.client() as client:
            for optimizer in ("adam", "momentum"):
                ids.append(client.post("/v1/sweeps", json={**spec(optimizer), "grid": grid}
                                       ).json()["id"])
            for sweep_id in ids:
                assert wait_for_status(client, sweep_id, {"succeeded"}, 60)["status"] == "succeeded"
                document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
                assert "settings" not in document and document["top_settings"]
                documents.append(document)
        with watched_page(browser, c) as page:
            page.goto("/compare?ids=" + ",".join(ids))
            page.wait_for_selector("body[data-ready='1']")
            by_lr = plot_data(page, "#scores [data-plot='param:final_loss:lr']")
            assert [t["meta"]["sweep"] for t in by_lr] == ids
            for trace, document in zip(by_lr, documents, strict=True):
                top = sorted(document["top_settings"], key=lambda s: s["params"]["lr"])
                assert trace["x"] == [s["params"]["lr"] for s in top]
                assert trace["y"] == [s["score"] for s in top]
            [best] = plot_data(page, "#scores [data-plot='best:final_loss']")
            assert best["y"] == [d["best"]["score"] for d in documents]
            note = page.text_content("#score-note") or ""
            assert note.startswith("Large sweeps, their best settings only:")
            assert all(f"({len(d['top_settings'])})" in note for d in documents)
