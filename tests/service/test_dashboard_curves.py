"""The sweep page's curves panel in a real browser (the fixtures of ``test_dashboard``): a colour
bar for a numeric hyperparameter with many values (log-scaled for a geomspace), a legend for an
optimizer, one number format (GS.num), a y range that follows the bulk of the curves with a
toggle for the full range, hovers that name the trial, and a table row's click highlighting its
curve."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from harness import Cluster, wait_for_status
from test_dashboard import browser, needs_chromium, page, screenshot, server

FIXTURES = (browser, page, server)

PALETTE = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
           "#35b779", "#6ece58", "#b5de2b", "#fde725"]
SCAN_LRS = [float(x) for x in np.geomspace(1e-4, 1e-1, 50)]
# plain gradient descent on Σ x², x₀ = (1, 1): loss 2·(1 − 2·lr)^(2·step); lr = 0.45 runs it
# down by 100× a step, to ~1e-200 in 100 steps, while the others stay within [0.03, 2]
BULK_LRS = [0.001, 0.002, 0.003, 0.005, 0.007, 0.01, 0.45]
SPECS: dict[str, dict[str, Any]] = {
    "scan": {"name": "lr scan", "objective": {"name": "sphere", "dim": 2}, "optimizer": "sgd",
             "grid": {"lr": SCAN_LRS}, "seeds": 1, "steps": 40},
    "bulk": {"name": "one runs away", "objective": {"name": "sphere", "dim": 2}, "optimizer": "sgd",
             "grid": {"lr": BULK_LRS}, "seeds": 1, "steps": 100},
    "compare": {"name": "three optimizers", "objective": {"name": "rosenbrock", "dim": 2},
                "steps": 40, "seeds": 1, "optimizers": [
                    {"optimizer": "sgd", "grid": {"lr": [1e-4, 3e-4]}},
                    {"optimizer": "adam", "grid": {"lr": [0.01, 0.1]}},
                    {"optimizer": "lion", "grid": {"lr": [1e-3, 1e-2]}}]},
}
SCI = re.compile(r"^-?[1-9](\.\d{1,2})?e-?\d+$")       # 9.93e-4, 1e-185, 1.23e5
PLAIN = re.compile(r"^-?\d+(\.\d+)?$")

AXIS = "document.getElementById('curves')._fullLayout.yaxis"


@pytest.fixture(scope="module")
def sweeps(server: Cluster) -> dict[str, dict[str, Any]]:
    out = {}
    with server.client() as client:
        ids = {name: client.post("/v1/sweeps", json=spec).json()["id"] for name, spec in SPECS.items()}
        for name, sweep_id in ids.items():
            assert wait_for_status(client, sweep_id, {"succeeded"}, 120)["status"] == "succeeded"
            out[name] = {"id": sweep_id,
                         "results": client.get(f"/v1/sweeps/{sweep_id}/results").json()}
    return out


def open_drawn(page: Any, sweep: dict[str, Any]) -> None:
    page.goto(f"/sweeps/{sweep['id']}")
    n = len(sweep["results"]["trials"])
    page.wait_for_function(f"curveTraces().length > 0 && document.querySelectorAll('#trials tbody tr').length === {n}")
    page.wait_for_selector("#scores .js-plotly-plot")


def shown_like_gs_num(text: str) -> bool:
    """A number as GS.num writes it: 3 significant digits, scientific below 1e-3."""
    if SCI.match(text):
        return abs(float(text)) < 1e-3 or abs(float(text)) >= 1e5
    if not PLAIN.match(text):
        return False
    value = float(text)
    digits = text.lstrip("-0.").replace(".", "")
    return value == 0 or (1e-3 <= abs(value) and (len(digits) <= 3 or value == int(value)))


@needs_chromium
def test_gs_num_one_format(page: Any, sweeps: dict[str, dict[str, Any]]) -> None:
    page.goto("/")
    cases = {0.0010069: "0.00101", 9.931e-4: "9.93e-4", 0.001: "0.001", 123456: "1.23e5",
             0.5: "0.5", 1e-185: "1e-185", -0.012345: "-0.0123", 3.14159: "3.14", 1234.5678: "1230",
             99999: "99999", 100000: "1e5", 0.00099951: "0.001", 2e-7: "2e-7", 0: "0", 12: "12",
             0.1 + 0.2: "0.3"}
    got = page.evaluate("xs => xs.map(x => GS.num(x))", list(cases))
    assert dict(zip(cases.values(), got, strict=True)) == {v: v for v in cases.values()}
    assert page.evaluate("[GS.num(null), GS.num(undefined), GS.num('adam')]") == ["—", "—", "adam"]


@needs_chromium
def test_a_log_spaced_scan_gets_a_log_colour_bar_and_a_short_legend(
        page: Any, sweeps: dict[str, dict[str, Any]]) -> None:
    sweep = sweeps["scan"]
    open_drawn(page, sweep)
    assert page.input_value("#color-by") == "lr"
    bar = page.evaluate("document.getElementById('curves').data.find(t => t.meta && t.meta.kind === 'colorbar')")
    assert bar is not None and bar["marker"]["showscale"] is True and bar["meta"]["log"] is True
    colorbar = bar["marker"]["colorbar"]
    # log ticks: the decades of 1e-4..0.1, written by GS.num, at log10 of their values
    assert colorbar["ticktext"] == ["1e-4", "0.001", "0.01", "0.1"]
    assert colorbar["tickvals"] == pytest.approx([-4, -3, -2, -1])
    assert bar["marker"]["cmin"] == pytest.approx(-4) and bar["marker"]["cmax"] == pytest.approx(-1)
    # plotly drew it, with those tick labels
    drawn_ticks = page.eval_on_selector_all("#curves .colorbar .cbaxis text, #curves .colorbar .ytick text",
                                            "ts => ts.map(t => t.textContent)")
    assert drawn_ticks == ["1e-4", "0.001", "0.01", "0.1"]
    # each curve's colour is its lr's bin on the log scale
    colours = page.evaluate("curveTraces().map(t => [t.meta.index, t.line.color])")
    lr_of = {t["index"]: t["params"]["lr"] for t in sweep["results"]["trials"]}
    assert len(colours) == len(SCAN_LRS)
    for index, colour in colours:
        position = (math.log10(lr_of[index]) + 4) / 3
        assert colour == PALETTE[min(9, math.floor(10 * position + 1e-9))], (lr_of[index], colour)
    # no swatch per value: the legend stays a line or two
    assert page.eval_on_selector_all("#legend [data-legend]", "s => s.length") == 0
    assert "log scale" in (page.text_content("#legend [data-colorbar='lr']") or "")
    assert page.evaluate("document.getElementById('legend').getBoundingClientRect().height") < 60
    # the first screen (1000 px high) holds most of the chart
    assert page.evaluate("document.getElementById('curves').getBoundingClientRect().top") < 750
    # the table's lr column: one format
    lrs = page.eval_on_selector_all("#trials tbody td[data-value]", "tds => tds.map(td => td.textContent)")
    assert lrs and all(shown_like_gs_num(text) for text in lrs), [t for t in lrs if not shown_like_gs_num(t)]
    column = page.evaluate("[...document.querySelectorAll('#trials th')].findIndex(th => th.dataset.key === 'param:lr')")
    texts = page.eval_on_selector_all("#trials tbody tr", f"rs => rs.map(r => r.children[{column}].textContent)")
    assert texts[:3] == ["1e-4", "1.15e-4", "1.33e-4"] and texts[-1] == "0.1"
    screenshot(page, "sweep-colour-bar.png")


@needs_chromium
def test_an_optimizer_comparison_gets_a_legend(page: Any, sweeps: dict[str, dict[str, Any]]) -> None:
    open_drawn(page, sweeps["compare"])
    assert page.input_value("#color-by") == "optimizer"
    assert page.eval_on_selector_all("#legend [data-legend]", "s => s.map(x => x.textContent)") == [
        "sgd", "adam", "lion"]
    assert page.evaluate("document.getElementById('curves').data.some(t => t.meta && t.meta.kind === 'colorbar')") is False
    assert page.evaluate("document.getElementById('legend').getBoundingClientRect().height") < 60
    # lr has 5 values: a short list, still a legend, its values in GS.num's format
    page.select_option("#color-by", "lr")
    page.wait_for_function("document.querySelectorAll('#legend [data-legend]').length === 5")
    assert page.eval_on_selector_all("#legend [data-legend]", "s => s.map(x => x.textContent)") == [
        "1e-4", "3e-4", "0.001", "0.01", "0.1"]


def y_values(results: dict[str, Any], lrs: list[float]) -> list[float]:
    return [y for t in results["trials"] if t["params"]["lr"] in lrs for y in t["curve"]["loss"]]


@needs_chromium
def test_the_y_range_follows_the_bulk_with_a_toggle_for_all(
        page: Any, sweeps: dict[str, dict[str, Any]]) -> None:
    sweep = sweeps["bulk"]
    open_drawn(page, sweep)
    results = sweep["results"]
    tiny = min(y_values(results, [0.45]))
    assert tiny < 1e-150  # the runaway curve is there
    bulk = y_values(results, BULK_LRS[:-1])
    lo, hi = page.evaluate(f"{AXIS}.range")
    assert page.evaluate(f"{AXIS}.type") == "log"
    # the range holds the other curves' values (all but at most 2 %), not the runaway's depths
    within = [y for y in bulk if lo <= math.log10(y) <= hi]
    assert len(within) >= 0.98 * len(bulk)
    assert lo > math.log10(min(bulk)) - 2 and hi - lo < 5
    # its ticks in GS.num's format
    ticks = page.eval_on_selector_all("#curves .ytick text", "ts => ts.map(t => t.textContent)")
    assert ticks and all(shown_like_gs_num(t) for t in ticks), ticks
    screenshot(page, "sweep-bulk-range.png")
    # a zoom: the ticks follow, in the same format
    page.evaluate("Plotly.relayout('curves', {'yaxis.range': [-1, 0]})")
    page.wait_for_function(f"{AXIS}.ticktext.join() === '0.1,0.2,0.5,1'")
    # the full range: down to the runaway's least value
    page.check("#full-y")
    page.wait_for_function(f"{AXIS}.range[0] < -150")
    lo_full, hi_full = page.evaluate(f"{AXIS}.range")
    assert lo_full <= math.log10(tiny) and hi_full >= math.log10(max(bulk))
    page.uncheck("#full-y")
    page.wait_for_function(f"{AXIS}.range[0] > -10")
    assert page.evaluate(f"{AXIS}.range") == pytest.approx([lo, hi])
    # linear: the bulk in linear terms (the values below 2.2, none negative)
    page.uncheck("#log-y")
    page.wait_for_function(f"{AXIS}.type === 'linear'")
    lo_lin, hi_lin = page.evaluate(f"{AXIS}.range")
    assert lo_lin < 0.05 and 1.5 < hi_lin < 2.5


@needs_chromium
def test_hover_names_the_trial_and_a_row_click_highlights_its_curve(
        page: Any, sweeps: dict[str, dict[str, Any]]) -> None:
    sweep = sweeps["bulk"]
    open_drawn(page, sweep)
    trial = next(t for t in sweep["results"]["trials"] if t["params"]["lr"] == 0.01)
    # the mouse on its curve's last point
    x, y = page.evaluate(f"""() => {{
      const div = document.getElementById('curves'), L = div._fullLayout, box = div.getBoundingClientRect();
      const t = div.data.find(t => t.meta && t.meta.index === {trial['index']});
      const i = t.x.length - 1;
      return [box.left + L._size.l + L.xaxis.l2p(t.x[i]), box.top + L._size.t + L.yaxis.l2p(Math.log10(t.y[i]))];
    }}""")
    page.mouse.move(x, y)
    page.wait_for_selector("#curves .hoverlayer .hovertext")
    text = page.text_content("#curves .hoverlayer .hovertext") or ""
    assert f"trial {trial['index']}" in text and "lr=0.01" in text
    final = trial["curve"]["loss"][-1]
    assert page.evaluate("x => GS.num(x)", final) in text  # the value in GS.num's format
    page.mouse.move(5, 5)

    # a click on its row: its curve thick and on top, the others faint
    row = f"#trials tbody tr[data-index='{trial['index']}']"
    page.click(row)
    page.wait_for_function("curveTraces().some(t => t.meta.highlighted)")
    drawn = page.evaluate("curveTraces().map(t => ({index: t.meta.index, lit: t.meta.highlighted, "
                          "width: t.line.width, opacity: t.opacity}))")
    lit = [t for t in drawn if t["lit"]]
    assert [t["index"] for t in lit] == [trial["index"]]
    assert drawn[-1]["index"] == trial["index"]  # drawn last: on top
    assert all(t["width"] < lit[0]["width"] and t["opacity"] < 1 for t in drawn if not t["lit"])
    assert "highlighted" in (page.get_attribute(row, "class") or "")
    assert page.get_attribute(row, "aria-selected") == "true"
    screenshot(page, "sweep-highlight.png")
    # another click: back as it was
    page.click(row)
    page.wait_for_function("!curveTraces().some(t => t.meta.highlighted)")
    assert "highlighted" not in (page.get_attribute(row, "class") or "")
    assert page.evaluate("curveTraces().every(t => t.line.width < 5)")
