"""``optimizers.moments``: importance and marginal means kept exactly as scores change.

- the shares and means are the correctly rounded values of their formulas (a ``Fraction``
  reference, with levels found from each setting's params), also for scores near the float
  limits and of mixed signs;
- any order and batching of updates that ends in the same scores gives the same state, bytes,
  shares and means as building from the final scores;
- the bytes read back to the same state, and are refused for another sweep;
- comparing optimizers: the optimizer is a factor, a key of some optimizers only is absent
  from the others' settings;
- a sampled key's bins are fixed by the spec (all its settings), of equal counts;
- a sweep of 10^6 settings builds its factors and takes 10,000 changes without a quadratic.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from optimizers import parse_spec, run_sweep
from optimizers.moments import SAMPLED_BINS, Factors, Moments
from optimizers.results import importance, moments_of
from optimizers.spec import UNLIMITED, SweepSpec

Scores = dict[int, float]


def log_uniform(low: float, high: float) -> dict[str, Any]:
    return {"distribution": "log_uniform_values", "min": low, "max": high}


GRID = parse_spec({"objective": "sphere", "optimizer": "adam", "steps": 5,
                   "grid": {"lr": [0.1, 0.01, 0.001], "beta1": [0.5, 0.8, 0.9, 0.99]}})
COMPARE = parse_spec({"objective": "sphere", "steps": 5, "optimizers": [
    {"optimizer": "sgd", "grid": {"lr": [0.1, 0.01, 0.3]}},
    {"optimizer": "adam", "grid": {"lr": [0.01, 0.001], "beta1": [0.8, 0.9]}}]})
SAMPLED = parse_spec({"objective": "sphere", "optimizer": "adam", "steps": 5, "samples": 30,
                      "grid": {"lr": log_uniform(1e-4, 1.0), "beta1": [0.8, 0.9, 0.95]}})
SPECS = {"grid": GRID, "compare": COMPARE, "sampled": SAMPLED}


# -- the reference: levels from the params, the formula in Fractions ---------------------------

def reference_levels(spec: SweepSpec) -> dict[str, list[Any]]:
    """Each factor's level of each setting (None: absent), from the settings' params: the
    value itself for a list, the optimizer's name, a sampled key's bin over all settings."""
    settings = spec.settings()
    keys = spec.swept
    out: dict[str, list[Any]] = {}
    if spec.compares:
        out["optimizer"] = [spec.entry_of(i).name for i in range(len(settings))]
    sampled = {key for entry in spec.entries for key, value in entry.axes.items()
               if isinstance(value, Mapping)}
    for key in keys:
        values = [p.get(key) for p in settings]
        if key in sampled:
            having = sorted((v, i) for i, v in enumerate(values) if v is not None)
            bins = min(SAMPLED_BINS, math.ceil(math.sqrt(len(having))))
            levels: list[Any] = [None] * len(values)
            for rank, (_, i) in enumerate(having):
                levels[i] = rank * bins // len(having)
            out[key] = levels
        else:
            out[key] = values
    return out


def reference(spec: SweepSpec, scores: Scores) -> tuple[dict[str, float], dict[str, dict[Any, Any]]]:
    shares: dict[str, float] = {}
    means: dict[str, dict[Any, Any]] = {}
    for key, levels in reference_levels(spec).items():
        groups: dict[Any, list[Fraction]] = {}
        for i, y in scores.items():
            if levels[i] is not None:
                groups.setdefault(levels[i], []).append(Fraction(y))
        means[key] = {v: float(sum(g) / len(g)) for v, g in groups.items()}
        ys = [y for g in groups.values() for y in g]
        if not ys:
            shares[key] = 0.0
            continue
        n = len(ys)
        mean = sum(ys) / n
        total = sum((y - mean) ** 2 for y in ys) / n
        between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values()) / n
        shares[key] = 0.0 if total == 0 else min(1.0, max(0.0, float(between / total)))
    return shares, means


def built(spec: SweepSpec, scores: Scores) -> Moments:
    moments = Moments(Factors.of(spec))
    moments.update_many((i, None, y) for i, y in scores.items())
    return moments


def random_score(rng: random.Random) -> float:
    magnitude = rng.choice([1e300, 1e-300, 1.0, 1e5, 5e-324, 1.7e308])
    return rng.choice([-1.0, 1.0]) * magnitude * rng.random()


def random_scores(spec: SweepSpec, rng: random.Random, scored: float = 0.8) -> Scores:
    return {i: random_score(rng) for i in range(spec.n_settings) if rng.random() < scored}


def marginal_means(moments: Moments) -> dict[str, dict[Any, Any]]:
    """The marginals' means by level, keyed as the reference keys them (bins by number)."""
    out: dict[str, dict[Any, Any]] = {}
    for i, (name, levels) in enumerate(moments.marginals().items()):
        sampled = moments.factors.kind(i) == "sampled"
        out[name] = {(b if sampled else level["value"]): level["mean"]
                     for b, level in enumerate(levels) if level["n"]}
    return out


# -- (a) the formula, correctly rounded ---------------------------------------------------------

@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("seed", range(8))
def test_the_shares_and_means_are_the_formula_correctly_rounded(name: str, seed: int) -> None:
    spec = SPECS[name]
    rng = random.Random(seed)
    scores = random_scores(spec, rng)
    moments = built(spec, scores)
    shares, means = reference(spec, scores)
    assert moments.importance() == shares
    assert list(moments.importance()) == list(shares)
    assert marginal_means(moments) == means


def test_a_score_of_two_effects_matches_the_reference_bit_for_bit() -> None:
    # additive in lr and beta1 plus a little noise: nonzero shares that are not round numbers
    rng = random.Random(5)
    scores = {i: 1e300 * (p["lr"] + p["beta1"]) + 1e299 * rng.random()
              for i, p in enumerate(GRID.settings())}
    shares, _ = reference(GRID, scores)
    assert built(GRID, scores).importance() == shares
    assert 0.0 < shares["lr"] < 1.0 and 0.0 < shares["beta1"] < 1.0
    tiny = {i: y * 1e-600 for i, y in scores.items()}  # about 1e-300: the same shares
    assert built(GRID, tiny).importance() == reference(GRID, tiny)[0]


def test_nothing_scored_or_no_variance_gives_zeros_and_levels_without_means() -> None:
    empty = built(GRID, {})
    assert empty.importance() == {"lr": 0.0, "beta1": 0.0}
    marginals = empty.marginals()
    assert [level["value"] for level in marginals["lr"]] == [0.1, 0.01, 0.001]
    assert all(level["n"] == 0 and level["mean"] is None for level in marginals["beta1"])
    flat = built(GRID, dict.fromkeys(range(GRID.n_settings), -2.5))
    assert flat.importance() == {"lr": 0.0, "beta1": 0.0}
    assert all(level["mean"] == -2.5 and level["n"] == 4 for level in flat.marginals()["lr"])


def test_a_non_finite_score_is_refused() -> None:
    moments = Moments(Factors.of(GRID))
    with pytest.raises(ValueError, match="finite"):
        moments.update(0, None, math.inf)
    with pytest.raises(ValueError, match="finite"):
        moments.update_many([(0, None, 1.0), (1, None, math.nan)])
    with pytest.raises(IndexError):
        moments.update_many([(GRID.n_settings, None, 1.0)])


# -- (b) any order, any batching ----------------------------------------------------------------

def history(spec: SweepSpec, final: Scores, rng: random.Random) -> list[tuple[int, Any, Any]]:
    """Updates that end in ``final``: each setting's own chain of scores (adds, changes,
    removals), the chains interleaved at random."""
    chains = []
    for i in range(spec.n_settings):
        path: list[float | None] = [None]
        for _ in range(rng.randrange(4)):
            path.append(rng.choice([None, random_score(rng)]))
        path.append(final.get(i))
        chains.append([(i, old, new) for old, new in itertools.pairwise(path)
                       if old is not None or new is not None])
    out = []
    while any(chains):
        chain = rng.choice([c for c in chains if c])
        out.append(chain.pop(0))
    return out


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("seed", range(5))
def test_any_order_of_updates_gives_the_same_state_bytes_and_numbers(name: str,
                                                                      seed: int) -> None:
    spec = SPECS[name]
    rng = random.Random(100 + seed)
    final = random_scores(spec, rng, scored=0.7)
    direct = built(spec, final)
    updates = history(spec, final, rng)
    one_by_one = Moments(direct.factors)
    for setting, old, new in updates:
        one_by_one.update(setting, old, new)
    batched = Moments(direct.factors)
    rng.shuffle(updates)  # the sums are linear: even a setting's own order does not matter
    start = 0
    while start < len(updates):
        stop = start + rng.randrange(1, 40)
        if rng.random() < 0.3:
            for change in updates[start:stop]:
                batched.update(*change)
        else:
            batched.update_many(updates[start:stop])
        start = stop
    for moments in (one_by_one, batched):
        assert moments == direct
        assert moments.to_bytes() == direct.to_bytes()
        assert moments.importance() == direct.importance()
        assert moments.marginals() == direct.marginals()


def test_update_and_update_many_agree_change_by_change() -> None:
    rng = random.Random(7)
    single = Moments(Factors.of(COMPARE))
    many = Moments(single.factors)
    current: Scores = {}
    for _ in range(200):
        i = rng.randrange(COMPARE.n_settings)
        new = rng.choice([None, random_score(rng)])
        change = (i, current.get(i), new)
        single.update(*change)
        many.update_many([change])
        if new is None:
            current.pop(i, None)
        else:
            current[i] = new
        assert single.to_bytes() == many.to_bytes()
    assert single == built(COMPARE, current)


# -- (c) bytes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SPECS))
def test_the_bytes_read_back_to_the_same_state(name: str) -> None:
    spec = SPECS[name]
    moments = built(spec, random_scores(spec, random.Random(3)))
    data = moments.to_bytes()
    again = Moments.from_bytes(data, moments.factors)
    assert again == moments
    assert again.to_bytes() == data
    assert again.importance() == moments.importance()
    assert again.marginals() == moments.marginals()
    again.update(0, None, 1.5)  # and it goes on from there as the original would
    moments.update(0, None, 1.5)
    assert again.to_bytes() == moments.to_bytes()
    empty = Moments(moments.factors)
    assert Moments.from_bytes(empty.to_bytes(), moments.factors) == empty


def test_bytes_of_another_sweep_or_not_moments_at_all_are_refused() -> None:
    data = built(GRID, {0: 1.0}).to_bytes()
    with pytest.raises(ValueError, match="another sweep"):
        Moments.from_bytes(data, Factors.of(COMPARE))
    for bad in (b"", b"[]", b'{"format": 1}', b"{"):
        with pytest.raises(ValueError):
            Moments.from_bytes(bad, Factors.of(GRID))


def test_the_bytes_are_as_short_as_the_values_need() -> None:
    # scores of a few bits: each sum a few hex digits, not 1074 bits' worth
    moments = built(GRID, {i: 0.25 * i for i in range(GRID.n_settings)})
    assert len(moments.to_bytes()) < 400


# -- (d) comparing optimizers -------------------------------------------------------------------

def test_comparing_optimizers_the_optimizer_is_a_factor_and_beta1_is_adams_only() -> None:
    factors = Factors.of(COMPARE)
    assert factors.names == ("optimizer", "lr", "beta1") == tuple(
        importance(COMPARE, []))
    assert factors.n_levels == (2, 4, 2)  # lr: 0.1, 0.01, 0.3 of sgd, then adam's 0.001
    sgd = [factors.levels(i) for i in range(3)]
    adam = [factors.levels(i) for i in range(3, 7)]
    assert sgd == [(0, 0, None), (0, 1, None), (0, 2, None)]
    assert adam == [(1, 1, 0), (1, 1, 1), (1, 3, 0), (1, 3, 1)]  # adam's lr 0.01 is sgd's
    assert factors.level_arrays(range(7)).tolist() == [list(c) for c in zip(
        *(lv if None not in lv else tuple(-1 if v is None else v for v in lv)
          for lv in sgd + adam), strict=True)]
    scores = {0: 3.0, 1: 1.0, 2: 2.0, 3: 0.5, 4: 0.25, 6: 0.125}
    moments = built(COMPARE, scores)
    assert moments.importance() == reference(COMPARE, scores)[0]
    marginals = moments.marginals()
    assert marginals["optimizer"] == [
        {"value": "sgd", "lo": None, "hi": None, "n": 3, "mean": 2.0},
        {"value": "adam", "lo": None, "hi": None, "n": 3, "mean": 0.875 / 3}]
    assert [(m["value"], m["n"]) for m in marginals["beta1"]] == [(0.8, 1), (0.9, 2)]
    assert moments.n_scored == (6, 6, 3)


def test_a_compared_sweeps_document_carries_the_same_numbers() -> None:
    document = run_sweep({"objective": "rosenbrock", "steps": 20, "seeds": 2, "optimizers": [
        {"optimizer": "sgd", "grid": {"lr": [1e-4, 1e-3]}},
        {"optimizer": "adam", "grid": {"lr": [0.01, 0.1], "beta1": [0.8, 0.9]}}]})
    spec = parse_spec(document["spec"])
    scores = {s["index"]: s["score"] for s in document["settings"] if s["score"] is not None}
    summary = document["summary"]
    assert summary["importance"] == reference(spec, scores)[0]
    assert summary["marginals"] == built(spec, scores).marginals()
    assert [m["value"] for m in summary["marginals"]["optimizer"]] == ["sgd", "adam"]


# -- (e) sampled keys ---------------------------------------------------------------------------

def test_a_sampled_keys_bins_are_fixed_by_the_spec_and_of_equal_counts() -> None:
    factors = Factors.of(SAMPLED)
    assert factors.names == ("lr", "beta1")
    n = SAMPLED.n_settings  # 3 × 30: each drawn lr three times
    levels = factors.level_arrays(range(n))
    bins = min(SAMPLED_BINS, math.ceil(math.sqrt(n)))
    assert bins == 10
    assert np.bincount(levels[0]).tolist() == [n // bins] * bins
    assert levels[0].tolist() == reference_levels(SAMPLED)["lr"]
    described = factors.level_values(0)
    lrs = [p["lr"] for p in SAMPLED.settings()]
    for b, level in enumerate(described):
        inside = sorted(lr for lr, lv in zip(lrs, levels[0], strict=True) if lv == b)
        assert (level["lo"], level["hi"]) == (inside[0], inside[-1])
        assert level["value"] == inside[(len(inside) - 1) // 2]
    assert all(a["hi"] <= b["lo"] for a, b in itertools.pairwise(described))
    # a few settings scored: the bins are the spec's, not those of the scored settings
    scores = {i: math.log10(lrs[i]) ** 2 for i in range(0, n, 7)}
    moments = built(SAMPLED, scores)
    assert moments.importance() == reference(SAMPLED, scores)[0]
    marginals = moments.marginals()["lr"]
    assert [(m["lo"], m["hi"]) for m in marginals] == [(d["lo"], d["hi"]) for d in described]
    assert sum(m["n"] for m in marginals) == len(scores)


def test_a_sampled_key_in_one_entry_and_listed_in_another_is_binned_over_both() -> None:
    spec = parse_spec({"objective": "sphere", "steps": 5, "samples": 8, "optimizers": [
        {"optimizer": "sgd", "grid": {"lr": [0.5, 0.05]}},
        {"optimizer": "adam", "grid": {"lr": log_uniform(1e-3, 1.0), "beta1": [0.8, 0.9]}}]})
    factors = Factors.of(spec)
    assert factors.names == ("optimizer", "lr", "beta1")
    levels = factors.level_arrays(range(spec.n_settings)).tolist()
    assert levels[1] == reference_levels(spec)["lr"]
    scores = {i: random_score(random.Random(i)) for i in range(spec.n_settings)}
    assert built(spec, scores).importance() == reference(spec, scores)[0]


# -- (f) a sweep of 10^6 settings ---------------------------------------------------------------

def test_a_million_settings_build_and_take_ten_thousand_changes() -> None:
    axis = [round(0.001 * (k + 1), 6) for k in range(100)]
    spec = parse_spec({"objective": "sphere", "optimizer": "adam", "steps": 5,
                       "grid": {"lr": axis, "beta1": [a / 2 for a in axis],
                                "beta2": [0.5 + a / 4 for a in axis]}}, UNLIMITED)
    factors = Factors(spec.data())
    assert factors.n_settings == 10**6 and factors.n_levels == (100, 100, 100)
    rng = np.random.default_rng(0)
    settings = rng.choice(factors.n_settings, 10_000, replace=False).tolist()
    first, second = rng.random(10_000).tolist(), rng.random(10_000).tolist()
    moments = Moments(factors)
    moments.update_many(zip(settings, [None] * 10_000, first, strict=True))
    moments.update_many(zip(settings, first, second, strict=True))
    assert moments.n_scored == (10_000,) * 3
    for i in settings[:50]:  # spot-check the levels against the params
        assert factors.levels(i) == tuple(
            values.index(spec.setting(i)[key]) for key, values in
            (("lr", axis), ("beta1", [a / 2 for a in axis]),
             ("beta2", [0.5 + a / 4 for a in axis])))
    assert sum(m["n"] for m in moments.marginals()["lr"]) == 10_000


def test_a_million_sampled_settings_are_binned_once() -> None:
    spec = parse_spec({"objective": "sphere", "optimizer": "adam", "steps": 5,
                       "samples": 1000, "grid": {"lr": log_uniform(1e-5, 1.0),
                                                  "beta1": [0.5 + k / 2000 for k in range(1000)]}},
                      UNLIMITED)
    factors = Factors(spec.data())
    assert factors.n_settings == 10**6
    counts = np.bincount(factors.level_arrays(np.arange(10**6))[0])
    assert counts.tolist() == [10**5] * SAMPLED_BINS
    moments = Moments(factors)
    rng = np.random.default_rng(1)
    moments.update_many(zip(rng.choice(10**6, 10_000, replace=False).tolist(),
                            [None] * 10_000, rng.random(10_000).tolist(), strict=True))
    assert 0.0 <= moments.importance()["lr"] <= 1.0


# -- results.importance is built on it ----------------------------------------------------------

def test_results_importance_and_the_documents_marginals_are_the_moments() -> None:
    document = run_sweep({"objective": "rosenbrock", "optimizer": "adam", "steps": 30,
                          "grid": {"lr": [0.001, 0.01, 0.1], "beta1": [0.8, 0.9]}})
    spec = parse_spec(document["spec"])
    moments = moments_of(spec, document["settings"])
    assert document["summary"]["importance"] == moments.importance() == importance(
        spec, document["settings"])
    assert document["summary"]["marginals"] == moments.marginals()
    assert [m["value"] for m in document["summary"]["marginals"]["lr"]] == [0.001, 0.01, 0.1]
