"""The new-sweep form in a real browser (the fixtures of ``test_dashboard``): a field for every
key of the spec, and each 422 detail next to the field it names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from harness import Cluster, wait_for_status
from test_dashboard import browser, needs_chromium, page, screenshot, server

#: test_dashboard's fixtures, found by pytest by their names here: a real ``gradsweep serve``
#: (its own, for this module) and a chromium page on it that fails a test on any script error
FIXTURES = (browser, page, server)

#: Where a message sits: the control just before it in document order, the slot it is in, and
#: its box beside the boxes of the controls around it.
PLACE = """(text) => {
  const slot = [...document.querySelectorAll('[data-error-for]')]
    .find((n) => n.textContent.includes(text));
  if (!slot) return null;
  const controls = [...document.querySelectorAll('#spec-form input, #spec-form select')]
    .filter((c) => c.offsetParent !== null);
  const before = controls.filter((c) =>
    c.compareDocumentPosition(slot) & Node.DOCUMENT_POSITION_FOLLOWING);
  const after = controls.filter((c) =>
    c.compareDocumentPosition(slot) & Node.DOCUMENT_POSITION_PRECEDING);
  const box = (n) => { const r = n.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  return {field: slot.dataset.errorFor, text: slot.textContent,
          control: before.length ? before[before.length - 1].id : null,
          next: after.length ? after[0].id : null, box: box(slot),
          control_box: before.length ? box(before[before.length - 1]) : null,
          container: slot.parentElement.contains(before[before.length - 1])};
}"""


def wait_for_errors(page: Any) -> None:
    page.wait_for_function("[...document.querySelectorAll('[data-error-for]')]"
                           ".some((n) => n.textContent.length > 0)")


def shown_errors(page: Any) -> dict[str, str]:
    """Every error slot with a message: its field → the message."""
    return dict(page.eval_on_selector_all(
        "[data-error-for]", "ns => ns.filter(n => n.textContent).map(n => "
        "[n.dataset.errorFor, n.textContent])"))


def assert_next_to(page: Any, message: str, control: str, field: str) -> dict[str, Any]:
    """The message is shown once, in ``field``'s slot, right below ``control`` (the control
    just before it on the page, in the same container, the message's box under the control's
    and over the same column)."""
    place = page.evaluate(PLACE, message)
    assert place is not None, f"{message!r} is not on the page"
    assert place["field"] == field, place
    assert place["control"] == control, place
    assert place["container"], place
    left, top, right, _ = place["box"]
    c_left, _, c_right, c_bottom = place["control_box"]
    assert c_bottom <= top <= c_bottom + 30, place  # just under the control
    assert left < c_right and right > c_left, place  # in its column
    return place


@needs_chromium
def test_bad_values_in_several_fields_each_get_their_message_by_their_own_field(
        page: Any) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.select_option("#f-objective", "rosenbrock")
    page.fill("#f-grid-lr", "-1")          # a range check the API reports on the whole grid
    page.fill("#f-record-every", "0")
    page.fill("#f-objective-b", "-1")      # rosenbrock's own parameter, from the catalogue
    page.select_option("#f-init-kind", "normal")
    page.fill("#f-init-scale", "-2")
    page.fill("#f-steps", "20")
    page.click("#submit")
    wait_for_errors(page)
    assert shown_errors(page) == {
        "grid.lr": "lr = -1.0 is out of range; valid: 0 < lr",
        "record_every": "Input should be greater than or equal to 1",
        "objective.b": "Input should be greater than 0",
        "init.scale": "Input should be greater than 0",
    }
    lr = assert_next_to(page, "lr = -1.0 is out of range", "f-grid-lr", "grid.lr")
    assert lr["next"] == "f-grid-beta1"
    assert_next_to(page, "greater than or equal to 1", "f-record-every", "record_every")
    b = assert_next_to(page, "Input should be greater than 0", "f-objective-b", "objective.b")
    assert b["next"] != "f-init-scale"
    # the same text for init.scale: found in its own slot, by the scale's field
    scale = page.evaluate("""() => { const s = document.querySelector("[data-error-for='init.scale']");
      const r = s.getBoundingClientRect(), i = document.getElementById('f-init-scale').getBoundingClientRect();
      return [s.previousElementSibling.id, r.top - i.bottom]; }""")
    assert scale[0] == "f-init-scale" and 0 <= scale[1] <= 30
    # the bad lr is not under eps, nor at the foot of the grid
    eps = page.eval_on_selector("#f-grid-eps", "n => n.getBoundingClientRect().top")
    assert lr["box"][3] < eps
    assert page.text_content("[data-error-for='grid.eps']") == ""
    assert page.text_content("[data-error-for='grid']") == ""
    assert page.text_content("[data-error-for='optimizer.eps_placement']") == ""
    assert page.text_content("#form-error") == ""
    assert page.url.endswith("/new")
    screenshot(page, "new-sweep-form-422s.png")


@needs_chromium
def test_a_missing_hyperparameter_and_a_spec_wide_limit_are_shown_not_lost(page: Any) -> None:
    """A message naming a field lands by it; one that names none goes to the area on top."""
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.fill("#f-grid-lr", "")  # adam has no default lr
    page.click("#submit")
    wait_for_errors(page)
    assert shown_errors(page) == {
        "grid.lr": "adam needs lr in the grid (a number, a list or a distribution)"}
    assert_next_to(page, "adam needs lr", "f-grid-lr", "grid.lr")
    # 10 trials × 1,000,001 recorded steps: over the curve-point limit, a check on the spec
    page.fill("#f-grid-lr", "0.01")
    page.fill("#f-steps", "1000000")
    page.fill("#f-seeds", "10")
    page.click("#submit")
    page.wait_for_function("document.getElementById('form-error').textContent.length > 0")
    top = page.text_content("#form-error") or ""
    assert "curve points is over the limit max_curve_points" in top
    assert page.text_content("[data-error-for='grid.lr']") == ""
    assert set(shown_errors(page)) == {""}  # the area on top only


@needs_chromium
def test_the_new_fields_post_exactly_what_they_show_and_the_sweep_keeps_it(
        page: Any, server: Cluster) -> None:
    page.goto("/new")
    page.wait_for_selector("form[data-ready='1']")
    page.select_option("#f-objective", "rosenbrock")
    # the catalogue's defaults as placeholders; empty fields are left out of the spec
    assert page.get_attribute("#f-objective-b", "placeholder") == "default 100"
    assert page.get_attribute("#f-divergence", "placeholder") == "default 1e12"
    shown = json.loads(page.text_content("#spec-json") or "")
    for key in ("init", "record_every", "divergence_threshold", "samples", "search_seed",
                "sampler"):
        assert key not in shown, key
    assert shown["objective"] == {"name": "rosenbrock", "dim": 2}
    page.select_option("#f-init-kind", "point")
    page.fill("#f-init", "0.5, 2")
    assert json.loads(page.text_content("#spec-json") or "")["init"] == [0.5, 2]

    page.fill("#f-objective-a", "1.5")
    page.fill("#f-objective-b", "10")
    page.select_option("#f-init-kind", "uniform")
    assert page.is_hidden("#f-init") and page.is_visible("#f-init-center")
    page.fill("#f-init-scale", "0.5")
    page.fill("#f-init-center", "0.5, 0.5")
    page.select_option("#f-eps", "outside")
    page.fill("#f-grid-lr", "log_uniform_values(0.001, 0.1)")
    page.fill("#f-grid-beta1", "0.8")
    page.fill("#f-samples", "2")
    page.fill("#f-search-seed", "5")
    page.select_option("#f-sampler", "sobol")
    page.fill("#f-seeds", "3, 7")
    page.fill("#f-steps", "20")
    page.fill("#f-record-every", "5")
    page.fill("#f-divergence", "1e6")
    page.select_option("#f-metric", "min_loss")
    assert page.text_content("#trial-count") == "4 trial(s)"  # 2 samples × 2 seeds
    shown = json.loads(page.text_content("#spec-json") or "")
    expected = {
        "objective": {"name": "rosenbrock", "dim": 2, "a": 1.5, "b": 10},
        "init": {"distribution": "uniform", "scale": 0.5, "center": [0.5, 0.5]},
        "optimizer": {"name": "adam", "eps_placement": "outside"},
        "grid": {"lr": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1},
                 "beta1": 0.8},
        "steps": 20, "seeds": [3, 7], "record_every": 5, "divergence_threshold": 1e6,
        "samples": 2, "search_seed": 5, "sampler": "sobol", "metric": "min_loss"}
    assert shown == expected
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/sweeps")) as sent:
        page.click("#submit")
    assert json.loads(sent.value.post_data or "") == expected
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f]{32}$"))
    sweep_id = page.url.rsplit("/", 1)[1]
    with server.client() as client:
        wait_for_status(client, sweep_id, {"succeeded"})
        results = client.get(f"/v1/sweeps/{sweep_id}/results").json()
    spec = results["spec"]
    assert spec["objective"] == {"name": "rosenbrock", "dim": 2, "a": 1.5, "b": 10.0}
    assert spec["init"] == {"distribution": "uniform", "scale": 0.5, "center": [0.5, 0.5]}
    assert spec["optimizer"] == {"name": "adam", "eps_placement": "outside"}
    lr = spec["grid"]["lr"]
    assert (lr["distribution"], lr["min"], lr["max"]) == ("log_uniform_values", 0.001, 0.1)
    assert len(lr["drawn"]) == 2 and all(0.001 <= v <= 0.1 for v in lr["drawn"])
    assert spec["grid"]["beta1"] == 0.8
    assert (spec["steps"], spec["seeds"], spec["record_every"]) == (20, [3, 7], 5)
    assert spec["divergence_threshold"] == 1e6
    assert (spec["samples"], spec["search_seed"], spec["sampler"]) == (2, 5, "sobol")
    assert spec["metric"] == "min_loss"
    # what ran is what was asked: those seeds, curves every 5 steps, scored by min_loss
    trials = results["trials"]
    assert sorted(t["seed"] for t in trials) == [3, 3, 7, 7]
    assert all(t["curve"]["step"] == [0, 5, 10, 15, 20] for t in trials)
    by_index = {t["index"]: t for t in trials}
    for setting in results["settings"]:
        assert setting["score"] == pytest.approx(
            sum(by_index[i]["min_loss"] for i in setting["trials"]) / len(setting["trials"]))
    assert {t["min_loss"] for t in trials} != {t["final_loss"] for t in trials}
