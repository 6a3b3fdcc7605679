"""The sweep page's Scores panel in a real browser: numeric hyperparameters on numeric axes (log
where log-spaced), a two-parameter heatmap coloured by log10(score) with its diverged cells
drawn apart, and for three or more swept hyperparameters parallel coordinates and a slice plot
each. Small sweeps: few steps, one seed."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from harness import Cluster, wait_for_status
from test_dashboard import browser, needs_chromium, page, screenshot, server

FIXTURES = (browser, page, server)

PLOT = "document.querySelector('#scores [data-plot=\"{}\"]')"


def run(server: Cluster, spec: dict[str, Any]) -> dict[str, Any]:
    """Post a sweep, wait for it, return its results document."""
    with server.client() as client:
        sweep_id = client.post("/v1/sweeps", json=spec).json()["id"]
        assert wait_for_status(client, sweep_id, {"succeeded"}, 60)["status"] == "succeeded"
        return client.get(f"/v1/sweeps/{sweep_id}/results").json()


def open_scores(page: Any, document: dict[str, Any], plot: str) -> dict[str, Any]:
    """The sweep's page once `plot` is drawn: its data and layout."""
    page.goto(f"/sweeps/{document['id']}")
    page.wait_for_function(f"{PLOT.format(plot)} && {PLOT.format(plot)}.data")
    return drawn(page, plot)


def drawn(page: Any, plot: str) -> dict[str, Any]:
    """A score plot's data and layout as Plotly drew them."""
    return page.evaluate(f"(() => {{ const d = {PLOT.format(plot)}; "
                         "return {data: d.data, layout: d.layout}; })()")


def axis_types(layout: dict[str, Any]) -> list[str]:
    return [v["type"] for k, v in layout.items() if k.startswith(("xaxis", "yaxis")) and "type" in v]


@needs_chromium
def test_a_log_spaced_lr_scan_is_on_a_numeric_log_axis(page: Any, server: Cluster) -> None:
    lrs = [float(f"{x:.6g}") for x in np.geomspace(1e-4, 1.0, 30)]
    document = run(server, {"name": "lr scan", "objective": "rosenbrock", "optimizer": "sgd",
                            "grid": {"lr": lrs}, "seeds": 1, "steps": 20})
    scored = sorted((s for s in document["settings"] if s["score"] is not None),
                    key=lambda s: s["params"]["lr"])
    diverged = [s for s in document["settings"] if s["score"] is None]
    assert scored and diverged  # the large rates diverge on rosenbrock
    plot = open_scores(page, document, "score-lr")
    line = next(t for t in plot["data"] if t["meta"]["kind"] == "scores")
    assert plot["layout"]["xaxis"]["type"] == "log"
    assert "category" not in axis_types(plot["layout"])
    assert all(isinstance(x, float | int) for x in line["x"])  # numbers, not their text
    assert line["x"] == pytest.approx([s["params"]["lr"] for s in scored])
    assert line["y"] == pytest.approx([s["score"] for s in scored])
    # the diverged rates: ✕ along the top, said so in their hover text
    cross = next(t for t in plot["data"] if t["meta"]["kind"] == "unscored")
    assert cross["x"] == pytest.approx([s["params"]["lr"] for s in diverged])
    assert all(text.endswith("<br>diverged") for text in cross["text"])
    # the plot's x axis really is logarithmic: equal ratios, equal distances on screen
    xs = page.evaluate(f"(() => {{ const xa = {PLOT.format('score-lr')}._fullLayout.xaxis; "
                       "return [1e-4, 1e-3, 1e-2].map(v => xa.l2p(xa.d2l(v))); })()")
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=1)
    assert xs[1] - xs[0] > 50
    page.eval_on_selector("#scores", "d => d.scrollIntoView()")
    screenshot(page, "sweep-scores-lr.png")


@needs_chromium
def test_a_heatmap_with_a_diverged_corner(page: Any, server: Cluster) -> None:
    lrs, momenta = [1e-4, 1e-3, 3e-3, 5e-3], [0.0, 0.5, 0.9]
    document = run(server, {"name": "heatmap", "objective": "rosenbrock", "optimizer": "momentum",
                            "grid": {"lr": lrs, "momentum": momenta}, "seeds": 1, "steps": 60})
    status = {t["index"]: t["status"] for t in document["trials"]}
    diverged = {(s["params"]["lr"], s["params"]["momentum"]) for s in document["settings"]
                if s["score"] is None}
    assert diverged == {(5e-3, 0.9)}  # the corner
    assert all(status[i] == "diverged" for s in document["settings"] if s["score"] is None
               for i in s["trials"])
    score = {(s["params"]["lr"], s["params"]["momentum"]): s["score"]
             for s in document["settings"] if s["score"] is not None}

    plot = open_scores(page, document, "score-heatmap")
    heat = plot["data"][0]
    assert heat["type"] == "heatmap" and heat["meta"] == {"kind": "scores", "colour": "log"}
    assert heat["x"] == pytest.approx(lrs) and heat["y"] == pytest.approx(momenta)
    assert plot["layout"]["xaxis"]["type"] == "log"
    assert plot["layout"]["yaxis"]["type"] == "linear"
    # colour on log10(score); the diverged cell left out of the colours
    for i, m in enumerate(momenta):
        for j, lr in enumerate(lrs):
            if (lr, m) in diverged:
                assert heat["z"][i][j] is None
            else:
                assert heat["z"][i][j] == pytest.approx(math.log10(score[lr, m]))
    # the colour bar's ticks say real scores
    bar = heat["colorbar"]
    assert len(bar["tickvals"]) >= 2
    for value, text in zip(bar["tickvals"], bar["ticktext"], strict=True):
        assert float(text) == pytest.approx(10 ** value, rel=1e-4)
    # the diverged cell: grey, on a trace of its own, crossed
    grey = next(t for t in plot["data"] if t["meta"]["kind"] == "unscored-cells")
    assert [(lrs[j], momenta[i]) for i, row in enumerate(grey["z"]) for j, z in enumerate(row)
            if z is not None] == [(5e-3, 0.9)]
    assert grey["showscale"] is False
    cross = next(t for t in plot["data"] if t["meta"]["kind"] == "unscored")
    assert list(zip(cross["x"], cross["y"], strict=True)) == [(5e-3, 0.9)]

    # hovering the corner says "diverged"
    page.eval_on_selector("#scores [data-plot='score-heatmap']", "d => d.scrollIntoView()")
    at = page.evaluate(f"(() => {{ const d = {PLOT.format('score-heatmap')}, "
                       "xa = d._fullLayout.xaxis, ya = d._fullLayout.yaxis, "
                       "r = d.getBoundingClientRect(); "
                       "return [r.left + xa._offset + xa.l2p(xa.d2l(5e-3)), "
                       "r.top + ya._offset + ya.l2p(0.9)]; })()")
    page.mouse.move(*at)
    page.wait_for_selector("#scores [data-plot='score-heatmap'] .hoverlayer .hovertext")
    assert "diverged" in (page.text_content(
        "#scores [data-plot='score-heatmap'] .hoverlayer .hovertext") or "")
    page.eval_on_selector("#scores", "d => d.scrollIntoView()")
    screenshot(page, "sweep-scores-heatmap.png")

    # a slice plot per parameter, numeric axes
    for name, scale in (("lr", "log"), ("momentum", "linear")):
        plot = drawn(page, f"slice-{name}")
        assert plot["layout"]["xaxis"]["type"] == scale
        dots = next(t for t in plot["data"] if t["meta"]["kind"] == "slice")
        assert dots["x"] == pytest.approx([key[0 if name == "lr" else 1] for key in score])
        assert dots["y"] == pytest.approx(list(score.values()))


@needs_chromium
def test_three_swept_hyperparameters_get_parallel_coordinates_and_slices(
        page: Any, server: Cluster) -> None:
    grid = {"lr": [1e-3, 1e-2, 1e-1], "beta1": [0.8, 0.9], "beta2": [0.9, 0.999]}
    document = run(server, {"name": "three", "objective": "rosenbrock", "optimizer": "adam",
                            "grid": grid, "seeds": 1, "steps": 20})
    scored = [s for s in document["settings"] if s["score"] is not None]
    assert len(scored) == 12

    plot = open_scores(page, document, "score-parcoords")
    assert len(plot["data"]) == 1
    lines = plot["data"][0]
    assert lines["type"] == "parcoords"
    dims = lines["dimensions"]
    assert [d["label"] for d in dims] == ["lr", "beta1", "beta2", "score (final_loss)"]
    # lr log-spaced: on log10, its ticks the real rates
    assert dims[0]["values"] == pytest.approx([math.log10(s["params"]["lr"]) for s in scored])
    assert dims[0]["ticktext"] == ["0.001", "0.01", "0.1"]
    assert dims[1]["values"] == pytest.approx([s["params"]["beta1"] for s in scored])
    assert dims[2]["values"] == pytest.approx([s["params"]["beta2"] for s in scored])
    scores = [s["score"] for s in scored]
    log_scores = max(scores) / min(scores) >= 20
    assert dims[3]["values"] == pytest.approx(
        [math.log10(v) if log_scores else v for v in scores])
    # lines coloured by the score
    assert lines["line"]["color"] == pytest.approx([math.log10(v) for v in scores])
    # the plot is drawn: an axis per dimension
    assert page.evaluate(f"{PLOT.format('score-parcoords')}.querySelectorAll('.y-axis').length") == 4

    # a slice plot per parameter: each setting a marker at its value
    for name in grid:
        plot = drawn(page, f"slice-{name}")
        assert plot["layout"]["xaxis"]["type"] == ("log" if name == "lr" else "linear")
        dots = next(t for t in plot["data"] if t["meta"]["kind"] == "slice")
        assert dots["x"] == pytest.approx([s["params"][name] for s in scored])
        assert dots["y"] == pytest.approx(scores)
    page.eval_on_selector("#scores", "d => d.scrollIntoView()")
    screenshot(page, "sweep-scores-parcoords.png")
    assert page.evaluate("[...document.querySelectorAll('#scores [data-plot]')]"
                         ".map(d => d.dataset.plot)") == [
        "score-parcoords", "slice-lr", "slice-beta1", "slice-beta2"]


@needs_chromium
def test_scores_below_zero_colour_the_heatmap_by_rank(page: Any, server: Cluster) -> None:
    document = run(server, {"name": "rank", "objective": "styblinski_tang", "optimizer": "adam",
                            "grid": {"lr": [0.01, 0.1, 1.0], "beta1": [0.5, 0.9]},
                            "seeds": 1, "steps": 30})
    scores = sorted(s["score"] for s in document["settings"] if s["score"] is not None)
    assert scores[0] < 0  # its minimum is about −78 in two dimensions
    plot = open_scores(page, document, "score-heatmap")
    heat = plot["data"][0]
    assert heat["meta"] == {"kind": "scores", "colour": "rank"}
    assert sorted(z for row in heat["z"] for z in row if z is not None) == sorted(
        scores.index(v) for v in scores)
    # the colour bar's ticks: the scores at those ranks
    bar = heat["colorbar"]
    assert bar["tickvals"][0] == 0 and bar["tickvals"][-1] == len(scores) - 1
    for rank, text in zip(bar["tickvals"], bar["ticktext"], strict=True):
        assert text == page.evaluate("GS.num", scores[rank])  # in the page's one number format
