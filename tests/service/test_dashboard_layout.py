"""The sweep page's layout in a real browser (the fixtures of ``test_dashboard``): on sweeps with
1, 2 and 3 swept hyperparameters, at 1400 and 800 px wide and after a resize from one to the
other, no panel overlaps another, every plot's SVG lies inside its panel, nothing covers the
Trials table's header row and every numeric axis is labelled in the dashboard's one number format."""

from __future__ import annotations

from typing import Any

import pytest
from harness import Cluster, wait_for_status
from test_dashboard import browser, needs_chromium, page, screenshot, server
from test_dashboard_curves import shown_like_gs_num

FIXTURES = (browser, page, server)

GRIDS: dict[int, dict[str, list[float]]] = {
    1: {"lr": [0.001, 0.003, 0.01, 0.03]},
    2: {"lr": [0.001, 0.01, 0.1], "beta1": [0.8, 0.9]},
    3: {"lr": [0.001, 0.01], "beta1": [0.8, 0.9], "beta2": [0.99, 0.999]},
}

# Every visible panel's box, every plot's SVG boxes with its panel's, and what lies at the
# centre of each header cell of the trials table (scrolled into view first).
GEOMETRY = r"""() => {
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height}; };
  const panels = [...document.querySelectorAll('.panel')].filter(p => p.offsetParent !== null)
    .map(p => ({name: (p.querySelector('h2') || {}).textContent, ...box(p)}));
  const plots = [...document.querySelectorAll('.js-plotly-plot')].map(div => ({
    plot: div.id || div.dataset.plot, panel: box(div.closest('.panel')), div: box(div),
    svgs: [...div.querySelectorAll('svg.main-svg')].map(box)}));
  const head = document.querySelector('#trials thead');  // the sweep page's
  if (head) head.scrollIntoView({block: 'center'});
  const covered = [...(head ? head.querySelectorAll('th') : [])].filter(th => {
    const r = th.getBoundingClientRect();
    const x = Math.min(r.left + r.width / 2, innerWidth - 2);  // a wide table scrolls in its panel
    const hit = document.elementFromPoint(x, r.top + r.height / 2);
    return r.left + r.width / 2 < innerWidth && !(hit && th.contains(hit));
  }).map(th => th.dataset.key);
  scrollTo(0, 0);
  // every numeric axis's tick labels (plotly names a tick of axis x2 ".x2tick")
  const ticks = [...document.querySelectorAll('.js-plotly-plot')].flatMap(div =>
    Object.entries(div._fullLayout || {}).filter(([k, ax]) => /^[xy]axis\d*$/.test(k) && ax &&
                                                  ['linear', 'log'].includes(ax.type))
      .flatMap(([k, ax]) => [...div.querySelectorAll(`.${ax._id}tick text`)]
        .map(t => ({plot: div.id || div.dataset.plot, axis: k, text: t.textContent}))));
  return {panels, plots, covered, ticks, width: document.documentElement.clientWidth,
          scrollWidth: document.documentElement.scrollWidth};
}"""

# every plot drawn at its div's size (plotly's own record of what it drew)
FITTED = ("[...document.querySelectorAll('.js-plotly-plot')].every(d => d._fullLayout && "
          "Math.abs(d._fullLayout.width - d.clientWidth) <= 1 && "
          "Math.abs(d._fullLayout.height - d.clientHeight) <= 1)")


@pytest.fixture(scope="module")
def sweeps(server: Cluster) -> dict[int, str]:
    ids = {}
    with server.client() as client:
        for n, grid in GRIDS.items():
            spec = {"name": f"{n} swept", "objective": {"name": "rosenbrock", "dim": 2},
                    "optimizer": "adam", "grid": grid, "seeds": 2, "steps": 60}
            ids[n] = client.post("/v1/sweeps", json=spec).json()["id"]
        for sweep_id in ids.values():
            assert wait_for_status(client, sweep_id, {"succeeded"}, 120)["status"] == "succeeded"
    return ids


def open_drawn(page: Any, sweep_id: str) -> None:
    page.goto(f"/sweeps/{sweep_id}")
    page.wait_for_function("curveTraces().length > 0")
    page.wait_for_selector("#scores .js-plotly-plot")  # the score plots are drawn at once
    page.wait_for_selector("#trials tbody tr")
    page.wait_for_function(FITTED)


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 1.0) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["w"] <= outer["x"] + outer["w"] + slack
            and inner["y"] + inner["h"] <= outer["y"] + outer["h"] + slack)


def check_layout(page: Any, panels_at_least: int = 4) -> dict[str, Any]:
    """No panel overlaps another, every plot lies inside its panel, nothing covers the trials
    table's header (on a sweep's page), and the page does not scroll sideways."""
    geometry: dict[str, Any] = page.evaluate(GEOMETRY)
    panels = geometry["panels"]
    assert len(panels) >= panels_at_least
    for i, a in enumerate(panels):
        for b in panels[i + 1:]:
            assert not overlap(a, b), (a, b)
    assert geometry["plots"], "no plot drawn"
    for plot in geometry["plots"]:
        assert plot["svgs"], plot
        for svg in plot["svgs"]:
            assert inside(svg, plot["panel"]), (plot["plot"], svg, plot["panel"])
            assert svg["w"] > 200 and svg["h"] > 100, (plot["plot"], svg)
    assert geometry["covered"] == [], geometry["covered"]
    # one number format on every axis (plotly's own would read 100µ, 10⁻⁴ or −2)
    assert geometry["ticks"], "no numeric axis"
    assert all(shown_like_gs_num(t["text"]) for t in geometry["ticks"]), [
        t for t in geometry["ticks"] if not shown_like_gs_num(t["text"])]
    assert geometry["scrollWidth"] <= geometry["width"]  # the page itself never scrolls sideways
    return geometry


def resize(page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_function(f"Math.abs(document.getElementById('curves')._fullLayout.width - "
                           f"document.getElementById('curves').clientWidth) <= 1 && "
                           f"document.documentElement.clientWidth === {width}")
    page.wait_for_function(FITTED)


@needs_chromium
@pytest.mark.parametrize(("swept", "first", "then"), [(1, 1400, 800), (2, 800, 1400), (3, 1400, 800)])
def test_panels_hold_their_plots_at_1400_and_800_px(page: Any, sweeps: dict[int, str], swept: int,
                                                    first: int, then: int) -> None:
    """Opened at one width, resized to the other and back: each time, the layout holds."""
    page.set_viewport_size({"width": first, "height": 1000})
    open_drawn(page, sweeps[swept])
    opened = check_layout(page)
    screenshot(page, f"sweep-layout-{swept}-{first}.png")
    resize(page, then)
    resized = check_layout(page)
    screenshot(page, f"sweep-layout-{swept}-{then}.png")
    resize(page, first)
    back = check_layout(page)
    curves = {}
    for geometry in (opened, resized, back):
        plot = next(p for p in geometry["plots"] if p["plot"] == "curves")
        # the curves fill their card's width (less its padding), whatever the window's
        assert plot["div"]["w"] > plot["panel"]["w"] - 60
        curves[geometry["width"]] = plot["div"]["w"]
    assert curves[800] < curves[1400] - 300
    assert [p["div"]["w"] for p in back["plots"]] == pytest.approx(
        [p["div"]["w"] for p in opened["plots"]], abs=2)


@needs_chromium
def test_a_plot_drawn_before_it_is_in_the_page_is_fitted_once_it_is(
        page: Any, sweeps: dict[int, str]) -> None:
    """Whatever draws a plot: one drawn into a detached div (plotly's 700 × 450 default) and
    then put into the Scores card is refitted to the card, and covers no header."""
    open_drawn(page, sweeps[1])
    page.evaluate("""() => {
      const div = document.createElement('div');
      div.className = 'score-plot'; div.dataset.plot = 'late';
      return Plotly.newPlot(div, [{type: 'scatter', x: [1, 2, 3], y: [3, 1, 2]}], {}).then(() => {
        document.getElementById('scores').append(div);
      });
    }""")
    page.wait_for_function(FITTED)  # the late plot among them
    check_layout(page)
