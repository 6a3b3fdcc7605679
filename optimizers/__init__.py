"""gradsweep's engine: batched NumPy optimizers, objectives, the sweep spec and the runner.

Pure NumPy and pydantic: no I/O, no web, no Celery. ``run_sweep(spec)`` runs a whole sweep
in-process and returns the results document (a ``ResultsDocument``); ``run_chunk`` runs one
slice of its trials (``TrialRecord``s) and ``assemble`` merges the records of any chunks into
the same document. Both are plain data, typed by the TypedDicts of ``optimizers.records``.
"""

from .catalogue import dataset_catalogue, objective_catalogue, optimizer_catalogue
from .objectives import OBJECTIVES, Objective, ObjectiveSpec
from .records import ResultsDocument, ScoreSummary, TrialRecord
from .results import SweepResults, SweepStatus, TrialResult, assemble
from .rules import RULE_NAMES, Hyperparameter, Rule, make_rule
from .runner import SweepCancelled, chunk_bounds, run_chunk, run_sweep
from .spec import Limits, SweepSpec, describe_errors, parse_spec
from .stepper import Stepper

__all__ = [
    "OBJECTIVES", "RULE_NAMES", "Hyperparameter", "Limits", "Objective", "ObjectiveSpec",
    "ResultsDocument", "Rule", "ScoreSummary", "Stepper", "SweepCancelled", "SweepResults",
    "SweepSpec", "SweepStatus", "TrialRecord", "TrialResult",
    "assemble", "chunk_bounds", "dataset_catalogue", "describe_errors", "make_rule", "objective_catalogue",
    "optimizer_catalogue", "parse_spec", "run_chunk", "run_sweep",
]
