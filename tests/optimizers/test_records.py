"""The TypedDicts of ``optimizers.records`` (what the engine builds and every consumer reads)
and the pydantic models of ``optimizers.results`` (what the API's schema publishes) describe
the same data: the same keys, the same nullable values, and real documents are both."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from optimizers import assemble, parse_spec, run_chunk, run_sweep
from optimizers.records import (
    OUTCOME_KEYS,
    SCORE_KEYS,
    VALIDATION_KEYS,
    BestRecord,
    CurveRecord,
    MarginalRecord,
    ProgressRecord,
    ResultsDocument,
    ScoreSummary,
    SettingRecord,
    SummaryRecord,
    TrialRecord,
    TrialRow,
)
from optimizers.results import (
    Best,
    Curve,
    Marginal,
    Progress,
    SettingScore,
    Summary,
    SweepResults,
    SweepStatus,
    TrialResult,
    failed_records,
    score_summaries,
)
from optimizers.spec import (
    OptimizerData,
    OptimizerSpec,
    RandomInit,
    RandomInitData,
    SpecData,
    SweepSpec,
    shown_keys,
    swept_keys,
)

PAIRS: list[tuple[type, type[BaseModel]]] = [
    (TrialRecord, TrialResult), (CurveRecord, Curve), (SettingRecord, SettingScore),
    (BestRecord, Best), (ProgressRecord, Progress), (SummaryRecord, Summary),
    (MarginalRecord, Marginal),
    (ResultsDocument, SweepResults), (SpecData, SweepSpec), (OptimizerData, OptimizerSpec),
    (RandomInitData, RandomInit),
]

#: The document's type, checked strictly: no key missing, none extra, every value its type.
STRICT_DOCUMENTS = TypeAdapter(list[ResultsDocument],
                               config=ConfigDict(extra="forbid", strict=True))


def nullable(hint: Any) -> bool:
    """Whether a type admits None (through Annotated and unions)."""
    if hint is None or hint is type(None):
        return True
    if get_origin(hint) is Annotated:
        return nullable(get_args(hint)[0])
    if get_origin(hint) in (Union, types.UnionType):
        return any(nullable(arg) for arg in get_args(hint))
    return False


@pytest.mark.parametrize(("typed", "model"), PAIRS, ids=[t.__name__ for t, _ in PAIRS])
def test_each_typed_dict_has_its_models_fields_and_nulls(typed: type,
                                                         model: type[BaseModel]) -> None:
    hints = get_type_hints(typed)
    assert set(hints) == set(model.model_fields)
    # every key always there, but a model's validation metrics and curves, and a search's
    # samples, search_seed and sampler, and a summary document's statuses (absent otherwise;
    # the model's field then defaults to None)
    optional = typing.cast(Any, typed).__optional_keys__
    assert optional <= set(VALIDATION_KEYS) | {"val_loss", "val_accuracy", "samples",
                                               "search_seed", "sampler", "statuses"}
    assert typing.cast(Any, typed).__required_keys__ == set(hints) - optional
    for key, hint in hints.items():
        if key in optional:
            assert model.model_fields[key].default is None, key
        else:
            assert nullable(hint) == nullable(model.model_fields[key].annotation), key


def test_a_record_is_a_row_is_a_summary() -> None:
    trial_fields = set(TrialResult.model_fields) - set(VALIDATION_KEYS)
    assert set(get_type_hints(TrialRow)) - set(VALIDATION_KEYS) == trial_fields - {"curve"}
    assert set(SCORE_KEYS) == trial_fields - {"curve", "params", "seed", "optimizer"}
    assert SCORE_KEYS == tuple(k for k in get_type_hints(ScoreSummary)
                               if k not in VALIDATION_KEYS) == ("index", *OUTCOME_KEYS)
    assert OUTCOME_KEYS == ("status", "final_loss", "min_loss", "mean_loss", "diverged_at", "pruned_at",
                            "error")


SPECS: list[dict[str, Any]] = [
    # ok and diverged trials, several seeds, a seeded random start
    {"objective": "rastrigin", "optimizer": "adam", "grid": {"lr": [1e-3, 0.1, 1e6],
     "beta1": [0.5, 0.9]}, "seeds": 2, "steps": 40, "init": {"distribution": "normal"}},
    # a list start, one grid point, one seed (nothing swept)
    {"objective": {"name": "quadratic", "dim": 3}, "optimizer": {"name": "rmsprop"},
     "grid": {"lr": 0.01}, "steps": 10, "init": [1.0, -2.0, 0.5], "metric": "mean_loss"},
    # the objective's own start, a seed list, a random start with a center
    {"objective": "beale", "optimizer": {"name": "adam", "eps_placement": "outside"},
     "grid": {"lr": [0.01, 0.02]}, "seeds": [3, 7], "steps": 25, "record_every": 7,
     "init": {"distribution": "uniform", "scale": 0.5, "center": [1.0, 1.0]}},
    {"objective": "booth", "optimizer": "sgd", "grid": {"lr": [0.01, 0.1]}, "steps": 5},
    # optimizers compared, a schedule swept and clipping
    {"objective": "rosenbrock", "optimizers": [
        {"optimizer": "adamw", "grid": {"lr": [0.01, 0.1]}},
        {"optimizer": "lion", "grid": {"lr": 0.001}, "schedule": {"name": "step", "step_size": [3, 5]}}],
     "clip": {"global_norm": 1.0}, "seeds": 2, "steps": 12},
]


@pytest.mark.parametrize("spec_data", SPECS)
def test_real_documents_are_the_typed_dict_and_the_model(spec_data: dict[str, Any]) -> None:
    document = run_sweep(spec_data)
    STRICT_DOCUMENTS.validate_python([document])
    model = SweepResults.model_validate(document)
    # nothing the model adds, drops or changes (unset: a model's metrics, absent here)
    assert model.model_dump(mode="json", exclude_unset=True) == document


def test_partial_documents_with_failed_trials_are_both_too() -> None:
    spec = parse_spec(SPECS[0])
    records = run_chunk(spec, 0, 5) + failed_records(spec, spec.trials(9, 12), "ValueError: broke")
    document = assemble(spec, records, status=SweepStatus.CANCELLED)
    STRICT_DOCUMENTS.validate_python([document])
    assert SweepResults.model_validate(document).model_dump(mode="json",
                                                            exclude_unset=True) == document
    assert [t["status"] for t in document["trials"]][-3:] == ["failed"] * 3
    empty = assemble(spec, [], status=SweepStatus.CANCELLED)
    assert empty["best"] is None and empty["trials"] == []
    STRICT_DOCUMENTS.validate_python([empty])


def test_the_strict_check_refuses_a_document_out_of_step() -> None:
    """The check above can fail: a key too many, a key missing, a value of the wrong type."""
    document = run_sweep(SPECS[3])
    extra: Any = {**document, "trials": [{**document["trials"][0], "note": "x"}]}
    missing: Any = {**document, "progress": {"done": 2}}
    wrong: Any = {**document, "best": {**typing.cast(dict[str, Any], document["best"]),
                                       "trials": "0"}}
    for bad in (extra, missing, wrong):
        with pytest.raises(ValidationError):
            STRICT_DOCUMENTS.validate_python([bad])


def test_score_summaries_hold_exactly_the_summary_keys() -> None:
    spec = parse_spec(SPECS[0])
    records = run_chunk(spec, 0, spec.n_trials)
    summaries = score_summaries(records)
    assert all(tuple(s) == SCORE_KEYS for s in summaries)
    assert summaries == [{k: r[k] for k in SCORE_KEYS} for r in records]
    TypeAdapter(list[ScoreSummary], config=ConfigDict(extra="forbid",
                                                      strict=True)).validate_python(summaries)


def test_which_hyperparameters_are_swept_and_shown() -> None:
    grid: dict[str, float | list[float]] = {"lr": [0.1, 0.2], "beta1": [0.9], "beta2": 0.99,
                                            "eps": [1e-8, 1e-6, 1e-4]}
    assert swept_keys(grid) == ["lr", "eps"]  # lists of two or more, in grid order
    assert shown_keys(grid) == ["lr", "eps"]
    single: dict[str, float | list[float]] = {"lr": 0.1, "beta1": [0.9]}
    assert swept_keys(single) == [] and shown_keys(single) == ["lr", "beta1"]
    spec = parse_spec({**SPECS[0]})
    assert spec.swept == swept_keys(spec.data()["grid"]) == ["lr", "beta1"]
