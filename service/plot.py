"""Loss curves of a results document as a picture, for notebooks and terminals.

The same plot as the dashboard's sweep page: every trial's curve on one axis (log-scaled loss
by default), coloured by one swept hyperparameter, the best setting's trials drawn thick, and a
diverged trial's curve ending in a cross at the last step it recorded. Needs matplotlib
(``pip install 'gradsweep[plot]'``).
"""

from __future__ import annotations

import math
from typing import Any

from optimizers.records import ResultsDocument
from optimizers.spec import optimizer_names, setting_keys, shown_setting_keys

BEST_WIDTH = 2.5
WIDTH = 0.8


def plot_curves(document: ResultsDocument, color_by: str | None = None,
                log: bool = True) -> Any:
    """A matplotlib Figure of every trial's loss curve; one line per trial.

    Args:
      document: a results document (``run_sweep``'s or the API's).
      color_by: the hyperparameter that picks each curve's colour (default: the first swept
        one); its values get a logarithmic colour scale when they span over a decade.
      log: log-scaled loss axis.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import colors, pyplot

    spec = document["spec"]
    names = optimizer_names(spec)
    choices = (["optimizer"] if len(names) > 1 else []) + shown_setting_keys(spec)
    key = color_by or choices[0]
    if key not in choices and key not in setting_keys(spec):
        raise ValueError(f"cannot colour by {key!r}; valid choices: {', '.join(choices)}")
    if key == "optimizer":
        return _by_optimizer(document, names, log)
    values = [t["params"][key] for t in document["trials"] if key in t["params"]]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if low > 0 and high / low > 10:
        scale: colors.Normalize = colors.LogNorm(low, high)
    else:
        scale = colors.Normalize(low, high if high > low else low + 1)
    cmap = matplotlib.colormaps["viridis"]
    best_setting = document.get("best")
    best = set(best_setting["trials"]) if best_setting else set()

    figure, axes = pyplot.subplots(figsize=(9, 5.5), dpi=110)
    for trial in document["trials"]:
        steps, losses = trial["curve"]["step"], trial["curve"]["loss"]
        color = cmap(scale(trial["params"][key])) if key in trial["params"] else "0.6"
        axes.plot(steps, losses, color=color, alpha=0.85,
                  linewidth=BEST_WIDTH if trial["index"] in best else WIDTH)
        if trial["status"] == "diverged" and steps:
            axes.plot(steps[-1], losses[-1], marker="x", color="crimson", markersize=7)
    _finish(axes, document, log)
    figure.colorbar(pyplot.cm.ScalarMappable(norm=scale, cmap=cmap), ax=axes, label=key)
    figure.tight_layout()
    return figure


def _by_optimizer(document: ResultsDocument, names: list[str], log: bool) -> Any:
    """The curves of a sweep that compares optimizers, one colour per optimizer, each
    optimizer's best drawn thick, with a legend of the names."""
    import matplotlib
    from matplotlib import pyplot

    palette = matplotlib.colormaps["tab10"]
    colours = {name: palette(i % 10) for i, name in enumerate(names)}
    best = {trial for entry in document["summary"].get("by_optimizer", {}).values()
            if entry["best"] for trial in entry["best"]["trials"]}
    figure, axes = pyplot.subplots(figsize=(9, 5.5), dpi=110)
    labelled: set[str] = set()
    for trial in document["trials"]:
        name = trial["optimizer"]
        steps, losses = trial["curve"]["step"], trial["curve"]["loss"]
        axes.plot(steps, losses, color=colours.get(name, "0.6"), alpha=0.85,
                  linewidth=BEST_WIDTH if trial["index"] in best else WIDTH,
                  label=None if name in labelled else name)
        labelled.add(name)
        if trial["status"] == "diverged" and steps:
            axes.plot(steps[-1], losses[-1], marker="x", color="crimson", markersize=7)
    _finish(axes, document, log)
    axes.legend(title="optimizer", fontsize=8)
    figure.tight_layout()
    return figure


def _finish(axes: Any, document: ResultsDocument, log: bool) -> None:
    """Log scale where every loss is positive, labels, title and grid."""
    if log and all(v > 0 for t in document["trials"] for v in t["curve"]["loss"]):
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    spec = document["spec"]
    axes.set_title(f"{spec['name']} — {len(document['trials'])} trials"
                   + _best_text(document), fontsize=10)
    axes.grid(True, which="major", alpha=0.3)


def _best_text(document: ResultsDocument) -> str:
    best = document.get("best")
    if not best:
        return ""
    params = ", ".join(f"{k}={best['params'][k]:.4g}" for k in shown_setting_keys(document["spec"])
                       if k in best["params"])
    score = best["score"]
    return f"; best {params}: {score:.4g}" if math.isfinite(score) else ""


__all__ = ["plot_curves"]
