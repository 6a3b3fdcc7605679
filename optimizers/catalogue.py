"""The catalogue: every optimizer and objective, with parameters, defaults, ranges and formulas.

Read from the rules' and objectives' own declarations, so the CLI, the API and the docs can never
disagree with what the engine validates.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from .objectives import OBJECTIVES
from .rules import RULE_NAMES, RULES_WITH_EPS, make_rule


def optimizer_catalogue() -> list[dict[str, Any]]:
    """One entry per rule: name, summary, formula(s), hyperparameters and options."""
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
            "options": {},
        }
        if name in RULES_WITH_EPS:
            entry["options"]["eps_placement"] = {
                "default": "inside", "choices": ["inside", "outside"],
                "formula_outside": make_rule(name, "outside").formula,
            }
        entries.append(entry)
    return entries


def objective_catalogue() -> list[dict[str, Any]]:
    """One entry per objective: name, formula, summary, dimensions and parameters."""
    entries = []
    for name, cls in OBJECTIVES.items():
        example = cls.example()
        parameters = []
        for field_name, field in cls.model_fields.items():
            if field_name == "name":
                continue
            bounds = {type(m).__name__.lower(): getattr(m, type(m).__name__.lower())
                      for m in field.metadata if type(m).__name__ in ("Gt", "Ge", "Lt", "Le")}
            parameters.append({"name": field_name,
                               "default": None if field.is_required() else field.default,
                               "required": field.is_required(),
                               "description": field.description, **bounds})
        entries.append({
            "name": name,
            "summary": (inspect.getdoc(cls) or "").splitlines()[0],
            "formula": cls.formula,
            "min_dim": cls.min_dim,
            "max_dim": cls.max_dim,
            "parameters": parameters,
            "start": example.start().tolist(),
            "minimum": example.minimum(),
        })
    return entries


__all__ = ["objective_catalogue", "optimizer_catalogue"]
