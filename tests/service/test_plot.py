"""gradsweep plot draws the dashboard's curves into a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizers import run_sweep
from service.plot import plot_curves

SPEC = {"objective": "rosenbrock", "optimizer": "sgd", "grid": {"lr": [1e-4, 1e-3, 1e6]},
        "seeds": 2, "steps": 40, "record_every": 5}


def test_one_line_per_trial_best_thick_and_diverged_marked() -> None:
    document = run_sweep(SPEC)
    figure = plot_curves(document)
    axes = figure.axes[0]
    curves = [line for line in axes.lines if line.get_marker() in ("None", None, "")]
    crosses = [line for line in axes.lines if line.get_marker() == "x"]
    assert len(curves) == 6
    assert len(crosses) == 2  # the two lr = 1e6 trials diverged
    thick = [line for line in curves if line.get_linewidth() > 1]
    assert len(thick) == len(document["best"]["trials"]) == 2
    assert axes.get_yscale() == "log"
    assert "lr" in figure.axes[1].get_ylabel()


def test_unknown_colour_key_names_the_choices() -> None:
    with pytest.raises(ValueError, match="valid choices: lr"):
        plot_curves(run_sweep(SPEC), color_by="beta")


def test_cli_writes_a_png(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(run_sweep(SPEC)))
    out = tmp_path / "curves.png"
    done = subprocess.run([sys.executable, "-m", "service.cli", "plot", str(results), "-o",
                           str(out), "--linear"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "Agg"}, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, "-m", "service.cli", "plot", str(tmp_path / "no.json")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "cannot read" in bad.stderr
