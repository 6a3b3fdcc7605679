"""Benchmark of the dashboard's sweep page in a real browser: a 1,000-trial sweep's loss curves.

Run from the project root, in the dev virtualenv (Debian's chromium at /usr/bin/chromium and
Playwright for Python installed; no Redis needed)::

    python bench/dashboard.py              # about 30 s here
    python bench/dashboard.py --reps 5

A real ``gradsweep serve`` runs in embedded mode (``GRADSWEEP_JOBS=2``, a fresh data directory
in a temporary directory), started as the integration tests start it
(``service.testing.cluster``). It runs one sweep: Adam on 2-D Rosenbrock, 1,000 lr values
``np.geomspace(1e-4, 1e-1, 1000)``, one seed, 500 steps, record_every 1 (501 curve points per
trial; the page downsamples each to 200).
Then headless chromium (Playwright, ``--disable-gpu``: WebGL is software-rendered) opens
``/sweeps/{id}``, each repetition in a fresh browser context (empty cache: plotly.js and the
results document are fetched again):

D1  From navigation start (``performance.timeOrigin``) until the loss-curve plot holds 1,000
    traces (``_fullData.length === 1000``, checked every animation frame) and one more animation
    frame has run, so plotly's draw is on screen; the end of the results GET (Resource Timing),
    and when ``Plotly.react`` on that plot was called and its promise resolved (after
    ``plotly_afterplot``) are listed as the breakdown.
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
TIMEOUT_MS = 120_000

# Installed before the page's scripts: every animation frame, look at the plot; record when it
# first holds N traces and the frame after that. Plotly.react (looked up by sweep.js at each
# call) is wrapped once the deferred scripts ran, to record when its call on the loss-curve plot
# with N traces started and when its promise resolved (after plotly_afterplot).
WATCH = """
(() => {
  const N = %d;
  const marks = window.__bench = {};
  document.addEventListener('DOMContentLoaded', () => {
    const react = window.Plotly.react;
    window.Plotly.react = function (gd, data) {
      const mine = gd === 'curves' && data.length === N && marks.react_start === undefined;
      if (mine) marks.react_start = performance.now();
      const out = react.apply(this, arguments);
      if (mine) Promise.resolve(out).then(() => { marks.react_done = performance.now(); });
      return out;
    };
  });
  function frame() {
    const div = document.getElementById('curves');
    if (div && div._fullData && div._fullData.length === N) {
      marks.traces = performance.now();
      requestAnimationFrame(() => { marks.drawn = performance.now(); });
      return;
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
})();
""" % N_TRIALS

# In the page: click the checkbox, wait until the axis type is `want`, then one frame.
TOGGLE = """
(want) => new Promise((resolve) => {
  const div = document.getElementById('curves');
  const t0 = performance.now();
  document.getElementById('log-y').click();
  const changed = () => div.layout && div.layout.yaxis && div.layout.yaxis.type === want &&
                        div._fullLayout && div._fullLayout.yaxis.type === want;
  function frame() {
    if (changed()) { requestAnimationFrame(() => resolve(performance.now() - t0)); return; }
    requestAnimationFrame(frame);
  }
  if (changed()) requestAnimationFrame(() => resolve(performance.now() - t0));
  else requestAnimationFrame(frame);
})
"""


def fmt_ms(x: float) -> str:
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
        marks = page.evaluate("""() => {
          const r = performance.getEntriesByType('resource').find(
            (e) => /\\/results$/.test(e.name));
          const nav = performance.getEntriesByType('navigation')[0];
          return Object.assign({}, window.__bench, {
            results_end: r ? r.responseEnd : null,
            results_bytes: r ? (r.decodedBodySize || r.encodedBodySize) : null,
            dom_content_loaded: nav ? nav.domContentLoadedEventEnd : null,
            n_traces: document.getElementById('curves')._fullData.length,
            y_type: document.getElementById('curves').layout.yaxis.type});
        }""")
        if marks["n_traces"] != N_TRIALS or marks["y_type"] != "log":
            raise RuntimeError(f"unexpected plot: {marks}")
        marks["to_linear"] = page.evaluate(TOGGLE, "linear")
        marks["to_log"] = page.evaluate(TOGGLE, "log")
        if problems:
            raise RuntimeError(f"the page reported problems: {problems}")
        return marks
    finally:
        context.close()


def summary(values: list[float]) -> str:
    return f"best {fmt_ms(min(values))}, median {fmt_ms(statistics.median(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="page visits (default 3)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    started = datetime.datetime.now()
    load_start = load_average()
    visits: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gradsweep-bench-dashboard-") as tmp, \
            cluster(Path(tmp), redis=False, jobs=2) as c:
        c.start_server()
        with c.client() as client:
            t0 = time.perf_counter()
            created = client.post("/v1/sweeps", json=SPEC)
            if created.status_code != 202:
                raise RuntimeError(f"POST /v1/sweeps: {created.status_code} {created.text}")
            sweep_id = created.json()["id"]
            view = wait_for_status(client, sweep_id, {"succeeded", "failed", "cancelled"},
                                   timeout=300)
            run_s = time.perf_counter() - t0
            if view["status"] != "succeeded":
                raise RuntimeError(f"the sweep ended {view['status']}: {view.get('error')}")
            doc = client.get(f"/v1/sweeps/{sweep_id}/results")
            doc_mb = len(doc.content) / 1e6
            assert len(doc.json()["trials"]) == N_TRIALS
        print(f"sweep {sweep_id}: {N_TRIALS} trials succeeded in {run_s:.2f} s; "
              f"results document {doc_mb:.1f} MB")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                version = browser.version
                for rep in range(args.reps):
                    m = one_visit(browser, c.url, sweep_id)
                    visits.append(m)
                    print(f"visit {rep + 1}: results GET done {fmt_ms(m['results_end'])}, "
                          f"Plotly.react called {fmt_ms(m['react_start'])}, resolved "
                          f"{fmt_ms(m['react_done'])}, 1,000 traces {fmt_ms(m['traces'])}, drawn {fmt_ms(m['drawn'])}; toggle → linear "
                          f"{fmt_ms(m['to_linear'])}, → log {fmt_ms(m['to_log'])}")
            finally:
                browser.close()
    load_end = load_average()

    import plotly

    drawn = [m["drawn"] for m in visits]
    results_end = [m["results_end"] for m in visits]
    react_start = [m["react_start"] for m in visits]
    react_done = [m["react_done"] for m in visits]
    to_linear = [m["to_linear"] for m in visits]
    to_log = [m["to_log"] for m in visits]
    each = lambda xs: ", ".join(fmt_ms(x) for x in xs)  # noqa: E731
    n = len(visits)
    print()
    print(f"D1 navigation → 1,000 traces drawn: {summary(drawn)}  ({each(drawn)})")
    print(f"   results GET done: {summary(results_end)}; Plotly.react called: {summary(react_start)}; "
          f"its promise resolved: {summary(react_done)}")
    print(f"D2 toggle log → linear: {summary(to_linear)}  ({each(to_linear)})")
    print(f"   toggle linear → log: {summary(to_log)}  ({each(to_log)})")
    print()
    print("## Dashboard (`python bench/dashboard.py`)")
    print()
    print(f"Run: {started:%Y-%m-%d %H:%M}, a real `gradsweep serve` (embedded, local pool of 2) on "
          f"this machine, headless Debian chromium {version} driven by Playwright "
          "(`--disable-gpu`: WebGL software-rendered), a fresh browser context (empty cache) per "
          "visit.")
    print()
    print(f"- CPU: {cpu_name()}")
    print(f"- cores: {os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process")
    print(f"- Python: {platform.python_version()}; plotly (plotly.js shipped by) {plotly.__version__}")
    print(f"- sweep: Adam on 2-D Rosenbrock, {N_TRIALS:,} lr values geomspace(1e-4, 1e-1), 1 seed, "
          f"500 steps, record_every 1; POST → succeeded {run_s:.2f} s; results document "
          f"{doc_mb:.1f} MB")
    print(f"- load average at start: {load_start}; at end: {load_end}")
    print()
    print("| Benchmark | Measured | Breakdown | Result |")
    print("|---|---|---|---|")
    print(f"| D1 `/sweeps/{{id}}`: navigation start → loss-curve plot holds 1,000 traces "
          f"(scattergl, ≤ 200 points each) and the next frame ran, {n} visits | {summary(drawn)} "
          f"({each(drawn)}) | results GET done {summary(results_end)}; "
          f"`Plotly.react` called {summary(react_start)}, its promise resolved "
          f"{summary(react_done)} | info |")
    print(f"| D2 log → linear toggle (`Plotly.relayout`), click → axis changed + next frame, "
          f"{n} visits | {summary(to_linear)} ({each(to_linear)}) | — | info |")
    print(f"| D2 linear → log toggle, same | {summary(to_log)} ({each(to_log)}) | — | info |")
    print()
    print("Reproduce: `python bench/dashboard.py` (about 30 s; `--reps N` for more visits). It "
          "starts a real `gradsweep serve` in a temporary directory and headless chromium, and "
          "stops both at the end.")


if __name__ == "__main__":
    main()
