"""Early stopping in the dashboard, in a real browser (the fixtures of ``test_dashboard``): the
form's Early stopping fieldset and its 422s, the sweep page's rungs, pruned curves, cost panel
and "pruned at" statuses, and the sweeps list on a pruned sweep, running and finished."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from harness import Cluster, cluster, wait_for_status
from test_dashboard import browser, needs_chromium, number, page, screenshot, server

#: test_dashboard's fixtures, found by pytest by their names here: a real ``gradsweep serve``
#: (its own, for this module) and a chromium page on it that fails a test on any script error
FIXTURES = (browser, page, server)

#: the brief's example: 27 grid points × 2 seeds, rungs at 10, 30, 90, 270 of 300 steps
GRID = {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4, 3e-5], "beta1": [0.5, 0.9, 0.99]}
EXAMPLE: dict[str, Any] = {"objective": "rosenbrock", "optimizer": "adam", "grid": GRID,
                           "steps": 300, "seeds": 2, "record_every": 5,
                           "pruning": {"kind": "successive_halving", "min_steps": 10}}
RUNGS = [10, 30, 90, 270]
#: long enough to be seen running: the first rung prunes 2 of the 3 grid points (48 of 72
#: trials) at once, and the one left, never pruned again (⌈1/3⌉ = 1), runs for a minute or so
#: (the test cancels it)
LONG_PRUNED: dict[str, Any] = {
    "name": "long pruned sweep", "objective": {"name": "rosenbrock", "dim": 2},
    "optimizer": "adam", "grid": {"lr": [0.001, 0.01, 0.1]}, "seeds": 24, "steps": 1_000_000,
    "record_every": 1000, "pruning": {"kind": "successive_halving", "min_steps": 1000}}
KINDS = {"successive_halving": "Successive halving", "hyperband": "Hyperband"}


def slot(field: str) -> str:
    return f"[data-error-for='{field}']"


def wait_for_text(page: Any, selector: str) -> str:
    page.wait_for_function(f"document.querySelector(\"{selector}\").textContent.length > 0")
    return str(page.text_content(selector))


def cost_line(document: dict[str, Any]) -> str:
    """The cost panel's line as it should read, from the results document alone."""
    pruning = document["spec"]["pruning"]
    trials = document["trials"]
    total = document["progress"]["total"]
    ok = sum(t["status"] == "ok" for t in trials)
    pruned = sum(t["status"] == "pruned" for t in trials)
    parts = [f"{ok} of {total} trials ran to the end", f"{pruned} pruned"]
    if len(trials) < total:
        parts.append(f"{total - len(trials)} "
                     f"{'not run' if document['status'] == 'cancelled' else 'still running'}")
    spent = document["summary"]["trial_steps"]
    full = document["summary"]["full_trial_steps"]
    return (f"{KINDS[pruning['kind']]}, η = {pruning['reduction']}: {', '.join(parts)}; "
            f"{spent:,} of {full:,} trial-steps ({100 * spent / full:.1f}%)"
            + (" so far" if document["status"] == "running" else "") + ".")


def rung_shapes(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(
        "(document.getElementById('curves').layout.shapes || []).map(s => ({x0: s.x0, x1: s.x1, "
        "xref: s.xref, yref: s.yref, y0: s.y0, y1: s.y1, dash: s.line.dash, type: s.type, "
        "label: s.label && s.label.text}))"))


def drawn(page: Any) -> dict[int, dict[str, Any]]:
    """The curves plot's traces by trial: mode, points, marker sizes and colours."""
    return {int(t["name"][1:]): t for t in page.evaluate(
        "curveTraces().map(t => ({name: t.name, mode: t.mode, "
        "x: Array.from(t.x), size: Array.from(t.marker.size), symbol: t.marker.symbol, "
        "marker: t.marker.color, line: t.line.color}))")}


def statuses(page: Any) -> list[tuple[int, str, str | None, str | None]]:
    """The trials table's rows in their order: index, status cell's text, status, pruned_at."""
    return [(int(i), text, status, at) for i, text, status, at in page.eval_on_selector_all(
        "#trials tbody tr", "rs => rs.map(r => { const td = r.querySelector('td[data-status]'); "
        "return [r.dataset.index, td.textContent, td.dataset.status, "
        "td.dataset.prunedAt || null]; })")]


def all_rows(page: Any) -> list[tuple[int, str, str | None, str | None]]:
    """Every page of the trials table, from the first (``statuses`` of each, in order)."""
    rows: list[tuple[int, str, str | None, str | None]] = []
    firsts: list[int] = []
    first_row = "+document.querySelector('#trials tbody tr').dataset.index === "
    page.wait_for_function("document.getElementById('table-page').textContent.startsWith("
                           "'trials 1–')")
    while True:
        page_rows = statuses(page)
        firsts.append(page_rows[0][0])
        rows += page_rows
        if page.is_disabled("#table-next"):
            break
        page.click("#table-next")
        page.wait_for_function(first_row + str(rows[-1][0] + 1))
    for first in reversed(firsts[:-1]):
        page.click("#table-prev")
        page.wait_for_function(first_row + str(first))
    return rows


def server_client(page: Any) -> Any:
    """A client of the server the page is on."""
    import httpx
    return httpx.Client(base_url=page.url.split("/sweeps/")[0], timeout=30)


def check_pruned_page(page: Any, document: dict[str, Any]) -> None:
    """What the sweep page of a finished pruned sweep shows, against its results document."""
    trials = {t["index"]: t for t in document["trials"]}
    pruned = {i: t["pruned_at"] for i, t in trials.items() if t["status"] == "pruned"}
    assert pruned and any(t["status"] == "ok" for t in trials.values())
    # the rungs: a dashed vertical line each, over the whole plot, labelled with its step
    assert rung_shapes(page) == [
        {"type": "line", "x0": r, "x1": r, "xref": "x", "yref": "paper", "y0": 0, "y1": 1,
         "dash": "dash", "label": str(r)} for r in RUNGS]
    # a pruned curve ends at its rung with a cross of its own colour; the others have none
    traces = drawn(page)
    assert set(traces) == set(trials)
    for i, trace in traces.items():
        if i in pruned:
            assert trace["x"][-1] == pruned[i] == trials[i]["curve"]["step"][-1]
            assert "markers" in trace["mode"] and trace["symbol"] == "x"
            assert trace["size"][-1] > 0 and not any(trace["size"][:-1])
            assert trace["marker"] == trace["line"]
        else:
            assert trace["mode"] == "lines" and not any(trace["size"])
    assert "pruned at a rung" in (page.text_content("#legend") or "")
    # the cost, from summary.trial_steps and full_trial_steps and the trials' statuses
    summary = document["summary"]
    assert summary["trial_steps"] == sum(
        document["spec"]["steps"] if t["status"] == "ok" else t["pruned_at"]
        for t in trials.values())
    assert summary["full_trial_steps"] == len(trials) * document["spec"]["steps"]
    page.wait_for_selector("#pruning-panel:not([hidden])")
    assert page.text_content("#pruning-summary") == cost_line(document)
    per_rung = " · ".join(f"{r}: {sum(at == r for at in pruned.values())}" for r in RUNGS)
    scored = sum(s["score"] is not None for s in document["settings"])
    assert (page.text_content("#pruning-detail") or "").startswith(
        f"Trials pruned at step {per_rung}. Settings with a score: {scored} of "
        f"{len(document['settings'])}")
    # the table, 50 rows a page: says "pruned at <rung>"
    rows = all_rows(page)
    assert {i: text for i, text, _, _ in rows} == {
        i: f"pruned at {pruned[i]}" if i in pruned else t["status"] for i, t in trials.items()}
    assert {i: at for i, _, _, at in rows if at is not None} == {
        i: str(at) for i, at in pruned.items()}
    # more than one page: the status column does not sort (the 50 rows on screen are not the
    # sweep); the metric's column asks the server for its score order
    status_header = "#trials th[data-key='status']"
    assert "sortable" not in (page.get_attribute(status_header, "class") or "")
    before = statuses(page)
    page.click(status_header)
    assert statuses(page) == before
    metric_header = f"#trials th[data-key='{document['spec']['metric']}']"
    page.click(metric_header)
    page.wait_for_function("document.getElementById('table-order').value === 'score' && "
                           "document.getElementById('table-page').textContent"
                           ".startsWith('trials 1–')")
    with server_client(page) as client:
        by_score = client.get(f"/v1/sweeps/{document['id']}/trials",
                              params={"order": "score", "limit": 50, "curves": "false"}).json()
    page.wait_for_function(f"document.querySelector('#trials tbody tr').dataset.index === "
                           f"'{by_score['items'][0]['index']}'")
    assert [i for i, _, _, _ in statuses(page)] == [t["index"] for t in by_score["items"]]
    assert page.get_attribute(metric_header, "data-dir") == "asc"
    # one status, all of it on one page: any column sorts it here, the rungs as numbers
    filtered = {i for i, t in trials.items() if t["status"] != "ok"}
    page.select_option("#table-order", "index")
    page.select_option("#table-status", "pruned" if len(pruned) <= 50 else "ok")
    shown = set(pruned) if len(pruned) <= 50 else set(trials) - filtered
    page.wait_for_function(f"document.querySelectorAll('#trials tbody tr').length === {len(shown)}"
                           " && document.getElementById('table-next').disabled")
    assert {i for i, _, _, _ in statuses(page)} == shown
    page.click(status_header)
    assert page.get_attribute(status_header, "data-dir") == "asc"
    order = [(trials[i]["status"], trials[i]["pruned_at"] or 0, i) for i, _, _, _ in statuses(page)]
    assert order == sorted(order)
    page.click(status_header)
    order = [(trials[i]["status"], trials[i]["pruned_at"] or 0) for i, _, _, _ in statuses(page)]
    assert order == sorted(order, reverse=True)
    page.select_option("#table-status", "")
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 50")
    # the best is one that ran to the end
    best = document["best"]
    assert best is not None and not set(best["trials"]) & set(pruned)
    assert [int(i) for i in page.eval_on_selector_all(
        "#trials tbody tr.best", "rs => rs.map(r => r.dataset.index)")] == sorted(
        i for i in best["trials"] if i < 50)  # the first page's
    assert number(page.get_attribute("#best-score", "data-value")) == pytest.approx(best["score"])


@needs_chromium
def test_a_pruned_sweep_from_the_form_with_its_422s_then_rungs_crosses_and_cost(
        page: Any, server: Cluster) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    assert page.input_value("#f-pruning-kind") == ""  # none
    assert not page.is_visible("#f-pruning-min-steps")
    assert "pruning" not in json.loads(page.text_content("#spec-json") or "")
    page.select_option("#f-objective", "rosenbrock")
    page.select_option("#f-optimizer", "adam")
    page.fill("#f-grid-lr", ", ".join(str(v) for v in GRID["lr"]))
    page.fill("#f-grid-beta1", ", ".join(str(v) for v in GRID["beta1"]))
    page.fill("#f-steps", "300")
    page.fill("#f-seeds", "2")
    page.fill("#f-record-every", "5")
    page.select_option("#f-pruning-kind", "successive_halving")
    assert page.is_visible("#f-pruning-min-steps")
    assert page.input_value("#f-pruning-reduction") == "3"  # the default

    # the first rung at the end: the API's 422 on spec names pruning.min_steps, and lands by it
    page.fill("#f-pruning-min-steps", "300")
    assert page.text_content("#pruning-rungs") == "no rung: min steps must be below the 300 steps"
    page.click("#submit")
    message = wait_for_text(page, slot("pruning.min_steps"))
    assert "pruning.min_steps = 300 must be less than steps = 300" in message
    assert page.evaluate(f"!!document.querySelector(\"{slot('pruning.min_steps')}\")"
                         ".closest('#pruning-fields')")
    assert page.text_content("#form-error") == "" and page.text_content(slot("steps")) == ""
    assert page.url.endswith("/new")
    screenshot(page, "new-sweep-pruning-422.png")
    # not a recorded step
    page.fill("#f-pruning-min-steps", "12")
    page.click("#submit")
    page.wait_for_function(f"document.querySelector(\"{slot('pruning.min_steps')}\")"
                           ".textContent.includes('= 12')")
    assert "must be a multiple of record_every = 5" in (
        page.text_content(slot("pruning.min_steps")) or "")
    assert page.text_content("#form-error") == ""
    # a reduction below 2: by its own field
    page.fill("#f-pruning-min-steps", "10")
    page.fill("#f-pruning-reduction", "1")
    page.click("#submit")
    assert "greater than or equal to 2" in wait_for_text(page, slot("pruning.reduction"))
    assert page.text_content(slot("pruning.min_steps")) == ""

    page.fill("#f-pruning-reduction", "3")
    assert page.text_content("#pruning-rungs") == "rungs at step 10, 30, 90, 270 of 300"
    shown = json.loads(page.text_content("#spec-json") or "")
    assert shown["pruning"] == {"kind": "successive_halving", "min_steps": 10, "reduction": 3}
    assert shown["record_every"] == 5 and shown["grid"] == GRID
    assert page.text_content("#trial-count") == "54 trial(s)"
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/sweeps")) as sent:
        page.click("#submit")
    assert json.loads(sent.value.post_data or "") == shown
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#status [data-status='succeeded']")
    page.wait_for_function("document.getElementById('curves').data && "
                           "curveTraces().length === 54")
    with server.client() as client:
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert document["spec"]["pruning"] == shown["pruning"]
    assert len(document["trials"]) == 54
    check_pruned_page(page, document)
    screenshot(page, "sweep-pruned.png")

    # the sweeps list: its progress and the best score, as for any sweep
    page.goto("/")
    row = f"#sweeps tr[data-id='{sweep_id}']"
    page.wait_for_selector(row)
    assert page.get_attribute(f"{row} [role=progressbar]", "aria-valuenow") == "100"
    assert number(page.text_content(f"{row} td:last-child")) == pytest.approx(
        document["best"]["score"], rel=5e-3)  # GS.num: 3 significant digits


@needs_chromium
def test_a_hyperband_sweep_s_page_sorts_its_rungs_as_numbers(page: Any, server: Cluster) -> None:
    """Hyperband prunes at every rung, 270 among them: "pruned at 270" sorts after "pruned at
    90" (as a number, not as text) in a table whose trials are all on one page (the pruned ones:
    the status filter); with more than one page the status column does not sort."""
    spec = {**EXAMPLE, "pruning": {"kind": "hyperband", "min_steps": 10, "reduction": 3}}
    with server.client() as client:
        created = client.post("/v1/sweeps", json=spec)
        assert created.status_code == 202, created.text
        sweep_id = created.json()["id"]
        assert wait_for_status(client, sweep_id, {"succeeded", "failed"}, 120)["status"] == (
            "succeeded")
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert {t["pruned_at"] for t in document["trials"]} >= {10, 90, 270}
    # its pruned trials fit on one page of the table: check_pruned_page sorts them by status
    # there, "pruned at 270" after "pruned at 90"
    assert sum(t["status"] == "pruned" for t in document["trials"]) <= 50
    page.goto(f"/sweeps/{sweep_id}")
    page.wait_for_selector("#status [data-status='succeeded']")
    page.wait_for_function("document.getElementById('curves').data && "
                           "curveTraces().length === 54")
    check_pruned_page(page, document)
    assert (page.text_content("#pruning-summary") or "").startswith("Hyperband, η = 3: ")


@needs_chromium
def test_a_running_pruned_sweep_without_a_best_yet_then_cancelled(
        page: Any, server: Cluster) -> None:
    """The first rung has pruned two thirds of the trials and no trial has ended yet: no best,
    on the sweep's page and in the list; cancelled, the rest were not run."""
    with server.client() as client:
        created = client.post("/v1/sweeps", json=LONG_PRUNED)
        assert created.status_code == 202, created.text
        sweep_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while (view := client.get(f"/v1/sweeps/{sweep_id}").json())["progress"]["done"] < 48:
            assert time.monotonic() < deadline and view["status"] in ("queued", "running"), view
            time.sleep(0.2)
    assert view["status"] == "running" and view["best"] is None, view
    try:
        page.goto("/")
        row = f"#sweeps tr[data-id='{sweep_id}']"
        page.wait_for_selector(f"{row} [role=progressbar][data-done='48']")
        assert page.get_attribute(f"{row} [role=progressbar]", "data-total") == "72"
        assert page.text_content(f"{row} td:last-child") == "—"
        assert page.text_content(f"{row} [data-status]") == "running"

        page.goto(f"/sweeps/{sweep_id}")
        page.wait_for_selector("#pruning-panel:not([hidden])")
        assert page.text_content("#pruning-summary") == (
            "Successive halving, η = 3: 0 of 72 trials ran to the end, 48 pruned, 24 still "
            "running; 48,000 of 72,000,000 trial-steps (0.1%) so far.")
        assert page.text_content("#best") == "none yet"
        page.wait_for_function("document.getElementById('curves').data && "
                               "curveTraces().length === 48")
        assert [s["x0"] for s in rung_shapes(page)] == [1000, 3000, 9000, 27000, 81000, 243000,
                                                        729000]
        assert all(t["x"][-1] == 1000 and t["size"][-1] > 0 for t in drawn(page).values())
    finally:
        with server.client() as client:
            client.delete(f"/v1/sweeps/{sweep_id}")
    with server.client() as client:
        assert wait_for_status(client, sweep_id, {"cancelled"}, 30)["status"] == "cancelled"
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    page.wait_for_selector("#status [data-status='cancelled']")
    page.wait_for_function("document.getElementById('pruning-summary').textContent"
                           ".includes('not run')")
    assert page.text_content("#pruning-summary") == cost_line(document) == (
        "Successive halving, η = 3: 0 of 72 trials ran to the end, 48 pruned, 24 not run; "
        "48,000 of 72,000,000 trial-steps (0.1%).")


@needs_chromium
def test_a_pruned_sweep_without_inline_trials(browser: Any, tmp_path: Any) -> None:
    """Over GRADSWEEP_RESULTS_INLINE_MAX trials /results is a summary document: the page's
    pruning panel counts from summary.statuses and, per rung, from the pruned trials' pages;
    its curves, scores and table come from /overview, /trials and the summary."""
    with cluster(tmp_path, redis=False, jobs=2, results_inline_max=20) as c:
        c.start_server()
        with c.client() as client:
            sweep_id = client.post("/v1/sweeps", json=EXAMPLE).json()["id"]
            assert wait_for_status(client, sweep_id, {"succeeded"}, 120)["status"] == "succeeded"
            summary = client.get(f"/v1/sweeps/{sweep_id}/results").json()
            assert "trials" not in summary
            trials = client.get(f"/v1/sweeps/{sweep_id}/trials",
                                params={"limit": 100, "curves": "false"}).json()["items"]
        statuses = summary["summary"]["statuses"]
        assert sum(statuses.values()) == len(trials) == 54
        context = browser.new_context(base_url=c.url, viewport={"width": 1400, "height": 1000})
        problems: list[str] = []
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda msg: problems.append(f"console: {msg.text}")
                    if msg.type == "error" else None)
            page.goto(f"/sweeps/{sweep_id}")
            page.wait_for_function("document.getElementById('pruning-detail').textContent"
                                   ".startsWith('Trials pruned at step')")
            ok, pruned = statuses.get("ok", 0), statuses.get("pruned", 0)
            assert (page.text_content("#pruning-summary") or "").startswith(
                f"Successive halving, η = 3: {ok} of 54 trials ran to the end, {pruned} pruned")
            per_rung = " · ".join(
                f"{r}: {sum(t['pruned_at'] == r for t in trials if t['status'] == 'pruned')}"
                for r in RUNGS)
            assert (page.text_content("#pruning-detail") or "").startswith(
                f"Trials pruned at step {per_rung}. ")
            page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 50")
            page.wait_for_selector("#scores [data-plot]")
        finally:
            context.close()
        assert not problems, problems
