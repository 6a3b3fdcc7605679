"""The sweep spec: what a user asks for, validated and normalised before anything runs.

This model is the request body of ``POST /v1/sweeps`` and the CLI's SPEC.json (README's "The spec").
Validation is strict — unknown keys, unknown names, wrong types, non-finite numbers and values out
of range are refused with a message that names the field and the valid choices — and the
normalised spec (``model_dump()``) has every default filled in, so it is the complete record of
what ran.

A grid value may also be a distribution (``optimizers.search``): the spec then draws ``samples``
configurations from its search seed, and the normalised spec shows the drawn values.

Limits on size (trials, steps, dim, total work) come from a ``Limits`` object passed as validation
context (``parse_spec(data, limits)``); the engine never reads the environment.

The spec is bounded by construction: every integer fits 64 bits whatever the limits (what the
stores and orjson can hold), a list stops at its first bad entry and a flood of unknown keys is one
error (so an invalid 1 MB body costs what a small one does), and normalisation adds nothing of the
spec's size — a random init keeps no center it was not given and a seed count stays a count.
"""

from __future__ import annotations

import bisect
import itertools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, cast, get_args

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    InstanceOf,
    Tag,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict  # pydantic validates it on Python 3.11 too

from .models import DatasetSource
from .objectives import OBJECTIVES, Objective, ObjectiveSpec
from .pruning import Plan, PruningSpec, plan_of
from .python_objective import PythonObjective
from .rules import RULE_NAMES, RULES_WITH_EPS, Array, Rule, default_placement, make_rule
from .schedules import SCHEDULES, Schedule
from .search import (
    GRID_VALUE_FORMS,
    MAX_INT,
    AnyDistribution,
    BoundedInt,
    Distribution,
    IntDistribution,
    Sampler,
    _FailFast,
    draw,
)
from .transforms import CLIP_PREFIX, SCHEDULE_PREFIX, Chain, ClipKind

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
Metric = Literal["final_loss", "min_loss", "mean_loss", "final_val_loss", "min_val_loss",
                 "final_val_accuracy", "max_val_accuracy"]
METRICS: tuple[str, ...] = get_args(Metric)
#: The metrics for which higher is better; lower is better for every other one.
HIGHER_IS_BETTER: frozenset[str] = frozenset({"final_val_accuracy", "max_val_accuracy"})


def higher_is_better(metric: str) -> bool:
    """Whether a higher score of ``metric`` is the better one (the accuracies)."""
    return metric in HIGHER_IS_BETTER


def rank_key(score: float, metric: str) -> float:
    """What ranks a score, lowest first: the score, or its negation where higher is better."""
    return -score if metric in HIGHER_IS_BETTER else score


MAX_SEED = 2**32 - 1
# Every integer of a spec fits a signed 64-bit integer whatever the limits (MAX_INT, from
# ``search``): the stores and the JSON encoder (orjson) take nothing wider, so a wider one would
# be a 500 after validation.
# How many keys an object of a spec may have that are not its fields before they are refused in
# one error rather than one error each: a 1 MB body of unknown keys is 100,000 errors otherwise.
MAX_EXTRA_KEYS = 20


# A list stops at its first bad entry (pydantic's FailFast): one error, not one per entry, so a
# body of 200,000 bad numbers costs what one does.
Numbers = Annotated[list[float], _FailFast()]


class Limits(BaseModel):
    """How big a sweep may be. The CLI and the service fill it from their settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_trials: int = Field(1_000_000, ge=1, le=MAX_INT, description="grid points × seeds")
    max_steps: int = Field(1_000_000, ge=1, le=MAX_INT, description="updates per trial")
    max_dim: int = Field(1_000_000, ge=1, le=MAX_INT, description="coordinates per trial")
    max_work: float = Field(2e10, gt=0, description="trials × dim × steps, the sweep's total work")
    max_curve_points: int = Field(
        5_000_000, ge=1, le=MAX_INT, description="trials × recorded steps, the sweep's total "
        "output: at the default about 120 MB of curves in the results document, well inside "
        "what one stored value may hold (Redis 512 MB, SQLite 1 GB)")


UNLIMITED = Limits(max_trials=sys.maxsize, max_steps=sys.maxsize, max_dim=sys.maxsize,
                   max_work=math.inf, max_curve_points=sys.maxsize)


def _error(kind: str, message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, ctx)


def _error_at(loc: tuple[int | str, ...], kind: str, message: str, **ctx: Any) -> ValidationError:
    """``_error`` at ``loc`` below what is being validated (``("lr", "max")`` in the grid's
    validator is ``grid.lr.max``), for a check that needs more than the field itself knows."""
    return ValidationError.from_exception_data("SweepSpec", [
        {"type": _error(kind, message, **ctx), "loc": loc, "input": None}])


def _name_to_object(value: Any) -> Any:
    """A bare name stands for ``{"name": name}`` with every default."""
    return {"name": value} if isinstance(value, str) else value


def _few_extra_keys(value: Any, fields: Mapping[str, Any], what: str) -> None:
    """Refuse, in one error, an object with more than ``MAX_EXTRA_KEYS`` keys that are not
    ``fields`` (fewer get pydantic's own error per key, which names each)."""
    if not isinstance(value, Mapping) or len(value) <= len(fields) + MAX_EXTRA_KEYS:
        return
    extra = [key for key in value if key not in fields]
    if len(extra) > MAX_EXTRA_KEYS:
        shown = ", ".join(repr(str(key))[:40] for key in extra[:3])
        raise _error("extra_forbidden", "{what} has {n} unknown keys ({shown}, ...); valid: "
                     "{fields}", what=what, n=len(extra), shown=shown, fields=", ".join(fields))


#: What an absent optimizer or grid of the single form becomes before validation (see
#: ``SweepSpec._few_extras``): its field's error is then "Field required" under its own name.
_REQUIRED = object()


def _required(value: Any) -> None:
    if value is _REQUIRED:
        raise _error("missing", "Field required (or give optimizers: a list of entries, each "
                     "with an optimizer and a grid)")


def _optimizer_to_object(value: Any) -> Any:
    """A bare name stands for ``{"name": name}``; without eps_placement, the rule's own."""
    _required(value)
    value = _name_to_object(value)
    _few_extra_keys(value, OptimizerSpec.model_fields, "optimizer")
    if isinstance(value, Mapping) and "eps_placement" not in value and value.get(
            "name") in RULE_NAMES:
        value = {**value, "eps_placement": default_placement(value["name"])}
    return value


def _objective_to_object(value: Any) -> Any:
    """A bare objective name stands for ``{"name": name}``; an unknown or missing name is
    refused here with the valid choices (the union's own message only lists its tags)."""
    value = _name_to_object(value)
    if isinstance(value, Mapping):
        name = value.get("name")
        if not isinstance(name, str) or name not in OBJECTIVES:
            shown = "no name" if name is None else f"unknown objective {name!r}"
            raise _error("unknown_objective", "{shown}; valid choices: {choices}",
                         shown=shown, choices=", ".join(OBJECTIVES))
        _few_extra_keys(value, OBJECTIVES[name].model_fields, "objective")
    return value


def _scalar_or_list(value: Any) -> str:
    return "list" if isinstance(value, (list, tuple)) else "scalar"


def _grid_value_kind(value: Any) -> str:
    """A grid value's branch: a number, a list, or a distribution (an object)."""
    if isinstance(value, (Mapping, Distribution, IntDistribution)):
        return "sampled"
    return _scalar_or_list(value)


def _values_form(value: Any) -> Any:
    """``{"values": [...]}`` stands for the list; an object that is neither that nor a
    distribution is refused with the forms a grid value may take."""
    if not isinstance(value, Mapping) or "distribution" in value:
        return value
    if "values" not in value:
        raise _error("grid_value", "an object here is a distribution {\"distribution\", "
                     "\"min\", \"max\"} or the values form; valid choices: {choices}",
                     choices=GRID_VALUE_FORMS)
    if len(value) > 1 or not isinstance(value["values"], list):
        raise _error("grid_value", "the values form is {\"values\": [...]}: a list and "
                     "nothing else")
    return value["values"]


class OptimizerSpec(BaseModel):
    """The optimizer: a rule's name and its options (hyperparameters go in the grid)."""

    model_config = STRICT

    name: str = Field(description=f"one of {', '.join(RULE_NAMES)}")
    eps_placement: Literal["inside", "outside"] = Field(
        "inside", description="eps inside the square root or outside it (as PyTorch and optax); "
        "absent, the rule's own: inside for the seed's six (as their formulas write it), "
        "outside for adamw, amsgrad, nadam and radam (as torch)")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in RULE_NAMES:
            raise _error("unknown_optimizer",
                         "unknown optimizer '{name}'; valid choices: {choices}",
                         name=name, choices=", ".join(RULE_NAMES))
        return name

    @model_validator(mode="after")
    def _placement_applies(self) -> OptimizerSpec:
        if self.eps_placement == "outside" and self.name not in RULES_WITH_EPS:
            raise _error("eps_placement", "eps_placement applies to {choices} only, not {name}",
                         choices=", ".join(RULES_WITH_EPS), name=self.name)
        return self

    @cached_property
    def rule(self) -> Rule:
        """The update rule this spec names."""
        return make_rule(self.name, self.eps_placement)


class RandomInit(BaseModel):
    """A seeded random start: center + scale·z, z ~ N(0, 1) or U(−1, 1) per coordinate."""

    model_config = STRICT

    distribution: Literal["normal", "uniform"]
    scale: float = Field(1.0, gt=0, description="spread around the center")
    center: Numbers | None = Field(
        None, description="the center; absent, the objective's customary start point (which "
        "normalisation does not fill in: the spec stays as small as it was posted)")

    @model_validator(mode="before")
    @classmethod
    def _few_extras(cls, value: Any) -> Any:
        _few_extra_keys(value, cls.model_fields, "init")
        return value

    def sample(self, seed: int, center: Array) -> Array:
        """The start point of a trial with this ``seed``; same seed, same point."""
        rng = np.random.default_rng(seed)
        d = len(center)
        z = rng.standard_normal(d) if self.distribution == "normal" else rng.uniform(-1.0, 1.0, d)
        return center + self.scale * z


InitSpec = Annotated[
    Annotated[Numbers, Tag("list")] | Annotated[RandomInit, Tag("random")],
    Discriminator(lambda v: "list" if isinstance(v, (list, tuple)) else "random"),
]
# a number, a list to sweep, or a distribution to sample (``optimizers.search``); the values form
# {"values": [...]} is read as its list
GridValue = Annotated[
    Annotated[float, Tag("scalar")] | Annotated[Numbers, Tag("list")]
    | Annotated[Distribution, Tag("sampled")],
    Discriminator(_grid_value_kind),
    BeforeValidator(_values_form, json_schema_input_type=float | list[float] | Distribution
                    | dict[Literal["values"], list[float]]),
]
#: What a grid value is once validated: a number, a list or a distribution.
Value = float | list[float] | AnyDistribution
Seeds = Annotated[
    Annotated[int, Tag("scalar")] | Annotated[list[int], _FailFast(), Tag("list")],
    Discriminator(_scalar_or_list),
]


class ScheduleBase(BaseModel):
    """A learning-rate schedule: ``name`` and the schedule's parameters, each a number, a list
    to sweep or a distribution to sample (``optimizers.schedules``). Parameters whose default is
    the sweep's step count are filled in by the sweep."""

    model_config = STRICT
    declaration: ClassVar[Schedule]
    name: str

    @model_validator(mode="before")
    @classmethod
    def _few_extras(cls, value: Any) -> Any:
        _few_extra_keys(value, cls.model_fields, "schedule")
        return value

    @model_validator(mode="after")
    def _in_range(self) -> ScheduleBase:
        for p in self.declaration.parameters:
            value = getattr(self, p.name)
            if value is None:
                continue
            _check_value(f"schedule.{p.name}", p.name, value, p.contains,
                         p.range_text + (" (a whole number)" if p.integer else ""))
        return self

    def values(self) -> dict[str, Value | None]:
        """Parameter name → its number, list or distribution (None where the sweep fills it
        in)."""
        return {p.name: getattr(self, p.name) for p in self.declaration.parameters}


# a schedule's whole numbers fit 64 bits (BoundedInt); their one distribution is int_uniform
IntGridValue = Annotated[
    Annotated[BoundedInt, Tag("scalar")] | Annotated[list[BoundedInt], _FailFast(), Tag("list")]
    | Annotated[IntDistribution, Tag("sampled")],
    Discriminator(_grid_value_kind),
    BeforeValidator(_values_form, json_schema_input_type=BoundedInt | list[BoundedInt]
                    | IntDistribution | dict[Literal["values"], list[BoundedInt]]),
]


def _schedule_model(schedule: Schedule) -> type[ScheduleBase]:
    """The spec model of one schedule, built from its declaration."""
    fields: dict[str, Any] = {"name": (Literal[schedule.name], Field(
        description=schedule.formula))}
    for p in schedule.parameters:
        kind = IntGridValue if p.integer else GridValue
        if p.default is None:
            fields[p.name] = (kind, Field(description=f"{p.description} ({p.range_text})"))
        else:
            default = None if p.default == "steps" else p.default
            fields[p.name] = (kind | None, Field(default, description=f"{p.description} "
                                                 f"({p.range_text}; default {p.default})"))
    model: type[ScheduleBase] = create_model(
        f"{schedule.name.title().replace('_', '')}Schedule", __base__=ScheduleBase, **fields)
    model.declaration = schedule
    return model


SCHEDULE_MODELS: dict[str, type[ScheduleBase]] = {name: _schedule_model(s)
                                                  for name, s in SCHEDULES.items()}


def _schedule_to_object(value: Any) -> Any:
    """A bare schedule name stands for ``{"name": name}``; an unknown name is refused with the
    valid choices."""
    value = _name_to_object(value)
    if isinstance(value, Mapping):
        name = value.get("name")
        if not isinstance(name, str) or name not in SCHEDULES:
            shown = "no name" if name is None else f"unknown schedule {name!r}"
            raise _error("unknown_schedule", "{shown}; valid choices: {choices}", shown=shown,
                         choices=", ".join(SCHEDULES))
    return value


if TYPE_CHECKING:
    ScheduleSpec = ScheduleBase
else:  # one model per schedule, told apart by name
    ScheduleSpec = Annotated[
        Union[tuple(Annotated[m, Tag(n)] for n, m in SCHEDULE_MODELS.items())],  # noqa: UP007
        Discriminator(lambda v: v.get("name") if isinstance(v, Mapping)
                      else getattr(v, "name", None)),
        BeforeValidator(_schedule_to_object, json_schema_input_type=str | dict[str, Any]),
    ]


class ClipSpec(BaseModel):
    """Gradient clipping, applied to the objective's gradient before weight decay: by each
    trial's global norm (g ← g·min(1, M/‖g‖₂)) or by value (each coordinate to [−c, c]). The
    number may be a list to sweep or a distribution to sample (a trial's params name it
    ``clip.global_norm`` or ``clip.value``)."""

    model_config = STRICT

    global_norm: GridValue | None = Field(None, description="M > 0: rescale each trial's "
                                          "gradient to norm at most M")
    value: GridValue | None = Field(None, description="c > 0: clip each coordinate to [−c, c]")

    @model_validator(mode="after")
    def _one_kind(self) -> ClipSpec:
        given = [k for k in ("global_norm", "value") if getattr(self, k) is not None]
        if len(given) != 1:
            raise _error("clip", "clip takes exactly one of global_norm and value (got {n})",
                         n=len(given))
        value = getattr(self, given[0])
        _check_value(f"clip.{given[0]}", given[0], value, lambda v: v > 0, f"0 < {given[0]}")
        return self

    @property
    def kind(self) -> ClipKind:
        """Which clipping: "global_norm" or "value"."""
        return "global_norm" if self.global_norm is not None else "value"

    @property
    def limit(self) -> Value:
        """M or c: a number, a list or a distribution."""
        value = self.global_norm if self.global_norm is not None else self.value
        assert value is not None
        return value


def _check_value(key: str, loc: int | str, value: Value, contains: Any, range_text: str) -> None:
    """Refuse a value of ``key`` out of range: a number, a list (``_check_values``) or a
    distribution, whose bounds must both be in range (the error at ``loc``.min or .max, below
    the field being validated)."""
    if isinstance(value, (Distribution, IntDistribution)):
        for end in ("min", "max"):
            bound = getattr(value, end)
            if not contains(bound):
                raise _error_at((loc, end), "out_of_range", "{end} = {value} is out of range for "
                                "{key}; valid: {range}", end=end, value=bound, key=key,
                                range=range_text)
        return
    _check_values(key, value if isinstance(value, list) else [value], contains, range_text)


def _check_values(key: str, values: list[float], contains: Any, range_text: str) -> None:
    """Refuse an empty or repeating list, or a value out of range, naming ``key``."""
    if not values:
        raise _error("empty_list", "{key}: the list is empty; give at least one value", key=key)
    if len(set(values)) != len(values):
        raise _error("duplicate_value", "{key}: the list repeats a value", key=key)
    for v in values:
        if not contains(v):
            raise _error("out_of_range", "{key} = {value} is out of range; valid: {range}",
                         key=key, value=v, range=range_text)


class OptimizerData(TypedDict):
    """``OptimizerSpec`` as JSON."""

    name: str
    eps_placement: Literal["inside", "outside"]


class RandomInitData(TypedDict):
    """``RandomInit`` as JSON."""

    distribution: Literal["normal", "uniform"]
    scale: float
    center: list[float] | None


class DistributionData(TypedDict):
    """A distribution (``search.Distribution``) as JSON: in a normalised spec, ``drawn`` holds
    its value in each sample (None only in the optimizers form's sweep-level schedule and clip,
    which each entry that takes them draws for itself)."""

    distribution: str
    min: float
    max: float
    drawn: list[float] | None


#: A grid value as JSON: a number, a list or a distribution.
ValueData = float | list[float] | DistributionData


class ClipData(TypedDict):
    """``ClipSpec`` as JSON: one of the two is given."""

    global_norm: ValueData | None
    value: ValueData | None


class EntryData(TypedDict):
    """``EntrySpec`` as JSON (in a normalised spec, the sweep's schedule and clip filled in)."""

    optimizer: OptimizerData
    grid: dict[str, ValueData]
    schedule: dict[str, str | ValueData] | None
    clip: ClipData | None


class PruningData(TypedDict):
    """``PruningSpec`` as JSON."""

    kind: Literal["successive_halving", "hyperband"]
    min_steps: int
    reduction: int


class SearchData(TypedDict, total=False):
    """A normalised spec's search keys, there only when a grid value is a distribution."""

    samples: int
    search_seed: int
    sampler: Sampler


class SpecData(SearchData):
    """The normalised spec as JSON (``SweepSpec.data()``, every default filled in): what a
    store keeps and what the results document's ``spec`` holds. ``objective`` is its name, dim
    and the objective's own parameters (a float each)."""

    name: str
    objective: dict[str, str | float]
    optimizer: OptimizerData | None
    init: list[float] | RandomInitData | None
    grid: dict[str, ValueData] | None
    schedule: dict[str, str | ValueData] | None
    clip: ClipData | None
    optimizers: list[EntryData] | None
    steps: int
    seeds: int | list[int]
    record_every: int
    metric: Metric
    divergence_threshold: float
    pruning: PruningData | None


@dataclass(frozen=True, slots=True)
class Trial:
    """One trial of a sweep: a grid point (``setting``) run with one seed."""

    index: int
    setting: int
    params: dict[str, float]
    seed: int
    entry: int = 0  # which of the spec's optimizers runs it


def _checked_grid(grid: Any, handler: ValidatorFunctionWrapHandler,
                  info: ValidationInfo) -> Any:
    """The grid in the rule's hyperparameter order, defaults filled in, with every problem
    reported at once (one bad value never hides the next): the unknown hyperparameters (one
    error naming them, before any value is validated, so a grid of 100,000 unknown keys is one
    error, not one per key), then each known key's value, its type and then its range (at
    ``grid.<key>``), and the hyperparameters the rule needs that the grid lacks."""
    _required(grid)
    optimizer: OptimizerSpec | None = info.data.get("optimizer")
    if not isinstance(grid, Mapping) or optimizer is None:
        if isinstance(grid, Mapping) and len(grid) > MAX_EXTRA_KEYS:
            raise _error("grid_size", "grid has {n} keys; an optimizer has at most a few "
                         "hyperparameters", n=len(grid))
        return handler(grid)
    rule = optimizer.rule
    names = [h.name for h in rule.hyperparameters]
    problems: list[InitErrorDetails] = []
    unknown = [key for key in grid if key not in names]
    if unknown:
        shown = ", ".join(f"'{key}'" for key in unknown[:5]) + (", ..." if len(unknown) > 5
                                                                 else "")
        problems.append(_detail((), _error(
            "unknown_hyperparameter", "unknown hyperparameter{s} {keys} for {rule}; valid "
            "choices: {choices}", s="s" if len(unknown) > 1 else "", keys=shown,
            rule=rule.name, choices=", ".join(names))))
    normal: dict[str, Value] = {}
    for h in rule.hyperparameters:
        if h.name not in grid:
            if h.default is None:
                problems.append(_detail((), _error(
                    "missing_hyperparameter", "{rule} needs {key} in the grid (a number, a "
                    "list or a distribution)", rule=rule.name, key=h.name)))
            else:
                normal[h.name] = h.default
            continue
        try:
            value = handler({h.name: grid[h.name]})[h.name]
            _check_value(h.name, h.name, value, h.contains, h.range_text)
        except ValidationError as exc:
            problems.extend(_details(exc))
            continue
        except PydanticCustomError as exc:
            problems.append(_detail((h.name,), exc))
            continue
        normal[h.name] = value
    if problems:
        raise ValidationError.from_exception_data("SweepSpec", problems)
    return normal


def _detail(loc: tuple[int | str, ...], error: PydanticCustomError) -> InitErrorDetails:
    """One error of several raised together, at ``loc`` below the field being validated."""
    return {"type": error, "loc": loc, "input": None}


def _details(exc: ValidationError) -> list[InitErrorDetails]:
    """``exc``'s errors, to be raised again among others (their types, locations and
    messages kept)."""
    return [_detail(tuple(err["loc"]), PydanticCustomError(err["type"], err["msg"]))
            for err in exc.errors(include_url=False)]


OptimizerField = Annotated[OptimizerSpec, BeforeValidator(
    _optimizer_to_object, json_schema_input_type=str | OptimizerSpec)]
GridField = dict[str, GridValue]
#: Most optimizers one sweep compares.
MAX_ENTRIES = 32


class EntrySpec(BaseModel):
    """One optimizer of a sweep that compares several: its rule, grid and (optionally) its own
    schedule and clipping (absent, the sweep's)."""

    model_config = STRICT

    optimizer: OptimizerField = Field(description=f"a name ({', '.join(RULE_NAMES)}) or an "
                                      "object with name and eps_placement")
    grid: GridField = Field(description="each key a hyperparameter of this optimizer: a list is "
                            "swept, a number fixed, a distribution sampled (with samples); the "
                            "ones left out take their defaults")
    schedule: ScheduleSpec | None = Field(None, description="this optimizer's learning-rate "
                                          "schedule; absent, the sweep's")
    clip: ClipSpec | None = Field(None, description="this optimizer's gradient clipping; "
                                  "absent, the sweep's")

    @model_validator(mode="before")
    @classmethod
    def _few_extras(cls, value: Any) -> Any:
        _few_extra_keys(value, cls.model_fields, "an optimizers entry")
        return value

    @field_validator("grid", mode="wrap")
    @classmethod
    def _checked_grid(cls, grid: Any, handler: ValidatorFunctionWrapHandler,
                      info: ValidationInfo) -> dict[str, Value]:
        return cast("dict[str, Value]", _checked_grid(grid, handler, info))


#: An axis of an entry as data: a number, a list, or a distribution (with its ``drawn`` values).
Axis = float | list[float] | Mapping[str, Any]


@dataclass(frozen=True)
class Entry:
    """One optimizer of a sweep, as the engine runs it: the chain (rule, schedule, clipping),
    its axes (a trial-params key → its number, list or distribution as data: the rule's
    hyperparameters, then ``schedule.<parameter>``, then ``clip.<kind>``) and where its settings
    start among the sweep's.

    Its settings are the product of its lists × its samples (the zip of its distributions'
    ``drawn`` values, ``n_samples`` of them; 1 without distributions), numbered in mixed radix
    over the lists' lengths and then the samples, the first list the most significant digit and
    the sample index the least."""

    index: int
    name: str
    chain: Chain
    axes: dict[str, Axis]
    offset: int

    @property
    def n_samples(self) -> int:
        """How many samples its distributions hold (1 without distributions)."""
        return _samples_of(self.axes)

    @property
    def n_settings(self) -> int:
        """How many settings: the product of its lists' lengths × its samples."""
        return _settings_of(self.axes)

    def setting(self, index: int) -> dict[str, float]:
        """Its setting ``index`` (0-based within the entry): the index in mixed radix over the
        lists' lengths and then the samples, the first key the most significant digit and the
        sample the least."""
        index, sample = divmod(index, self.n_samples)
        point: dict[str, float] = {}
        for key, value in reversed(self.axes.items()):
            if isinstance(value, Mapping):
                point[key] = value["drawn"][sample]
                continue
            values = value if isinstance(value, list) else [value]
            index, digit = divmod(index, len(values))
            point[key] = values[digit]
        return {key: point[key] for key in self.axes}

    def settings(self) -> list[dict[str, float]]:
        """Every setting, in order: the product of the lists, the first key slowest, × the
        samples, the fastest."""
        keys = list(self.axes)
        drawn = {key: value["drawn"] for key, value in self.axes.items()
                 if isinstance(value, Mapping)}
        if not drawn:
            return [dict(zip(keys, combo, strict=True))
                    for combo in itertools.product(*map(_as_list, self.axes.values()))]
        listed = [key for key in keys if key not in drawn]
        lists = [_as_list(self.axes[key]) for key in listed]
        out = []
        for combo in itertools.product(*lists):
            fixed = dict(zip(listed, combo, strict=True))
            for sample in range(self.n_samples):
                point = {**fixed, **{key: values[sample] for key, values in drawn.items()}}
                out.append({key: point[key] for key in keys})
        return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _n_drawn(value: Any, samples: int | None = None) -> int | None:
    """How many values a distribution (as data or a model) holds: its ``drawn``, or when not yet
    drawn ``samples``; None for a number or a list."""
    if isinstance(value, Mapping):
        drawn = value.get("drawn")
    elif isinstance(value, (Distribution, IntDistribution)):
        drawn = value.drawn
    else:
        return None
    return len(drawn) if drawn is not None else samples if samples is not None else 1


def _samples_of(axes: Mapping[str, Any], samples: int | None = None) -> int:
    """How many samples an entry's axes hold: its distributions' ``drawn`` length (all the same),
    ``samples`` for distributions not yet drawn, 1 without distributions."""
    counts = [n for value in axes.values() if (n := _n_drawn(value, samples)) is not None]
    return counts[0] if counts else 1


def _settings_of(axes: Mapping[str, Any], samples: int | None = None) -> int:
    """How many settings an entry's axes give: the product of its lists' lengths × its samples."""
    return math.prod(len(v) for v in axes.values() if isinstance(v, list)) * _samples_of(
        axes, samples)


def entry_axes(entry: Mapping[str, Any]) -> dict[str, Axis]:
    """An entry's axes from its data (a normalised spec's single form, or one of its
    ``optimizers``): the grid, then ``schedule.<parameter>``, then ``clip.<kind>``; each a
    number, a list or a distribution (a dict with its ``drawn`` values)."""
    axes: dict[str, Axis] = dict(entry["grid"])
    schedule = entry.get("schedule")
    if schedule:
        axes.update({SCHEDULE_PREFIX + key: value for key, value in schedule.items()
                     if key != "name"})
    clip = entry.get("clip")
    if clip:
        axes.update({CLIP_PREFIX + key: value for key, value in clip.items()
                     if value is not None})
    return axes


def spec_entries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A normalised spec's entries as data: its ``optimizers``, or the single form itself."""
    entries = data.get("optimizers")
    return list(entries) if entries else [data]


def setting_keys(data: Mapping[str, Any]) -> list[str]:
    """Every key a trial's params may hold, over all the spec's entries, in order of first
    appearance (results.csv's columns)."""
    return list(dict.fromkeys(key for entry in spec_entries(data) for key in entry_axes(entry)))


def optimizer_names(data: Mapping[str, Any]) -> list[str]:
    """The names of the spec's optimizers, in entry order, each once."""
    return list(dict.fromkeys(entry["optimizer"]["name"] for entry in spec_entries(data)))


def settings_count(data: Mapping[str, Any]) -> int:
    """How many settings a normalised spec has: over its entries, the product of each one's
    lists (the grid's, the schedule's, the clip's) × its samples (an entry with distributions
    holds their ``drawn`` values, the spec's ``samples`` of them)."""
    return sum(_settings_of(entry_axes(e), data.get("samples")) for e in spec_entries(data))


def spec_swept_keys(data: Mapping[str, Any]) -> list[str]:
    """The keys some entry of the spec sweeps (``swept_keys`` of each entry's axes)."""
    return list(dict.fromkeys(key for entry in spec_entries(data)
                              for key in swept_keys(entry_axes(entry), data.get("samples"))))


def is_none(value: Any) -> bool:
    return value is None


def _lowest(value: Any) -> Any:
    """The least a value of a schedule parameter may be: a list's least, a distribution's min."""
    if isinstance(value, (Distribution, IntDistribution)):
        return value.min
    return min(value) if isinstance(value, list) else value


def _highest(value: Any) -> Any:
    """The most a value of a schedule parameter may be: a list's most, a distribution's max."""
    if isinstance(value, (Distribution, IntDistribution)):
        return value.max
    return max(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class _Form:
    """One entry of a spec as validated models: where it is (``()`` for the single form,
    ``("optimizers", i)``) and its grid, schedule and clip."""

    loc: tuple[int | str, ...]
    grid: Mapping[str, Value]
    schedule: ScheduleBase | None
    clip: ClipSpec | None

    def with_values(self, values: Mapping[str, Value]) -> _Form:
        """This form with some axes (keyed as ``_form_axes`` keys them) replaced."""
        grid = {key: values.get(key, value) for key, value in self.grid.items()}
        schedule, clip = self.schedule, self.clip
        if schedule is not None:
            schedule = schedule.model_copy(update={
                key.removeprefix(SCHEDULE_PREFIX): value for key, value in values.items()
                if key.startswith(SCHEDULE_PREFIX)})
        if clip is not None and CLIP_PREFIX + clip.kind in values:
            clip = clip.model_copy(update={clip.kind: values[CLIP_PREFIX + clip.kind]})
        return _Form(self.loc, grid, schedule, clip)


def _form_axes(form: _Form) -> dict[str, Value]:
    """A form's axes as models, keyed and ordered as ``entry_axes`` keys its data."""
    axes = dict(form.grid)
    if form.schedule is not None:
        axes.update({SCHEDULE_PREFIX + key: value for key, value in form.schedule.values().items()
                     if value is not None})
    if form.clip is not None:
        axes[CLIP_PREFIX + form.clip.kind] = form.clip.limit
    return axes


def _axis_loc(loc: tuple[int | str, ...], key: str) -> tuple[int | str, ...]:
    """Where axis ``key`` of the entry at ``loc`` is in the spec: ``grid.lr``,
    ``schedule.step_size``, ``clip.global_norm`` below it."""
    for prefix in (SCHEDULE_PREFIX, CLIP_PREFIX):
        if key.startswith(prefix):
            return (*loc, prefix.rstrip("."), key.removeprefix(prefix))
    return (*loc, "grid", key)


class SweepSpec(BaseModel):
    """A sweep: one objective, and one optimizer with its grid (``optimizer`` + ``grid``, and
    optionally ``schedule`` and ``clip``) or several (``optimizers``), and seeds.

    An entry's settings are the Cartesian product of its lists — the grid's (in the rule's
    hyperparameter order, the first one varying slowest), then the schedule's, then the
    clip's — and the sweep's settings are its entries' one after the other. An entry with
    distributions (random or Sobol search, ``optimizers.search``) crosses that product with its
    ``samples`` draws, the sample varying fastest. Trials are the settings × the seeds, seeds
    outermost: trial ``i`` runs setting ``i % n_settings`` with seed number ``i // n_settings``.
    """

    model_config = STRICT

    name: str = Field("", max_length=200, description="a label; absent, '<optimizer> on "
                      "<objective>'")
    # json_schema_input_type: the JSON schema (and so the OpenAPI document) shows that a bare
    # name is accepted too, as README's own example writes it
    # a live PythonObjective (``run_sweep(spec, objective=obj)``) takes its own branch: JSON or
    # a dict never reaches it, and it is not in the JSON schema, so the service never runs code
    objective: Annotated[
        Annotated[Annotated[ObjectiveSpec, BeforeValidator(
            _objective_to_object, json_schema_input_type=str | ObjectiveSpec)], Tag("spec")]
        | SkipJsonSchema[Annotated[InstanceOf[PythonObjective], Tag("python")]],
        Discriminator(lambda v: "python" if isinstance(v, PythonObjective) else "spec"),
    ] = Field(description=f"a name ({', '.join(OBJECTIVES)}) or an object with name, dim and "
              "the objective's own parameters")
    optimizer: OptimizerField | None = Field(
        None, description=f"a name ({', '.join(RULE_NAMES)}) or an object with name and "
        "eps_placement (with grid; or give optimizers)")
    init: InitSpec | None = Field(
        None, description="D numbers, or a seeded random start {distribution, scale, center}; "
        "absent, the objective's customary start")
    grid: GridField | None = Field(
        None, description="each key a hyperparameter of the optimizer: a list is swept, a "
        "number fixed, a distribution sampled (with samples); the ones left out take their "
        "defaults")
    schedule: ScheduleSpec | None = Field(
        None, description="a learning-rate schedule: {name, parameters} (each parameter a "
        "number, a list to sweep or a distribution to sample); absent, a constant lr")
    clip: ClipSpec | None = Field(None, description="gradient clipping: {global_norm: M} or "
                                  "{value: c} (a number, a list or a distribution)")
    optimizers: Annotated[list[EntrySpec], _FailFast()] | None = Field(
        None, max_length=MAX_ENTRIES, description="instead of optimizer and grid: several "
        "optimizers compared in one sweep, each {optimizer, grid, schedule?, clip?} (the "
        "sweep's schedule and clip apply to entries without their own); the trials are the "
        "union of each entry's grid × the seeds, numbered entry by entry")
    # random and Sobol search (``optimizers.search``): None unless a grid value is a
    # distribution, and then left out of the normalised spec, which stays as it was without them
    samples: int | None = Field(
        None, ge=1, le=MAX_INT, exclude_if=is_none, description="with a distribution in the "
        "grid (or a schedule or clip value), how many configurations to draw; each entry with "
        "distributions draws its own, crossed with its lists")
    search_seed: int | None = Field(
        None, ge=0, le=MAX_SEED, exclude_if=is_none, description="the seed of the draws "
        "(default 0 when something is sampled): same spec, same search seed, same "
        "configurations")
    sampler: Sampler | None = Field(
        None, exclude_if=is_none, description="random (default when something is sampled): "
        "independent uniform draws; sobol: a scrambled Sobol' sequence (scipy.stats.qmc), "
        "which covers the space more evenly (best with samples a power of 2)")
    # steps and record_every: at most max_steps (``_steps_limit``), which is at most MAX_INT
    steps: int = Field(100, ge=1, description="updates per trial")
    seeds: Seeds = Field(1, validate_default=True, description="a count n (seeds 0..n−1, kept "
                         "as the count) or a list of seeds")
    record_every: int = Field(1, ge=1, description="the curve holds the loss every "
                              "this many steps, at step 0 and at the last step (at most "
                              "max_steps)")
    metric: Metric = Field("final_loss", description="the score of a trial: the loss metrics "
                           "(final_loss, min_loss, mean_loss) on every objective, and with a "
                           "model's validation final_val_loss and min_val_loss (lower is "
                           "better) and, for classes, final_val_accuracy and max_val_accuracy "
                           "(higher is better)")
    divergence_threshold: float = Field(
        1e12, gt=0, description="a trial whose loss is non-finite or above this is diverged")
    pruning: PruningSpec | None = Field(
        None, description="early stopping: {kind: successive_halving | hyperband, min_steps, "
        "reduction}; at each rung the best 1/reduction of the grid points go on and the "
        "others' trials end pruned; absent, every trial runs to the last step")

    @model_validator(mode="before")
    @classmethod
    def _few_extras(cls, value: Any) -> Any:
        _few_extra_keys(value, cls.model_fields, "the spec")
        if isinstance(value, Mapping) and value.get("optimizers") is None:
            # the single form: optimizer and grid are required, and their errors say so
            value = {**value, **{key: _REQUIRED for key in ("optimizer", "grid")
                                 if value.get(key) is None}}
        return value

    @field_validator("steps", "record_every")
    @classmethod
    def _steps_limit(cls, steps: int, info: ValidationInfo) -> int:
        limit = _limits(info).max_steps
        if steps > limit:
            raise _error("limit", "{field} = {steps} is over the limit max_steps = {limit}",
                         field=info.field_name, steps=steps, limit=limit)
        return steps

    @field_validator("objective")
    @classmethod
    def _dim_limit(cls, objective: Objective, info: ValidationInfo) -> Objective:
        limit = _limits(info).max_dim
        if objective.dim > limit:
            raise _error("limit", "dim = {dim} is over the limit max_dim = {limit}",
                         dim=objective.dim, limit=limit)
        return objective

    @field_validator("init")
    @classmethod
    def _init_fits(cls, init: list[float] | RandomInit | None,
                   info: ValidationInfo) -> list[float] | RandomInit | None:
        objective = info.data.get("objective")
        if objective is None:
            return init
        points = init if isinstance(init, list) else init.center if init else None
        if points is not None and len(points) != objective.dim:
            raise _error("init_length", "init has {got} numbers but the objective has dim = {dim}",
                         got=len(points), dim=objective.dim)
        # a random init without a center stays so (``start_point`` takes the objective's start):
        # filled in, a 100-byte spec with dim = 10**6 would be stored as 10**6 numbers
        return init

    @field_validator("grid", mode="wrap")
    @classmethod
    def _checked_grid(cls, grid: Any, handler: ValidatorFunctionWrapHandler,
                      info: ValidationInfo) -> dict[str, Value] | None:
        return None if grid is None else cast("dict[str, Value]",
                                               _checked_grid(grid, handler, info))

    @field_validator("seeds")
    @classmethod
    def _seeds_fit(cls, seeds: int | list[int], info: ValidationInfo) -> int | list[int]:
        """A count stays a count (``seed_list`` is 0..n−1): the normalised spec is as small as
        the posted one, and the count is the complete record of which seeds ran."""
        if isinstance(seeds, int):
            if seeds < 1:
                raise _error("seeds", "seeds = {n}: give a count >= 1 or a list of seeds", n=seeds)
            limit = _limits(info).max_trials
            if seeds > limit:
                raise _error("limit", "seeds = {n} is over the limit max_trials = {limit}",
                             n=seeds, limit=limit)
            if seeds > MAX_SEED + 1:  # the seeds 0..n−1 must be seeds
                raise _error("seeds", "seeds = {n}: at most {max} seeds", n=seeds,
                             max=MAX_SEED + 1)
            return seeds
        if not seeds:
            raise _error("seeds", "seeds: the list is empty; give at least one seed")
        if len(set(seeds)) != len(seeds):
            raise _error("seeds", "seeds: the list repeats a seed")
        if any(not 0 <= s <= MAX_SEED for s in seeds):
            raise _error("seeds", "seeds must lie in 0..{max}", max=MAX_SEED)
        return seeds

    @model_validator(mode="after")
    def _size_limits(self, info: ValidationInfo) -> SweepSpec:
        self._one_form()
        limits = _limits(info)
        self._sample(limits)
        n = self.n_trials
        if n > limits.max_trials:
            raise _error("limit", "grid × seeds gives {n} trials, over the limit max_trials = "
                         "{limit}", n=n, limit=limits.max_trials)
        allowed = self.objective.metrics()
        if self.metric not in allowed:
            raise _error("metric", "metric {metric} does not apply to this objective (it needs a "
                         "model with validation{classes}); valid choices: {choices}",
                         metric=self.metric, choices=", ".join(allowed),
                         classes=" and classes" if "accuracy" in self.metric else "")
        work = self.objective.work(n, self.steps, self.curve_length)
        if work > limits.max_work:
            raise _error("limit", "{what} = {work} is over the limit max_work = {limit}",
                         what=self.objective.work_text, work=f"{work:.3g}",
                         limit=f"{limits.max_work:.3g}")
        points = self.curve_points
        if points > limits.max_curve_points:
            raise _error("limit", "trials × recorded steps = {n} × {m} = {points} curve points is "
                         "over the limit max_curve_points = {limit}; raise record_every (at "
                         "least {every} fits) or sweep fewer trials",
                         n=n, m=self.curve_length, points=points, limit=limits.max_curve_points,
                         every=_record_every_that_fits(n, self.steps, limits.max_curve_points))
        if not self.name:
            names = " vs ".join(optimizer_names({"optimizer": self.optimizer and {
                "name": self.optimizer.name}, "optimizers": self.optimizers and [
                {"optimizer": {"name": e.optimizer.name}} for e in self.optimizers]}))
            object.__setattr__(self, "name", f"{names} on {self.objective.name}")
        return self

    @field_validator("pruning")
    @classmethod
    def _pruning_fits(cls, pruning: PruningSpec | None,
                      info: ValidationInfo) -> PruningSpec | None:
        """The first rung lies before the last step, on a recorded step."""
        steps, every = info.data.get("steps"), info.data.get("record_every")
        if pruning is None or steps is None or every is None:
            return pruning
        if pruning.min_steps >= steps:
            raise _error("pruning", "pruning.min_steps = {r} must be less than steps = {steps}: "
                         "the first rung comes before the end", r=pruning.min_steps,
                         steps=steps)
        if pruning.min_steps % every:
            raise _error("pruning", "pruning.min_steps = {r} must be a multiple of record_every "
                         "= {every}: every rung is a recorded step", r=pruning.min_steps,
                         every=every)
        return pruning

    @cached_property
    def plan(self) -> Plan | None:
        """The stages of a pruned sweep (``optimizers.pruning``); None without pruning."""
        if self.pruning is None:
            return None
        return plan_of(self.pruning, self.steps, self.n_settings)

    def _one_form(self) -> None:
        """optimizer + grid, or optimizers; the schedules' step-count defaults filled in and
        checked against the steps."""
        if self.optimizers is None:
            if self.optimizer is None or self.grid is None:
                raise _error("missing", "give optimizer and grid (or optimizers, a list of "
                             "{optimizer, grid})")
            object.__setattr__(self, "schedule", self._filled(self.schedule, "schedule"))
            return
        if self.optimizer is not None or self.grid is not None:
            raise _error("optimizers", "give optimizers or optimizer and grid, not both")
        if not self.optimizers:
            raise _error("optimizers", "optimizers: the list is empty; give at least one entry")
        entries = []
        for i, entry in enumerate(self.optimizers):
            schedule = entry.schedule if entry.schedule is not None else self.schedule
            entries.append(entry.model_copy(update={
                "schedule": self._filled(schedule, f"optimizers.{i}.schedule"),
                "clip": entry.clip if entry.clip is not None else self.clip}))
        object.__setattr__(self, "optimizers", entries)
        object.__setattr__(self, "schedule", self._filled(self.schedule, "schedule"))

    def _filled(self, schedule: ScheduleBase | None, where: str) -> ScheduleBase | None:
        """``schedule`` with its step-count defaults (t_max, total_steps) set to ``steps``,
        checked where its parameters must agree with each other and with the steps."""
        if schedule is None:
            return None
        values: dict[str, Any] = {p.name: (self.steps if p.default == "steps" else p.default)
                  if getattr(schedule, p.name) is None else getattr(schedule, p.name)
                  for p in schedule.declaration.parameters}
        low: dict[str, Any] = {k: _lowest(v) for k, v in values.items()}
        high: dict[str, Any] = {k: _highest(v) for k, v in values.items()}
        if schedule.name == "one_cycle":
            if low["total_steps"] < self.steps:
                raise _error("schedule", "{where}.total_steps = {n} is less than steps = "
                             "{steps}: the cycle must last the whole run", where=where,
                             n=low["total_steps"], steps=self.steps)
            if low["pct_start"] * low["total_steps"] <= 1:
                raise _error("schedule", "{where}: pct_start × total_steps must be above 1 (the "
                             "rise lasts at least one update)", where=where)
        if schedule.name == "warmup_cosine" and high["warmup_steps"] >= low["t_max"]:
            raise _error("schedule", "{where}: warmup_steps = {w} must be less than t_max = {t}",
                         where=where, w=high["warmup_steps"], t=low["t_max"])
        return schedule.model_copy(update=values)

    def _forms(self) -> list[_Form]:
        """Each entry's place in the spec and its grid, schedule and clip (the single form's:
        the spec's own)."""
        if self.optimizers is None:
            assert self.grid is not None
            return [_Form((), self.grid, self.schedule, self.clip)]
        return [_Form(("optimizers", i), e.grid, e.schedule, e.clip)
                for i, e in enumerate(self.optimizers)]

    def _sample(self, limits: Limits) -> None:
        """Draw each entry's distributions (``search.draw``: ``samples`` values each, from the
        search seed and the entry's index), once the trials they make are known to fit
        max_trials; a posted ``drawn`` must be what they draw. Without distributions, samples,
        search_seed and sampler stay None (and given, are refused)."""
        forms = self._forms()
        if self.optimizers is not None:  # the sweep's schedule and clip, which entries copy
            for key, value in _form_axes(_Form((), {}, self.schedule, self.clip)).items():
                if isinstance(value, (Distribution, IntDistribution)) and value.drawn is not None:
                    loc = _axis_loc((), key)
                    raise _error_at(loc + ("drawn",), "drawn", "each entry that takes the "
                                    "sweep's {field} draws its own: give drawn in the entry's "
                                    "{field}, not here", field=loc[0])
        sampled = [{key: value for key, value in _form_axes(form).items()
                    if isinstance(value, (Distribution, IntDistribution))} for form in forms]
        if not any(sampled):
            for field in ("samples", "search_seed", "sampler"):
                if getattr(self, field) is not None:
                    raise _error_at((field,), "search", "no grid value is a distribution, so "
                                    "there is nothing to sample: give one (e.g. {\"distribution"
                                    "\": \"uniform\", \"min\": 0.8, \"max\": 0.99}) or "
                                    "leave {field} out", field=field)
            return
        if self.samples is None:
            where = next(_axis_loc(form.loc, key) for form, found in zip(forms, sampled,
                                                                         strict=True)
                         for key in found)
            raise _error_at(("samples",), "missing", "give samples, how many configurations "
                            "to draw: {where} is a distribution", where=error_field(where))
        samples = self.samples
        seed = 0 if self.search_seed is None else self.search_seed
        sampler: Sampler = self.sampler or "random"
        object.__setattr__(self, "search_seed", seed)
        object.__setattr__(self, "sampler", sampler)
        n = self.n_seeds * sum(
            math.prod(len(v) for v in _form_axes(form).values() if isinstance(v, list))
            * (samples if found else 1) for form, found in zip(forms, sampled, strict=True))
        if n > limits.max_trials:  # before drawing: samples may be as large as MAX_INT
            raise _error("limit", "grid × samples × seeds gives {n} trials, over the limit "
                         "max_trials = {limit}", n=n, limit=limits.max_trials)
        drawn_forms = []
        for i, (form, found) in enumerate(zip(forms, sampled, strict=True)):
            columns = draw(list(found.values()), samples, seed, i, sampler)
            update: dict[str, AnyDistribution] = {}
            for (key, dist), column in zip(found.items(), columns, strict=True):
                if dist.drawn is not None and list(dist.drawn) != column:
                    raise _error_at(_axis_loc(form.loc, key) + ("drawn",), "drawn", "drawn does "
                                    "not match what search_seed = {seed} draws ({sampler}, "
                                    "samples = {n}); leave it out and it is drawn afresh",
                                    seed=seed, sampler=sampler, n=samples)
                update[key] = dist.model_copy(update={"drawn": column})
            drawn_forms.append(form.with_values(update))
        if self.optimizers is None:
            (form,) = drawn_forms
            for field in ("grid", "schedule", "clip"):
                object.__setattr__(self, field, getattr(form, field))
        else:
            object.__setattr__(self, "optimizers", [entry.model_copy(update={
                "grid": form.grid, "schedule": form.schedule, "clip": form.clip})
                for entry, form in zip(self.optimizers, drawn_forms, strict=True)])

    # -- derived quantities -----------------------------------------------------------------

    @cached_property
    def entries(self) -> tuple[Entry, ...]:
        """The sweep's optimizers as the engine runs them (one for the single form), each with
        its chain, axes and the index of its first setting."""
        if self.optimizers is None:
            assert self.optimizer is not None
            optimizers = [self.optimizer]
        else:
            optimizers = [e.optimizer for e in self.optimizers]
        entries, offset = [], 0
        for i, (optimizer, form) in enumerate(zip(optimizers, self._forms(), strict=True)):
            grid, schedule, clip = form.grid, form.schedule, form.clip
            axes = entry_axes({"grid": {key: value.model_dump() if isinstance(value, BaseModel)
                                        else value for key, value in grid.items()},
                               "schedule": schedule.model_dump() if schedule else None,
                               "clip": clip.model_dump() if clip else None})
            chain = Chain(optimizer.rule, SCHEDULES[schedule.name] if schedule else None,
                          clip.kind if clip else None)
            entry = Entry(i, optimizer.name, chain, axes, offset)
            entries.append(entry)
            offset += entry.n_settings
        return tuple(entries)

    @property
    def rule(self) -> Rule:
        """The update rule of the sweep's first (for the single form, only) optimizer."""
        return self.entries[0].chain.rule

    @property
    def compares(self) -> bool:
        """Whether the sweep compares several optimizers (the ``optimizers`` form)."""
        return self.optimizers is not None

    @property
    def seed_list(self) -> list[int]:
        """The seeds, as a list: 0..n−1 for a count n, else the list given."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else self.seeds

    @property
    def n_seeds(self) -> int:
        """How many seeds (without building the list of a count)."""
        return self.seeds if isinstance(self.seeds, int) else len(self.seeds)

    def settings(self) -> list[dict[str, float]]:
        """The settings (grid points), in order: entry by entry, each the product of its
        lists, the first key slowest (a new list of the spec's own dicts, built once per spec:
        treat them as read-only)."""
        return list(self._grid_points)

    @cached_property
    def _grid_points(self) -> tuple[dict[str, float], ...]:
        return tuple(point for entry in self.entries for point in entry.settings())

    @cached_property
    def _setting_entry(self) -> tuple[int, ...]:
        """Setting index → its entry's index."""
        return tuple(entry.index for entry in self.entries for _ in range(entry.n_settings))

    def entry_of(self, setting: int) -> Entry:
        """The entry that setting ``setting`` belongs to."""
        return self.entries[bisect.bisect_right(self._offsets, setting) - 1]

    @cached_property
    def _offsets(self) -> list[int]:
        return [entry.offset for entry in self.entries]

    @property
    def swept(self) -> list[str]:
        """The keys the sweep's entries sweep (lists of two or more values), in order."""
        return list(dict.fromkeys(key for entry in self.entries
                                  for key in swept_keys(entry.axes)))

    @property
    def setting_keys(self) -> list[str]:
        """Every key a trial's params may hold, in order of first appearance."""
        return list(dict.fromkeys(key for entry in self.entries for key in entry.axes))

    def setting(self, index: int) -> dict[str, float]:
        """Setting ``index`` alone (``settings()[index]`` without building the others)."""
        if not 0 <= index < self.n_settings:
            raise IndexError(f"grid point {index} is not in 0..{self.n_settings - 1}")
        entry = self.entry_of(index)
        return entry.setting(index - entry.offset)

    @property
    def n_settings(self) -> int:
        """How many settings (grid points), over every entry."""
        return sum(entry.n_settings for entry in self.entries)

    def data(self) -> SpecData:
        """The normalised spec as JSON data (``model_dump(mode="json")``, typed)."""
        return cast(SpecData, self.model_dump(mode="json"))

    @property
    def n_trials(self) -> int:
        """How many trials: grid points × seeds."""
        return self.n_settings * self.n_seeds

    @property
    def curve_length(self) -> int:
        """Recorded steps per trial: 0, r, 2r, … and the last step (``runner.recorded_steps``)."""
        return curve_length(self.steps, self.record_every)

    @property
    def curve_points(self) -> int:
        """The sweep's recorded output: trials × recorded steps."""
        return self.n_trials * self.curve_length

    def trials(self, start: int = 0, stop: int | None = None) -> list[Trial]:
        """Trials ``start`` ≤ index < ``stop``: seeds outermost, then the grid points."""
        settings = self._grid_points
        n = len(settings)
        stop = self.n_trials if stop is None else min(stop, self.n_trials)
        seeds = self.seeds
        if len(self.entries) == 1:  # every trial of entry 0, the Trial's default
            return [Trial(i, i % n, settings[i % n],
                          i // n if isinstance(seeds, int) else seeds[i // n])
                    for i in range(start, stop)]
        of = self._setting_entry
        return [Trial(i, i % n, settings[i % n],
                      i // n if isinstance(seeds, int) else seeds[i // n], of[i % n])
                for i in range(start, stop)]

    def start_point(self, seed: int) -> Array:
        """θ₀ for a trial with ``seed``, (D,)."""
        if self.init is None:
            return self.objective.start(seed)
        if isinstance(self.init, list):
            return np.array(self.init, dtype=np.float64)
        center = (self.objective.start(seed) if self.init.center is None
                  else np.array(self.init.center, dtype=np.float64))
        return self.init.sample(seed, center)


def swept_keys(grid: Mapping[str, Any], samples: int | None = None) -> list[str]:
    """The hyperparameters a grid sweeps — those whose value is a list of two or more, or a
    distribution drawn two or more times (its ``drawn`` values; ``samples`` of them where not
    yet drawn) — in grid order (of a ``SweepSpec.grid``, of an entry's axes or of a results
    document's ``spec["grid"]``). The one place this is decided: importance, the CLI's table and
    the plot all ask here."""
    return [key for key, value in grid.items()
            if (len(value) if isinstance(value, list) else _n_drawn(value, samples) or 1) >= 2]


def shown_keys(grid: Mapping[str, Any], samples: int | None = None) -> list[str]:
    """The hyperparameters a sweep's settings are told apart by, for a table or a plot: the
    swept ones (``swept_keys``), or every grid key when the grid is a single point."""
    return swept_keys(grid, samples) or list(grid)


def shown_setting_keys(data: Mapping[str, Any]) -> list[str]:
    """The keys a normalised spec's settings are told apart by, for a table or a plot: the
    swept ones (``spec_swept_keys``), or every key when nothing is swept."""
    return spec_swept_keys(data) or setting_keys(data)


def curve_length(steps: int, record_every: int) -> int:
    """How many steps a curve records: 0, r, 2r, … ≤ steps, and ``steps`` if not among them."""
    return steps // record_every + 1 + (steps % record_every != 0)


def _record_every_that_fits(trials: int, steps: int, max_points: int) -> int | str:
    """The smallest record_every whose curves stay within ``max_points``, or "none"."""
    per_trial = max_points // trials
    if per_trial < 2:  # every curve holds steps 0 and the last one
        return "none"
    every = -(-steps // (per_trial - 1))
    while curve_length(steps, every) > per_trial:
        every += 1
    return every


def _limits(info: ValidationInfo) -> Limits:
    """The limits passed as validation context; none at all when validated without context.

    ``parse_spec`` always passes limits. Validating the model directly (as a web framework does
    for a request body) checks structure only; the caller then applies its limits with
    ``parse_spec``.
    """
    limits = (info.context or {}).get("limits")
    return limits if isinstance(limits, Limits) else UNLIMITED


def parse_spec(data: SweepSpec | Mapping[str, Any] | str | bytes,
               limits: Limits | None = None, datasets: DatasetSource | None = None) -> SweepSpec:
    """Validate and normalise a spec given as a model, a dict or JSON text; ``datasets`` is
    where a model objective's uploaded (``{"id"}``) or local (``{"path"}``) dataset comes from
    (built-in ones need none).

    Raises:
      pydantic.ValidationError: the spec is invalid; ``describe_errors`` words it.
    """
    context: dict[str, Any] = {"limits": limits or Limits(), "datasets": datasets}
    if isinstance(data, SweepSpec):  # checked again against these limits; the objective is kept
        data = {**data.model_dump(exclude={"objective"}), "objective": data.objective}
    if isinstance(data, (str, bytes)):
        return SweepSpec.model_validate_json(data, context=context)
    return SweepSpec.model_validate(data, context=context)


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per error: the field's dotted path, then pydantic's or our message."""
    return [f"{error_field(err['loc']) or 'spec'}: {err['msg']}"
            for err in exc.errors(include_url=False)]


def error_field(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A pydantic error location as a dotted field path, without the unions' branch tags
    (``("grid", "lr", "scalar")`` → ``grid.lr``)."""
    return ".".join(str(p) for i, p in enumerate(loc) if not _is_union_tag(p) and not (
        p in SCHEDULES and i and loc[i - 1] == "schedule"))  # a schedule's own tag


def _is_union_tag(part: Any) -> bool:
    return part in ("list", "scalar", "sampled", "random", "spec", "python") or (
        isinstance(part, str) and part in OBJECTIVES)


__all__ = [
    "HIGHER_IS_BETTER", "METRICS", "UNLIMITED", "InitSpec", "Limits", "Metric", "OptimizerData", "OptimizerSpec",
    "RandomInit", "RandomInitData", "SpecData", "SweepSpec", "Trial", "describe_errors",
    "error_field", "higher_is_better", "optimizer_names", "parse_spec", "rank_key",
    "setting_keys", "settings_count", "shown_keys", "shown_setting_keys", "spec_entries", "spec_swept_keys",
    "swept_keys",
]
