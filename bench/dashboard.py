"""Benchmark of the dashboard's sweep page in a real browser: first draw of a 1,000-trial and of a
10^6-trial sweep.

Run from the project root, in the dev virtualenv (Debian's chromium at /usr/bin/chromium and
Playwright for Python installed; no Redis needed)::

    python bench/dashboard.py              # about 30 s here
    python bench/dashboard.py --reps 5

A real ``gradsweep serve`` runs in embedded mode (``GRADSWEEP_JOBS=2``, a fresh data directory
in a temporary directory), started as the integration tests start it
(``service.testing.cluster``). It runs one sweep: Adam on 2-D Rosenbrock, 1,000 lr values
``np.geomspace(1e-4, 1e-1, 1000)``, one seed, 500 steps, record_every 1 (501 curve points per
trial; the page downsamples each to 200).
Then headless chromium (Playwright, ``--disable-gpu``: WebGL would be software-rendered) opens
``/sweeps/{id}``, each repetition in a fresh browser context (empty cache: plotly.js and the
results document are fetched again):

The page draws quantile bands of all curves, a sample of ~200 curves (merged by colour into a
few SVG traces) and the best trials (GET …/overview, GET …/trials?order=score), never every
curve. D1 is measured for the 1,000-trial sweep and again for a 10^6-trial sweep (skip it with
``--no-million``): a 100×100×100 Adam grid on 2-D Rosenbrock (lr × beta1 × beta2), 100 steps,
record_every 50, one seed — a few minutes with two pool processes (the server runs with
``GRADSWEEP_MAX_TRIALS=1000000``).

D1  From navigation start (``performance.timeOrigin``) until the first ``Plotly.react`` on the
    loss-curve plot (bands and curves) has filled ``_fullData`` (checked every animation frame)
    and one more animation frame has run; the breakdown: the end of the plotly.js, overview,
    best-trials and results GETs (Resource Timing), DOMContentLoaded (plotly.js has run), when
    that ``Plotly.react`` was called and resolved, and the frame that saw its traces.
D2  The log/linear toggle: from the click on "log scale" (in the page) until the axis type has
    changed and one animation frame has run; log → linear and back, each timed.

Best and median over the repetitions (each listed); the machine is shared: the load average is
printed. Every process (the server, the browser) is stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from service.testing.cluster import cluster, wait_for_status

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
N_TRIALS = 1000
SPEC = {"name": "dashboard bench: 1,000 lr values", "optimizer": "adam",
        "objective": {"name": "rosenbrock", "dim": 2},
        "grid": {"lr": [float(x) for x in np.geomspace(1e-4, 1e-1, N_TRIALS)]},
        "seeds": 1, "steps": 500, "record_every": 1}
MILLION = {"name": "dashboard bench: 10^6 Adam settings", "optimizer": "adam",
           "objective": {"name": "rosenbrock", "dim": 2},
           "grid": {"lr": [float(x) for x in np.geomspace(1e-4, 1e-1, 100)],
                    "beta1": [round(float(x), 6) for x in np.linspace(0.5, 0.99, 100)],
                    "beta2": [round(float(x), 6) for x in np.linspace(0.9, 0.9999, 100)]},
           "seeds": 1, "steps": 100, "record_every": 50}
TIMEOUT_MS = 120_000

# Installed before the page's scripts: Plotly.react on the curves plot is wrapped (its first
# call with traces: start and resolution), and every animation frame the plot is looked at.
WATCH = """
(() => {
  const marks = window.__bench = {};
  document.addEventListener('DOMContentLoaded', () => {
    const react = window.Plotly.react;
    window.Plotly.react = function (gd, data) {
      const id = typeof gd === 'string' ? gd : gd && gd.id;  // the page passes the div or its id
      const mine = id === 'curves' && data.length > 0 && marks.react_start === undefined;
      if (mine) marks.react_start = performance.now();
      const out = react.apply(this, arguments);
      if (mine) Promise.resolve(out).then(() => { marks.react_done = performance.now(); });
      return out;
    };
  });
  function frame() {
    const div = document.getElementById('curves');
    if (div && div._fullData && div._fullData.length > 0) {
      marks.traces = performance.now();
      requestAnimationFrame(() => { marks.drawn = performance.now(); });
      return;
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();
"""

MARKS = """() => {
  const entries = performance.getEntriesByType('resource');
  const end = (re) => { const e = entries.find((x) => re.test(x.name)); return e ? e.responseEnd : null; };
  const size = (re) => { const e = entries.find((x) => re.test(x.name)); return e ? (e.decodedBodySize || 0) : null; };
  const div = document.getElementById('curves');
  return Object.assign({}, window.__bench, {
    overview_end: end(/\\/overview$/), overview_bytes: size(/\\/overview$/),
    top_end: end(/\\/trials\\?order=score/), results_end: end(/\\/results$/),
    plotly_end: end(/plotly\\.min\\.js$/),
    dom_ready: performance.getEntriesByType('navigation')[0].domContentLoadedEventStart,
    n_traces: div._fullData.length,
    n_bands: div.data.filter((t) => t.meta && t.meta.kind === 'band').length,
    n_curves: Number(document.getElementById('curve-note').dataset.drawn || 0),
    y_type: div.layout.yaxis.type});
}"""


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f} ms" if x >= 100 else f"{x:.1f} ms"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def one_visit(browser: Any, url: str, sweep_id: str) -> dict[str, Any]:
    context = browser.new_context(base_url=url, viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: problems.append(f"console: {msg.text}")
                if msg.type == "error" else None)
        page.add_init_script(WATCH)
        page.goto(f"/sweeps/{sweep_id}")
        page.wait_for_function("window.__bench && window.__bench.drawn !== undefined",
                               polling=50)
        page.wait_for_function("window.__bench.react_done !== undefined", polling=50,
                               timeout=10_000)
        marks = page.evaluate(MARKS)
        if not marks["n_bands"] or not marks["n_curves"] or marks["y_type"] != "log":
            raise RuntimeError(f"unexpected plot: {marks}")
        if problems:
            raise RuntimeError(f"the page reported problems: {problems}")
        return dict(marks)
    finally:
        context.close()


def summary(values: list[float]) -> str:
    return f"best {fmt_ms(min(values))}, median {fmt_ms(statistics.median(values))}"


def run(client: Any, spec: dict[str, Any], timeout: float) -> tuple[str, float]:
    t0 = time.perf_counter()
    created = client.post("/v1/sweeps", json=spec)
    if created.status_code != 202:
        raise RuntimeError(f"POST /v1/sweeps: {created.status_code} {created.text[:500]}")
    sweep_id = created.json()["id"]
    view = wait_for_status(client, sweep_id, {"succeeded", "failed", "cancelled"},
                           timeout=timeout)
    # until results documents above GRADSWEEP_RESULTS_INLINE_MAX trials leave their trials out,
    # a 10^6-trial document is over the store's value limit: every chunk is saved (so the
    # overview is whole) but the sweep ends failed; the page is measured all the same
    too_big = "results document could not be stored" in (view.get("error") or "")
    if view["status"] != "succeeded" and not too_big:
        raise RuntimeError(f"the sweep ended {view['status']}: {view.get('error')}")
    if too_big:
        print(f"sweep {sweep_id} ended failed (all chunks saved): {view.get('error')}")
    return sweep_id, time.perf_counter() - t0


def report(label: str, visits: list[dict[str, Any]]) -> None:
    each = lambda xs: ", ".join(fmt_ms(x) for x in xs)
    key = lambda k: [m[k] for m in visits if m[k] is not None]
    drawn = key("drawn")
    m = visits[0]
    print(f"D1 {label}: navigation → bands + {m['n_curves']} curves drawn "
          f"({m['n_traces']} traces): {summary(drawn)}  ({each(drawn)})")
    for name, k in (("plotly.js fetched", "plotly_end"),
                    ("DOMContentLoaded (plotly.js run)", "dom_ready"),
                    ("overview GET done", "overview_end"), ("best trials GET done", "top_end"),
                    ("results GET done", "results_end"), ("Plotly.react called", "react_start"),
                    ("its promise resolved", "react_done"), ("traces seen in a frame", "traces")):
        if key(k):
            print(f"   {name}: {summary(key(k))}")
    print(f"   overview document {m['overview_bytes'] or 0:,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="page visits (default 3)")
    parser.add_argument("--no-million", action="store_true", help="skip the 10^6-trial sweep")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    started = datetime.datetime.now()
    load_start = load_average()
    sweeps: list[tuple[str, str, float]] = []
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="gradsweep-bench-dashboard-") as tmp, \
            cluster(Path(tmp), redis=False, jobs=2, max_trials=1_000_000) as c:
        c.start_server()
        with c.client() as client:
            sweep_id, run_s = run(client, SPEC, 300)
            sweeps.append(("1,000 trials", sweep_id, run_s))
            print(f"sweep {sweep_id}: 1,000 trials succeeded in {run_s:.2f} s")
            if not args.no_million:
                sweep_id, run_s = run(client, MILLION, 3600)
                sweeps.append(("10^6 trials", sweep_id, run_s))
                print(f"sweep {sweep_id}: 10^6 trials done in {run_s:.2f} s")
                t0 = time.perf_counter()
                size = len(client.get(f"/v1/sweeps/{sweep_id}/overview").content)
                print(f"GET /overview of 10^6 trials: {1000 * (time.perf_counter() - t0):.0f} ms, "
                      f"{size:,} bytes")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                version = browser.version
                for label, sweep_id, _ in sweeps:
                    results[label] = []
                    for rep in range(args.reps):
                        m = one_visit(browser, c.url, sweep_id)
                        results[label].append(m)
                        print(f"{label} visit {rep + 1}: overview {fmt_ms(m['overview_end'])}, "
                              f"best {fmt_ms(m['top_end'])}, react {fmt_ms(m['react_start'])} → "
                              f"{fmt_ms(m['react_done'])}, drawn {fmt_ms(m['drawn'])}; results "
                              f"GET {fmt_ms(m['results_end'])}")
            finally:
                browser.close()
    import plotly

    print()
    print(f"Run: {started:%Y-%m-%d %H:%M}, a real `gradsweep serve` (embedded, local pool of 2), "
          f"headless Debian chromium {version} (`--disable-gpu`), a fresh browser context per "
          f"visit; CPU {cpu_name()}, {os.cpu_count()} logical cores; Python "
          f"{platform.python_version()}; plotly {plotly.__version__}; load average "
          f"{load_start} → {load_average()}")
    for label, _, run_s in sweeps:
        print(f"- {label}: POST → every chunk saved {run_s:.1f} s")
    for label, visits in results.items():
        report(label, visits)


if __name__ == "__main__":
    main()
