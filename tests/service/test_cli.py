"""The gradsweep command end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizers import run_sweep

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def gradsweep(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # wide enough that tables keep each cell on one line
    return subprocess.run([sys.executable, "-m", "service.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_example_spec_runs_and_its_results_file_parses(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = gradsweep("run", str(example), "-o", str(out), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text(), parse_constant=pytest.fail)  # no NaN / Infinity
    assert results["status"] == "succeeded"
    assert results["progress"]["done"] == results["progress"]["total"]
    assert results == run_sweep(json.loads(example.read_text()))
    assert "succeeded" in done.stdout
    best = results["best"]
    assert f"{best['score']:.6g}" in done.stdout  # the summary shows the best score


def test_spec_from_stdin_and_quiet() -> None:
    spec = {"objective": "booth", "optimizer": "sgd", "grid": {"lr": [0.01, 0.05]}, "steps": 50}
    done = gradsweep("run", "-", "-q", stdin=json.dumps(spec))
    assert done.returncode == 0, done.stderr
    assert "succeeded: 2/2 trials (2 ok)" in done.stdout


def test_a_search_shows_its_sampled_keys_and_draws() -> None:
    done = gradsweep("run", "examples/random-search.json", "-q", "--top", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "best 3 of 64 settings by final_loss" in lines[0]
    header = next(line for line in lines if "final_loss" in line and "┃" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == [
        "lr", "beta1", "final_loss", "± std"]
    spec = json.loads((ROOT / "examples" / "random-search.json").read_text())
    drawn = run_sweep(spec)["spec"]["grid"]
    assert drawn is not None and isinstance(drawn["lr"], dict) and drawn["lr"]["drawn"]
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 3
    assert all(float(row.split("│")[1]) in drawn["lr"]["drawn"] for row in rows)
    assert "succeeded: 128/128 trials (128 ok)" in done.stdout


def test_halving_shows_where_settings_stopped_and_the_trial_steps_it_ran() -> None:
    done = gradsweep("run", "examples/halving.json", "--top", "4", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    results = run_sweep(json.loads((ROOT / "examples" / "halving.json").read_text()))
    rows = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert f"{results['best']['score']:.6g}" in rows[0]
    furthest = max(t["pruned_at"] for t in results["trials"] if t["status"] == "pruned")
    assert f"pruned at {furthest}" in rows[1]  # then the pruned, those that got furthest first
    summary = results["summary"]
    share = summary["trial_steps"] / summary["full_trial_steps"]
    assert (f"early stopping (successive halving, η = 3): {summary['trial_steps']:,} of "
            f"{summary['full_trial_steps']:,} trial-steps run ({share:.1%})") in done.stdout


@pytest.mark.parametrize(("spec", "expected"), [
    ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.1, "beta3": 1}}',
     "grid: unknown hyperparameter 'beta3' for adam; valid choices: lr, beta1, beta2, eps"),
    ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.1}, "steps": 1.5}',
     "steps: Input should be a valid integer"),
    ('{"objective": "rosenbrock", "optimizer": ', "spec: Invalid JSON"),
])
def test_bad_spec_exits_2_with_one_line_naming_the_field(spec: str, expected: str) -> None:
    done = gradsweep("run", "-", stdin=spec)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr


def test_every_spec_problem_is_a_line_naming_its_field() -> None:
    spec = ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": 0.1}, '
            '"steps": 1.5, "record_every": 1.5, "seeds": -1}')
    done = gradsweep("run", "-", stdin=spec)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert sorted(line.split(": ")[2] for line in lines) == ["record_every", "seeds", "steps"], lines
    assert all(line.startswith("error: invalid spec: ") for line in lines)


def test_one_grid_error_does_not_hide_the_next() -> None:
    spec = ('{"objective": "rosenbrock", "optimizer": "adam", "grid": {"lr": [0.1, "fast"], '
            '"beta1": 1.5, "beta2": {"distribution": "uniform", "min": 0.9, "max": 2}, '
            '"beta3": 1, "beta4": 2}, "samples": 2}')
    done = gradsweep("run", "-", stdin=spec)
    assert done.returncode == 2
    lines = [line.removeprefix("error: invalid spec: ")
             for line in done.stderr.strip().splitlines()]
    assert lines == [
        ("grid: unknown hyperparameters 'beta3', 'beta4' for adam; valid choices: lr, beta1, "
         "beta2, eps, weight_decay"),
        "grid.lr.1: Input should be a valid number",
        "grid.beta1: beta1 = 1.5 is out of range; valid: 0 <= beta1 < 1",
        "grid.beta2.max: max = 2.0 is out of range for beta2; valid: 0 <= beta2 < 1"], lines


def test_an_error_message_is_printed_as_is_brackets_and_all() -> None:
    from service.cli import _fail, err

    with err.capture() as captured:
        exit_ = _fail("gradsweep plot needs matplotlib: pip install 'gradsweep[plot]'")
    assert exit_.exit_code == 2
    assert "pip install 'gradsweep[plot]'" in captured.get()


def test_run_prints_its_duration_and_trials_per_second() -> None:
    done = gradsweep("run", "-", "--quiet", stdin='{"objective": "sphere", "optimizer": "sgd", '
                     '"grid": {"lr": [0.1, 0.2]}, "steps": 20, "seeds": 3}')
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("ran "))
    words = line.split()
    assert words[1] == "6" and words[2:4] == ["trials", "in"] and words[5] == "s"
    assert float(words[4]) > 0 and words[-1] == "trials/s)"


def test_missing_file_exits_2() -> None:
    done = gradsweep("run", "no-such-spec.json")
    assert done.returncode == 2 and "cannot read no-such-spec.json" in done.stderr


def test_catalogue_commands() -> None:
    optimizers = json.loads(gradsweep("optimizers", "--json").stdout)
    assert [o["name"] for o in optimizers] == ["sgd", "momentum", "nesterov", "adagrad",
                                               "rmsprop", "adam", "adamw", "amsgrad", "nadam",
                                               "adamax", "adadelta", "radam", "lion"]
    adam, adamw = optimizers[5:7]
    assert [h["name"] for h in adam["hyperparameters"]] == ["lr", "beta1", "beta2", "eps",
                                                            "weight_decay"]
    assert adam["options"]["eps_placement"]["choices"] == ["inside", "outside"]
    assert (adam["default_eps_placement"], adamw["default_eps_placement"]) == ("inside", "outside")
    assert (adam["weight_decay"], adamw["weight_decay"]) == ("l2", "decoupled")
    schedules = json.loads(gradsweep("schedules", "--json").stdout)
    assert [s["name"] for s in schedules] == ["constant", "step", "exponential", "cosine",
                                              "linear", "one_cycle", "warmup_cosine"]
    objectives = json.loads(gradsweep("objectives", "--json").stdout)
    assert {o["name"] for o in objectives} >= {"rosenbrock", "ackley", "himmelblau"}
    table = gradsweep("optimizers").stdout
    assert "θ ← θ − lr·g" in table and "0 <= momentum < 1" in table
    assert "warmup_cosine" in table and "OneCycleLR" in table  # the schedules too
    assert "styblinski_tang" in gradsweep("objectives").stdout
