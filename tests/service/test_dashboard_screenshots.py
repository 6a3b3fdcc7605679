"""The README's screenshots (the sweeps, a sweep, three compared, the form), made here from the repository's example sweeps in a real browser
(the fixtures of ``test_dashboard``), each page checked before it is taken: every panel apart
from every other, every plot drawn inside its panel, the numbers on screen the API's.

They go to test-artifacts/; with ``GRADSWEEP_UPDATE_SCREENSHOTS=1`` also to docs/screenshots/,
the files README.md shows::

    GRADSWEEP_UPDATE_SCREENSHOTS=1 python -m pytest tests/service/test_dashboard_screenshots.py
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from harness import Cluster, wait_for_status
from test_dashboard import ARTIFACTS, browser, needs_chromium, page, screenshot, server
from test_dashboard_layout import FITTED, check_layout

FIXTURES = (browser, page, server)
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "screenshots"
#: the examples the list shows, oldest first; the sweep page is the first one's
EXAMPLES = ["momentum-quadratic", "adam-lr-sweep-1000", "compare-optimizers", "halving",
            "random-search", "rmsprop-rastrigin-random-starts"]

def keep(path: Path) -> None:
    """The screenshot into docs/screenshots/ when asked to update them."""
    assert path.stat().st_size > 20_000  # a page, not a blank
    if os.environ.get("GRADSWEEP_UPDATE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)


@pytest.fixture(scope="module")
def examples(server: Cluster) -> dict[str, str]:
    ids = {}
    with server.client() as client:
        for name in EXAMPLES:
            spec = json.loads((ROOT / "examples" / f"{name}.json").read_text())
            response = client.post("/v1/sweeps", json=spec)
            assert response.status_code in (200, 201, 202), response.text
            ids[name] = response.json()["id"]
        for sweep_id in ids.values():
            assert wait_for_status(client, sweep_id, {"succeeded"}, 180)["status"] == "succeeded"
    return ids


@needs_chromium
def test_the_sweeps_list(page: Any, examples: dict[str, str]) -> None:
    page.goto("/")
    page.wait_for_function(f"document.querySelectorAll('#sweeps tbody tr').length === {len(EXAMPLES)}")
    page.wait_for_function("[...document.querySelectorAll('#sweeps tbody tr')]"
                           ".every((r) => r.textContent.includes('succeeded'))")
    names = page.eval_on_selector_all("#sweeps tbody tr td:nth-child(2)",
                                      "cells => cells.map((c) => c.textContent)")
    expected = [json.loads((ROOT / "examples" / f"{n}.json").read_text())["name"]
                for n in reversed(EXAMPLES)]  # newest first
    assert [n.strip() for n in names] == expected
    keep(screenshot(page, "sweeps.png"))


@needs_chromium
def test_a_sweep_page(page: Any, server: Cluster, examples: dict[str, str]) -> None:
    sweep_id = examples[EXAMPLES[0]]
    with server.client() as client:
        results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    page.goto(f"/sweeps/{sweep_id}")
    page.wait_for_selector("#best-score")
    page.wait_for_selector("#scores .main-svg")
    page.wait_for_selector("#curves .main-svg")
    page.wait_for_selector("#trials tbody tr")
    assert page.text_content("#title") == results["spec"]["name"]
    assert float(page.get_attribute("#best-score", "data-value") or "nan") == results["best"]["score"]
    assert page.eval_on_selector_all("#trials tbody tr", "rows => rows.length") == len(results["trials"])
    page.wait_for_function(FITTED)
    check_layout(page)
    keep(screenshot(page, "sweep.png"))


@needs_chromium
def test_three_sweeps_compared(page: Any, examples: dict[str, str]) -> None:
    ids = [examples[n] for n in ("adam-lr-sweep-1000", "halving", "random-search")]
    page.goto("/")
    for sweep_id in ids:
        page.check(f"#sweeps tr[data-id='{sweep_id}'] input.select-sweep")
    page.click("#compare")
    page.wait_for_url("**/compare?ids=" + ",".join(ids))
    page.wait_for_selector("body[data-ready='1']")
    assert page.eval_on_selector_all("#compared tbody tr", "rows => rows.length") == 3
    page.wait_for_function(FITTED)
    check_layout(page, panels_at_least=3)
    keep(screenshot(page, "compare.png"))
    page.set_viewport_size({"width": 800, "height": 1000})  # narrower: the plots follow
    page.wait_for_function("document.documentElement.clientWidth === 800")
    page.wait_for_function(FITTED)
    check_layout(page, panels_at_least=3)


@needs_chromium
def test_the_form(page: Any) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    example = json.loads((ROOT / "examples" / "adam-rosenbrock.json").read_text())
    page.fill("#f-name", example["name"])
    page.select_option("#f-optimizer", "adam")
    page.fill("#f-grid-lr", ", ".join(map(str, example["grid"]["lr"])))
    page.fill("#f-grid-beta1", ", ".join(map(str, example["grid"]["beta1"])))
    page.fill("#f-steps", str(example["steps"]))
    page.fill("#f-seeds", str(example["seeds"]))
    preview = json.loads(page.text_content("pre.json") or "{}")
    assert preview["name"] == example["name"]
    assert preview["grid"]["lr"] == example["grid"]["lr"]
    assert preview["grid"]["beta1"] == example["grid"]["beta1"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "new.png"))  # the window: the spec beside its fields
    keep(ARTIFACTS / "new.png")


def test_the_readme_shows_each_screenshot_taken_here() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("sweeps.png", "sweep.png", "compare.png", "new.png"):
        assert f"](docs/screenshots/{name})" in readme, name
        assert (DOCS / name).stat().st_size > 20_000, name
