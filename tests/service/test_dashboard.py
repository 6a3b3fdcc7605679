"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a real
``gradsweep serve`` in embedded mode; screenshots of each page go to test-artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Cluster, cluster, wait_for_status

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # the repository root's
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LONG = {"name": "long sweep", "objective": {"name": "rosenbrock", "dim": 2}, "optimizer": "adam",
        "grid": {"lr": [0.001, 0.01]}, "seeds": 8, "steps": 300_000}
TIMEOUT_MS = 30_000

CURVE_TRACES = ("window.curveTraces = () => (document.getElementById('curves').data || [])"
                ".filter(t => !(t.meta && ['band', 'colorbar'].includes(t.meta.kind)));"
                "window.bandTraces = () => (document.getElementById('curves').data || [])"
                ".filter(t => t.meta && t.meta.kind === 'band');")

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason=f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("dashboard"), redis=False, jobs=2) as c:
        c.start_server()
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def watched_page(browser: Any, server: Cluster, *, refuse_failures: bool = True) -> Iterator[Any]:
    """A fresh page on the server that fails the test on any script or console error and, with
    ``refuse_failures``, on any 4xx or 5xx response but a POST's."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
    # the curves plot holds the quantile bands of all curves beside the trials' curves:
    # curveTraces() is the trials' traces (what the tests count), bandTraces() the bands (a
    # colour bar's carrier trace is neither)
    context.add_init_script(CURVE_TRACES)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text else None)
    if refuse_failures:
        page.on("response", lambda r: problems.append(
            f"{r.status} from {r.request.method} {r.url}")
            if r.status >= 400 and r.request.method != "POST" else None)
    try:
        yield page
    finally:
        context.close()
    assert not problems, problems


@pytest.fixture
def page(browser: Any, server: Cluster) -> Iterator[Any]:
    """A fresh page on the server; fails the test on any script error or console error."""
    with watched_page(browser, server) as page:
        yield page


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def number(text: str | None) -> float:
    assert text is not None
    return float(text)


# --- without a browser -----------------------------------------------------------------------

def test_pages_and_static_files_are_served(server: Cluster) -> None:
    with server.client() as client:
        for path in ("/", "/new", "/sweeps/" + "0" * 32, "/compare", "/compare?ids=x,y"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            assert "script-src 'self'" in response.headers["content-security-policy"]
        shipped = (files("plotly") / "package_data" / "plotly.min.js").read_bytes()
        plotly = client.get("/static/plotly.min.js")
        assert plotly.status_code == 200 and plotly.content == shipped
        assert plotly.headers["content-type"].startswith("text/javascript")
        for name in ("common.js", "sweeps.js", "sweep.js", "new.js", "compare.js", "style.css"):
            assert client.get("/static/" + name).status_code == 200
        for path in ("/static/../__init__.py", "/static/__init__.py", "/sweeps/not-an-id"):
            response = client.get(path)
            assert response.status_code in (404, 422)
            assert response.headers["content-type"].startswith("application/json")
        assert not any(p.startswith(("/static", "/new", "/sweeps/", "/compare"))
                       for p in client.get("/openapi.json").json()["paths"])


# --- in the browser ---------------------------------------------------------------------------

@needs_chromium
def test_submit_through_the_form_then_watch_it_finish(page: Any, server: Cluster) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.fill("#f-name", "from the form <b>")
    page.select_option("#f-optimizer", "adam")
    page.select_option("#f-objective", "rosenbrock")
    page.fill("#f-grid-lr", "0.001, 0.01, 0.1")
    page.fill("#f-grid-beta1", "0.8, 0.9")
    page.fill("#f-steps", "400")
    page.fill("#f-seeds", "2")
    spec = page.text_content("#spec-json")
    assert spec is not None
    assert '"lr": [\n      0.001,\n      0.01,\n      0.1\n    ]' in spec
    assert '"seeds": 2' in spec
    assert "pruning" not in json.loads(spec) and "record_every" not in json.loads(spec)
    assert page.text_content("#trial-count") == "12 trial(s)"
    screenshot(page, "new-sweep.png")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]

    page.wait_for_selector("#progress [role=progressbar][aria-valuenow='100']")
    page.wait_for_selector("#status [data-status='succeeded']")
    assert page.text_content("#title") == "from the form <b>"  # text, not markup
    # one trace per trial, once the final results are drawn
    page.wait_for_function("document.getElementById('curves').data && "
                           "curveTraces().length === 12")
    assert page.evaluate("document.getElementById('curves').layout.yaxis.type") == "log"
    assert page.evaluate("curveTraces().every("
                         "t => t.type === 'scatter' && t.x.length <= 201)")
    # no early stopping: no rungs, no crosses, no cost panel, statuses as they are
    assert page.evaluate("document.getElementById('curves').layout.shapes") is None
    assert page.evaluate("curveTraces().every(t => t.mode === 'lines')")
    assert page.is_hidden("#pruning-panel")
    # the best setting shown is the API's
    with server.client() as client:
        best = client.get(f"/v1/sweeps/{sweep_id}").json()["best"]
    assert best is not None
    page.wait_for_selector("#best-params")
    shown = {cell.get_attribute("data-param"): number(cell.get_attribute("data-value"))
             for cell in page.query_selector_all("#best-params [data-param]")}
    assert shown == pytest.approx(best["params"])
    assert number(page.get_attribute("#best-score", "data-value")) == pytest.approx(best["score"])
    assert len(page.query_selector_all("#trials tbody tr.best")) == len(best["trials"]) == 2
    # the importance panel: each swept hyperparameter with the API's share, sorted descending
    with server.client() as client:
        shares = client.get(f"/v1/sweeps/{sweep_id}/results").json()["summary"]["importance"]
    assert set(shares) == {"lr", "beta1"}
    page.wait_for_selector("#importance-panel:not([hidden]) #importance tr[data-param]")
    rows = page.eval_on_selector_all(
        "#importance tr[data-param]",
        "rows => rows.map(r => [r.dataset.param, r.querySelector('th').textContent, "
        "r.querySelector('.imp-pct').textContent, r.dataset.share, "
        "r.querySelector('.imp-bar .fill').style.width])")
    assert [r[0] for r in rows] == sorted(shares, key=lambda k: -shares[k])
    for name, label, text, share, width in rows:
        assert label == name
        assert text == f"{100 * shares[name]:.1f} %"
        assert number(share) == pytest.approx(shares[name])
        assert number(width.rstrip("%")) == pytest.approx(100 * shares[name], abs=0.01)
    # a heatmap for two swept hyperparameters
    assert page.evaluate("document.querySelector('#scores [data-plot]').data[0].type") == "heatmap"
    # the trials table sorts by any column
    page.click("#trials th[data-key='final_loss']")
    column = page.evaluate("[...document.querySelectorAll('#trials th')]"
                           ".findIndex(th => th.dataset.key === 'final_loss')")
    losses = [number(c) for c in page.eval_on_selector_all(
        "#trials tbody tr", f"rows => rows.map(r => r.children[{column}].dataset.value)")
        if c is not None]
    assert losses == sorted(losses)
    page.click("#trials th[data-key='final_loss']")
    assert page.get_attribute("#trials th[data-key='final_loss']", "data-dir") == "desc"
    # the linear toggle
    page.uncheck("#log-y")
    page.wait_for_function("document.getElementById('curves').layout.yaxis.type === 'linear'")
    # one optimizer: no panel of each one's best, no optimizer column
    assert page.is_hidden("#by-optimizer-panel")
    assert "optimizer" not in page.eval_on_selector_all("#trials th",
                                                        "ths => ths.map(th => th.dataset.key)")
    assert page.get_attribute("#download-csv", "href") == f"/v1/sweeps/{sweep_id}/results.csv"
    assert page.is_hidden("#cancel")
    screenshot(page, "sweep.png")

    page.goto("/")
    row = f"#sweeps tr[data-id='{sweep_id}']"
    page.wait_for_selector(row)
    assert page.get_attribute(f"{row} [role=progressbar]", "aria-valuenow") == "100"
    assert page.text_content(f"{row} a") == "from the form <b>"
    page.select_option("#status-filter", "running")
    page.wait_for_selector(row, state="detached")
    page.select_option("#status-filter", "succeeded")
    page.wait_for_selector(row)
    screenshot(page, "sweeps.png")


def traces(page: Any) -> list[dict[str, Any]]:
    """The curves plot's traces as drawn: name, optimizer, legend group, colour, width."""
    return list(page.evaluate(
        "curveTraces().map(t => ({name: t.name, "
        "optimizer: t.meta && t.meta.optimizer, group: t.legendgroup, colour: t.line.color, "
        "width: t.line.width}))"))


COMPARED = ["adam", "sgd", "momentum", "adamw", "lion"]  # the entries' rules, in the form's order


@needs_chromium
def test_compare_optimizers_from_the_form_then_their_curves_and_bests(
        page: Any, server: Cluster) -> None:
    """Five optimizers from the form (one with its eps placement and a schedule, one with
    clipping); the sweep page colours the curves by optimizer, lists each one's best as the
    API does and gives the trials an optimizer column."""
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.fill("#f-name", "five optimizers")
    page.select_option("#f-objective", "rosenbrock")
    assert page.input_value("#f-optimizer") == "adam"
    assert page.is_hidden(".remove-optimizer")  # one entry: nothing to remove
    page.fill("#f-grid-lr", "0.01, 0.1")
    # entries 2..6: sgd, nesterov (removed below), momentum, adamw, lion
    for i, (rule, lrs) in enumerate([("sgd", "0.0001, 0.001"), ("nesterov", "0.001"),
                                     ("momentum", "0.0001, 0.001"), ("adamw", "0.01, 0.1"),
                                     ("lion", "0.001, 0.003")], start=1):
        page.click("#add-optimizer")
        page.select_option(f"#f{i}-optimizer", rule)
        page.fill(f"#f{i}-grid-lr", lrs)
    assert not page.is_visible("#f1-eps")  # sgd has no eps
    assert page.input_value("#f4-eps") == "outside"  # adamw's default placement
    page.select_option("#f4-eps", "inside")
    page.select_option("#f4-schedule", "warmup_cosine")
    assert page.get_attribute("#f4-schedule-warmup_steps", "placeholder") == "required"
    assert page.get_attribute("#f4-schedule-t_max", "placeholder") == "default: the sweep's steps"
    page.fill("#f4-schedule-warmup_steps", "-5")
    page.select_option("#f5-clip", "global_norm")
    page.fill("#f5-clip-limit", "1, 10")
    page.fill("#f5-grid-lr", "0.001, fast")
    # the second removed: the later entries take its place, ids and error slots alike
    page.click("fieldset.entry[data-entry='2'] .remove-optimizer")
    assert page.input_value("#f2-optimizer") == "momentum"
    assert page.input_value("#f4-optimizer") == "lion" and not page.query_selector("#f5-optimizer")
    assert page.get_attribute("#f3-schedule-warmup_steps", "placeholder") == "required"
    page.fill("#f-steps", "60")
    spec = json.loads(page.text_content("#spec-json") or "")
    assert "optimizer" not in spec and "grid" not in spec
    assert [e["optimizer"] for e in spec["optimizers"]] == [
        "adam", "sgd", "momentum", {"name": "adamw", "eps_placement": "inside"}, "lion"]
    assert spec["optimizers"][3]["schedule"] == {"name": "warmup_cosine", "warmup_steps": -5}
    assert spec["optimizers"][4]["clip"] == {"global_norm": [1, 10]}
    assert "schedule" not in spec["optimizers"][0] and "clip" not in spec["optimizers"][0]

    # the API's 422s land by the entry's fields, as it numbers the entries (it names the
    # schedule's range first, the list's bad number once the schedule is right)
    page.click("#submit")
    warmup_slot = "[data-error-for='optimizers.3.schedule.warmup_steps']"
    page.wait_for_function(f"document.querySelector(\"{warmup_slot}\").textContent.length > 0")
    assert "out of range" in (page.text_content(warmup_slot) or "")
    assert page.text_content("[data-error-for='optimizers.3.schedule']") == ""
    page.fill("#f3-schedule-warmup_steps", "10")
    page.click("#submit")
    lr_slot = "[data-error-for='optimizers.4.grid.lr']"
    page.wait_for_function(f"document.querySelector(\"{lr_slot}\").textContent.length > 0")
    assert "valid number" in (page.text_content(lr_slot) or "")
    assert page.text_content(warmup_slot) == ""
    assert page.text_content("[data-error-for='optimizers.0.grid.lr']") == ""
    assert page.text_content("#form-error") == ""
    screenshot(page, "new-sweep-compare.png")
    page.fill("#f4-grid-lr", "0.001, 0.003")
    assert page.text_content("#trial-count") == "12 trial(s)"  # 2 + 2 + 2 + 2 + 2·2
    shown = json.loads(page.text_content("#spec-json") or "")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/sweeps")) as sent:
        page.click("#submit")
    assert json.loads(sent.value.post_data or "") == shown
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#status [data-status='succeeded']")
    page.wait_for_function("document.getElementById('curves').data && "
                           "curveTraces().length === 12")
    with server.client() as client:
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    by = document["summary"]["by_optimizer"]
    assert list(by) == COMPARED
    optimizer_of = {t["index"]: t["optimizer"] for t in document["trials"]}

    # curves coloured by optimizer: one colour each, grouped by it, a legend of the names
    assert page.input_value("#color-by") == "optimizer"
    drawn = traces(page)
    colours: dict[str, set[str]] = {}
    for trace in drawn:
        assert trace["optimizer"] == trace["group"] == optimizer_of[int(trace["name"][1:])]
        colours.setdefault(trace["optimizer"], set()).add(trace["colour"])
    assert set(colours) == set(COMPARED)
    assert all(len(c) == 1 for c in colours.values())
    assert len({c for cs in colours.values() for c in cs}) == len(COMPARED)
    legend = page.eval_on_selector_all("#legend [data-legend]", "s => s.map(x => x.textContent)")
    assert legend == COMPARED
    # a click on a name hides that optimizer's curves, a second shows them again
    page.click("#legend [data-legend='sgd']")
    page.wait_for_function("curveTraces().some(t => t.visible === false)")
    assert {t["optimizer"] for t in page.evaluate(
        "curveTraces().filter(t => t.visible === false)"
        ".map(t => ({optimizer: t.meta.optimizer}))")} == {"sgd"}
    page.click("#legend [data-legend='sgd']")
    page.wait_for_function("curveTraces().every(t => t.visible)")
    each_best = {i for entry in by.values() for i in entry["best"]["trials"]}
    assert {int(t["name"][1:]) for t in drawn if t["width"] > 2} == each_best

    # best per optimizer: every one, its score, best first (final_loss: lower is better)
    page.wait_for_selector("#by-optimizer-panel:not([hidden]) tr[data-optimizer]")
    assert "final_loss: lower is better" in (page.text_content("#by-optimizer-metric") or "")
    rows = page.eval_on_selector_all(
        "#by-optimizer tbody tr",
        "rs => rs.map(r => [r.dataset.optimizer, r.querySelector('.score').dataset.value, "
        "JSON.parse(r.querySelector('.params').dataset.params)])")
    assert {name for name, _, _ in rows} == set(COMPARED)
    for name, score, params in rows:
        assert number(score) == pytest.approx(by[name]["best"]["score"])
        assert params == pytest.approx(by[name]["best"]["params"])
    scores = [number(score) for _, score, _ in rows]
    assert scores == sorted(scores)
    best = document["best"]
    assert page.get_attribute("#best-optimizer", "data-optimizer") == optimizer_of[best["trials"][0]]
    assert rows[0][0] == optimizer_of[best["trials"][0]]
    # its button highlights one optimizer's best trials: their curves and their rows
    page.click("#by-optimizer tr[data-optimizer='lion'] button.show-best")
    lion = set(by["lion"]["best"]["trials"])
    page.wait_for_selector("#by-optimizer tr.chosen[data-optimizer='lion']")
    assert {int(t["name"][1:]) for t in traces(page) if t["width"] > 2} == lion
    assert {int(i) for i in page.eval_on_selector_all(
        "#trials tbody tr.chosen", "rs => rs.map(r => r.dataset.index)")} == lion
    screenshot(page, "sweep-compare-highlight.png")
    page.click("#by-optimizer tr[data-optimizer='lion'] button.show-best")  # again: off
    page.wait_for_selector("#by-optimizer tr.chosen", state="detached")

    # the trials table: an optimizer column, each optimizer's own hyperparameters
    keys = page.eval_on_selector_all("#trials th", "ths => ths.map(th => th.dataset.key)")
    assert keys[:2] == ["index", "optimizer"]
    for key in ("param:lr", "param:momentum", "param:beta1", "param:schedule.warmup_steps",
                "param:clip.global_norm"):
        assert key in keys
    cells = page.eval_on_selector_all(
        "#trials tbody tr", "rs => rs.map(r => [r.dataset.index, r.children[1].textContent])")
    assert {int(i): name for i, name in cells} == optimizer_of
    # the scores: each optimizer's best as a bar
    bar = page.evaluate("document.querySelector('#scores [data-plot=score-by-optimizer]').data[0]")
    assert bar["type"] == "bar" and bar["x"] == COMPARED
    assert bar["y"] == pytest.approx([by[n]["best"]["score"] for n in COMPARED])
    # coloured by a hyperparameter instead: the trials without it in grey
    page.select_option("#color-by", "momentum")
    page.wait_for_function("curveTraces().some("
                           "t => t.line.color === '#c4c4c4')")
    screenshot(page, "sweep-compare.png")


@needs_chromium
def test_one_optimizer_with_a_schedule_and_clipping_posts_the_single_form(
        page: Any, server: Cluster) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.select_option("#f-objective", "rosenbrock")
    page.select_option("#f-optimizer", "rmsprop")
    page.fill("#f-grid-lr", "0.001, 0.01")
    page.select_option("#f-eps", "outside")
    page.select_option("#f-schedule", "step")
    page.fill("#f-schedule-step_size", "10, 20")
    page.select_option("#f-clip", "value")
    page.fill("#f-clip-limit", "0")
    page.fill("#f-steps", "50")
    spec = json.loads(page.text_content("#spec-json") or "")
    assert spec["optimizer"] == {"name": "rmsprop", "eps_placement": "outside"}
    assert spec["grid"] == {"lr": [0.001, 0.01]}
    assert spec["schedule"] == {"name": "step", "step_size": [10, 20]}
    assert spec["clip"] == {"value": 0}
    assert "optimizers" not in spec
    assert page.text_content("#trial-count") == "4 trial(s)"
    page.click("#submit")  # clip.value = 0 is out of range: by the clipping fields
    page.wait_for_function("document.querySelector(\"[data-error-for='clip']\").textContent")
    assert "out of range" in (page.text_content("[data-error-for='clip']") or "")
    page.fill("#f-clip-limit", "0.5")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#status [data-status='succeeded']")
    page.wait_for_function("document.getElementById('curves').data && "
                           "curveTraces().length === 4")
    with server.client() as client:
        document = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert document["spec"]["optimizers"] is None
    assert list(document["summary"]["by_optimizer"]) == ["rmsprop"]
    # one optimizer: no panel of each one's best, no optimizer column, coloured by a swept key
    assert page.is_hidden("#by-optimizer-panel")
    assert page.query_selector("#trials th[data-key='optimizer']") is None
    options = page.eval_on_selector_all("#color-by option", "os => os.map(o => o.value)")
    assert "optimizer" not in options and "schedule.step_size" in options
    assert page.input_value("#color-by") == "lr"
    assert len({t["colour"] for t in traces(page)}) == 2
    assert "schedule step" in (page.text_content("#meta") or "")
    assert "clip value 0.5" in (page.text_content("#meta") or "")
    assert page.query_selector("#best-optimizer") is None
    screenshot(page, "sweep-schedule.png")


@needs_chromium
def test_the_form_shows_422_messages_next_to_their_fields(page: Any) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.fill("#f-steps", "0")
    page.fill("#f-grid-lr", "0.1, fast")
    page.click("#submit")
    page.wait_for_function("document.querySelector(\"[data-error-for='steps']\").textContent")
    assert "greater than or equal to 1" in (
        page.text_content("[data-error-for='steps']") or "")
    assert "valid number" in (page.text_content("[data-error-for='grid.lr']") or "")
    assert page.url.endswith("/new")
    screenshot(page, "new-sweep-422.png")


@needs_chromium
def test_a_formula_of_ones_own_from_the_form_with_its_422_then_its_sweep(
        page: Any, server: Cluster) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    assert not page.is_visible("#f-expr")  # only the expression objective has a formula
    page.select_option("#f-objective", "expression")
    assert page.is_visible("#f-expr")
    page.fill("#f-expr", "x0**2 + foo(x1)")
    page.fill("#f-grid-lr", "0.01, 0.1")
    page.click("#submit")
    page.wait_for_function(
        "document.querySelector(\"[data-error-for='objective.expr']\").textContent")
    assert "position 8: unknown name 'foo'" in (
        page.text_content("[data-error-for='objective.expr']") or "")
    page.fill("#f-expr", "x0**2 + 3*x1**2")
    assert '"expr": "x0**2 + 3*x1**2"' in (page.text_content("#spec-json") or "")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    page.wait_for_selector("#status [data-status='succeeded']")


def metric_options(page: Any) -> dict[str, str]:
    """The metric select's options: value → label."""
    return dict(page.eval_on_selector_all("#f-metric option",
                                          "os => os.map(o => [o.value, o.textContent])"))


@needs_chromium
def test_the_form_takes_a_model_s_fields_instead_of_dim(page: Any) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    assert page.input_value("#f-objective") == "rosenbrock"
    assert page.is_visible("#f-dim") and not page.is_visible("#f-dataset")
    assert list(metric_options(page)) == ["final_loss", "min_loss", "mean_loss"]

    page.select_option("#f-objective", "mlp")
    assert not page.is_visible("#f-dim")
    for field in ("#f-dataset", "#f-hidden", "#f-activation", "#f-batch-size", "#f-validation",
                  "#f-l2"):
        assert page.is_visible(field), field
    datasets = page.eval_on_selector_all("#f-dataset option",
                                         "os => os.map(o => [o.value, o.textContent])")
    assert dict(datasets)["iris"] == "iris — 150 rows, 4 features, 3 classes"
    assert "diabetes" in dict(datasets)
    # no validation rows, no validation metrics; the accuracies only with classes
    assert list(metric_options(page)) == ["final_loss", "min_loss", "mean_loss"]
    page.select_option("#f-dataset", "iris")
    page.fill("#f-validation", "0.25")
    options = metric_options(page)
    assert list(options) == ["final_loss", "min_loss", "mean_loss", "final_val_loss",
                             "min_val_loss", "final_val_accuracy", "max_val_accuracy"]
    assert options["max_val_accuracy"] == "max_val_accuracy (higher is better)"
    assert options["min_val_loss"] == "min_val_loss"
    page.select_option("#f-metric", "final_val_accuracy")
    page.select_option("#f-dataset", "diabetes")  # a real target: no accuracy
    assert "final_val_accuracy" not in metric_options(page)
    assert page.input_value("#f-metric") == "final_loss"
    page.select_option("#f-dataset", "wine")  # the choice comes back with the classes
    assert page.input_value("#f-metric") == "final_val_accuracy"
    page.fill("#f-hidden", "16, 8")
    page.select_option("#f-activation", "relu")
    spec = json.loads(page.text_content("#spec-json") or "")
    assert spec["objective"] == {"name": "mlp", "dataset": "wine", "validation": 0.25,
                                 "hidden": [16, 8], "activation": "relu"}  # no dim
    assert spec["metric"] == "final_val_accuracy"
    # a linear model has no layers
    page.select_option("#f-objective", "softmax_regression")
    assert not page.is_visible("#f-hidden") and not page.is_visible("#f-activation")
    assert page.is_visible("#f-batch-size") and not page.is_visible("#f-dim")
    assert "hidden" not in json.loads(page.text_content("#spec-json") or "")["objective"]

    # the API's 422s next to the model's fields: its own bounds, and the checks across fields
    # the API reports on the objective as a whole
    page.select_option("#f-objective", "mlp")
    page.select_option("#f-dataset", "iris")
    page.fill("#f-validation", "1.5")
    page.fill("#f-l2", "-1")
    page.fill("#f-hidden", "8, 0")
    page.click("#submit")
    page.wait_for_function(
        "document.querySelector(\"[data-error-for='objective.validation']\").textContent")
    assert "less than 1" in (page.text_content("[data-error-for='objective.validation']") or "")
    assert "greater than or equal to 0" in (
        page.text_content("[data-error-for='objective.l2']") or "")
    assert "greater than or equal to 1" in (
        page.text_content("[data-error-for='objective.hidden']") or "")
    page.fill("#f-validation", "0.2")
    page.fill("#f-l2", "")
    page.fill("#f-hidden", "8")
    page.fill("#f-batch-size", "1000")
    page.click("#submit")
    page.wait_for_function(
        "document.querySelector(\"[data-error-for='objective.batch_size']\").textContent")
    assert page.text_content("[data-error-for='objective.batch_size']") == (
        "batch_size = 1000 is over the 120 training rows")
    assert page.text_content("[data-error-for='objective']") == ""
    assert page.text_content("#form-error") == ""
    screenshot(page, "new-sweep-model.png")

    page.select_option("#f-objective", "rosenbrock")
    assert page.is_visible("#f-dim") and not page.is_visible("#f-dataset")
    assert list(metric_options(page)) == ["final_loss", "min_loss", "mean_loss"]
    assert json.loads(page.text_content("#spec-json") or "")["objective"] == {
        "name": "rosenbrock", "dim": 2}


@needs_chromium
def test_an_mlp_sweep_from_the_form_with_its_validation_curves(
        page: Any, server: Cluster) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.select_option("#f-objective", "mlp")
    page.select_option("#f-dataset", "iris")
    page.fill("#f-hidden", "8")
    page.fill("#f-batch-size", "16")
    page.fill("#f-validation", "0.2")
    page.select_option("#f-metric", "max_val_accuracy")
    page.fill("#f-grid-lr", "0.003, 0.03, 0.3")
    page.fill("#f-steps", "60")
    shown = json.loads(page.text_content("#spec-json") or "")
    assert shown["objective"] == {"name": "mlp", "dataset": "iris", "batch_size": 16,
                                  "validation": 0.2, "hidden": [8], "activation": "tanh"}
    assert shown["metric"] == "max_val_accuracy"
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/sweeps")) as sent:
        page.click("#submit")
    assert json.loads(sent.value.post_data or "") == shown  # what is posted is what is shown
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#status [data-status='succeeded']")
    page.wait_for_function("document.getElementById('curves').data && "
                           "curveTraces().length === 3")
    with server.client() as client:
        results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    assert results["spec"]["metric"] == "max_val_accuracy"
    curves = {f"#{t['index']}": t["curve"] for t in results["trials"]}

    # the chooser offers the validation curves; val_accuracy is plotted linear
    assert page.eval_on_selector_all("#curve-choice option", "os => os.map(o => o.value)") == [
        "loss", "val_loss", "val_accuracy"]
    assert page.evaluate("document.getElementById('curves').layout.yaxis.title.text") == "loss"
    page.select_option("#curve-choice", "val_accuracy")
    page.wait_for_function(
        "document.getElementById('curves').layout.yaxis.title.text === 'val_accuracy'")
    assert page.evaluate("document.getElementById('curves').layout.yaxis.type") == "linear"
    assert not page.is_checked("#log-y")
    plotted = page.evaluate("curveTraces().map("
                            "t => [t.name, Array.from(t.x), Array.from(t.y)])")
    assert {name for name, _, _ in plotted} == set(curves)
    for name, xs, ys in plotted:
        assert xs == curves[name]["step"]
        assert ys == pytest.approx(curves[name]["val_accuracy"])
    assert any(ys != pytest.approx(curves[name]["loss"]) for name, _, ys in plotted)
    page.select_option("#curve-choice", "loss")  # the loss keeps its log scale
    page.wait_for_function("document.getElementById('curves').layout.yaxis.type === 'log'")
    assert page.is_checked("#log-y")

    # the best is the highest score, and the page says so
    best = results["best"]
    assert best["score"] == max(s["score"] for s in results["settings"])
    page.wait_for_selector("#best-metric")
    assert number(page.get_attribute("#best-score", "data-value")) == pytest.approx(best["score"])
    assert page.get_attribute("#best-metric", "data-goal") == "max"
    assert "max_val_accuracy: higher is better" in (page.text_content("#best-metric") or "")
    best_rows = [int(r) for r in page.eval_on_selector_all(
        "#trials tbody tr.best", "rows => rows.map(r => r.dataset.index)")]
    assert best_rows == best["trials"]
    # the validation columns; an accuracy sorts highest first
    keys = page.eval_on_selector_all("#trials th", "ths => ths.map(th => th.dataset.key)")
    for key in ("final_val_loss", "min_val_loss", "final_val_accuracy", "max_val_accuracy"):
        assert key in keys
    page.click("#trials th[data-key='max_val_accuracy']")
    assert page.get_attribute("#trials th[data-key='max_val_accuracy']", "data-dir") == "desc"
    column = keys.index("max_val_accuracy")
    accuracies = [number(c) for c in page.eval_on_selector_all(
        "#trials tbody tr", f"rows => rows.map(r => r.children[{column}].dataset.value)")]
    assert accuracies == sorted(accuracies, reverse=True)
    assert accuracies[0] == pytest.approx(best["score"])
    page.click("#trials th[data-key='final_val_loss']")  # a loss: lowest first
    assert page.get_attribute("#trials th[data-key='final_val_loss']", "data-dir") == "asc"
    screenshot(page, "sweep-mlp.png")


@needs_chromium
def test_cancel_a_running_sweep_from_its_page(page: Any, server: Cluster) -> None:
    with server.client() as client:
        created = client.post("/v1/sweeps", json=LONG)
        assert created.status_code == 202, created.text
        sweep_id = created.json()["id"]
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/sweeps/{sweep_id}")
    page.wait_for_selector("#cancel:not([hidden])")
    page.click("#cancel")
    page.wait_for_selector("#status [data-status='cancelled']")
    page.wait_for_selector("#cancel", state="hidden")
    with server.client() as client:
        assert wait_for_status(client, sweep_id, {"cancelled"}, timeout=10)["status"] == "cancelled"
    screenshot(page, "sweep-cancelled.png")


def test_unknown_sweep_page_says_so(server: Cluster) -> None:
    # the page itself is static; the API's 404 is what the page shows (checked without a
    # browser: the JSON the script reads)
    response = httpx.get(f"{server.url}/v1/sweeps/{'f' * 32}")
    assert response.status_code == 404
