"""The catalogue: every optimizer and objective, with parameters, defaults, ranges and formulas.

Read from the rules' and objectives' own declarations, so the CLI, the API and the docs can never
disagree with what the engine validates.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from .datasets import BUILTIN_SHAPES
from .models import Model
from .objectives import OBJECTIVES
from .rules import RULE_NAMES, RULES_WITH_EPS, default_placement, make_rule
from .schedules import SCHEDULES
from .spec import higher_is_better


def optimizer_catalogue() -> list[dict[str, Any]]:
    """One entry per rule: name, summary, formula (at the rule's default eps placement),
    hyperparameters, how its weight decay applies, and options."""
    entries = []
    for name in RULE_NAMES:
        rule = make_rule(name)
        entry: dict[str, Any] = {
            "name": name,
            "summary": rule.summary,
            "formula": rule.formula,
            "reference": rule.reference,
            "hyperparameters": [
                {"name": h.name, "default": h.default, "range": h.range_text,
                 "low": h.low, "high": None if math.isinf(h.high) else h.high,
                 "description": h.description}
                for h in rule.hyperparameters
            ],
            "weight_decay": rule.weight_decay,
            "default_eps_placement": default_placement(name) if name in RULES_WITH_EPS else None,
            "options": {},
        }
        if name in RULES_WITH_EPS:
            entry["options"]["eps_placement"] = {
                "default": default_placement(name), "choices": ["inside", "outside"],
                "formula_inside": make_rule(name, "inside").formula,
                "formula_outside": make_rule(name, "outside").formula,
            }
        entries.append(entry)
    return entries


def schedule_catalogue() -> list[dict[str, Any]]:
    """One entry per learning-rate schedule: name, formula, its torch equivalent and its
    parameters (default None: required; "steps": the sweep's step count)."""
    return [{"name": s.name, "formula": s.formula, "torch": s.torch,
             "parameters": [{"name": p.name, "default": p.default, "integer": p.integer,
                             "range": p.range_text, "low": p.low,
                             "high": None if math.isinf(p.high) else p.high,
                             "description": p.description} for p in s.parameters]}
            for s in SCHEDULES.values()]


def dataset_catalogue() -> list[dict[str, Any]]:
    """The built-in datasets: name, rows, features, classes (0 for a real target) and task."""
    return [{"name": name, "rows": rows, "features": features, "classes": classes, "task": task}
            for name, (rows, features, classes, task) in BUILTIN_SHAPES.items()]


def objective_catalogue() -> list[dict[str, Any]]:
    """One entry per objective: name, formula, summary, dimensions, parameters, the metrics a
    sweep of it can rank by (each with its direction) and, for a model, the built-in datasets
    it takes (``dim`` is then derived, not given)."""
    entries = []
    for name, cls in OBJECTIVES.items():
        example = cls.example()
        parameters = []
        for field_name, field in cls.model_fields.items():
            if field_name == "name":
                continue
            if field_name == "dim" and issubclass(cls, Model):
                continue  # derived from the dataset and the layers
            bounds = {type(m).__name__.lower(): getattr(m, type(m).__name__.lower())
                      for m in field.metadata if type(m).__name__ in ("Gt", "Ge", "Lt", "Le")}
            default = None if field.is_required() else field.get_default(call_default_factory=True)
            parameters.append({"name": field_name,
                               "default": list(default) if isinstance(default, tuple) else default,
                               "required": field.is_required(),
                               "description": field.description, **bounds})
        entry: dict[str, Any] = {
            "name": name,
            "summary": (inspect.getdoc(cls) or "").splitlines()[0],
            "formula": cls.formula,
            "min_dim": cls.min_dim,
            "max_dim": cls.max_dim,
            "parameters": parameters,
            "start": example.start().tolist(),
            "minimum": example.minimum(),
            "metrics": [{"name": m, "goal": "max" if higher_is_better(m) else "min"}
                        for m in _metrics(cls)],
        }
        if issubclass(cls, Model):
            entry["datasets"] = [d for d in dataset_catalogue() if d["task"] in cls.tasks and (
                name != "logistic_regression" or d["classes"] == 2)]
        entries.append(entry)
    return entries


def _metrics(cls: type[Any]) -> tuple[str, ...]:
    """Every metric some spec of ``cls`` can rank by: a model's with validation and classes."""
    if not issubclass(cls, Model):
        return tuple(cls.example().metrics())
    probe = {"dataset": "breast_cancer" if "classification" in cls.tasks else "diabetes",
             "validation": 0.2}
    return cls.model_validate(probe).metrics()


__all__ = ["dataset_catalogue", "objective_catalogue", "optimizer_catalogue",
           "schedule_catalogue"]
