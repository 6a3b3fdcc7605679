"""README.md stays true: its commands name real files and its formulas are the engine's own."""

from __future__ import annotations

import re
from pathlib import Path

from optimizers import optimizer_catalogue
from optimizers.catalogue import schedule_catalogue

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_quick_start_runs_an_example_that_exists() -> None:
    run = re.search(r"gradsweep run (\S+\.json)", README)
    assert run is not None
    assert (ROOT / run.group(1)).is_file()


def test_ci_runs_the_readme_test_command() -> None:
    block = re.search(r"<!-- test-command -->\n```sh\n(.+?)\n```\n<!-- /test-command -->",
                      README, re.DOTALL)
    assert block is not None and "pytest" in block.group(1)
    assert "test-command" in (ROOT / ".ci" / "run").read_text()


def test_formula_table_matches_the_catalogue() -> None:
    section = README.split("## The optimizers")[1].split("\n## ")[0]
    rules = section.split("**Learning-rate schedules.**")[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+?) \|$", rules, re.MULTILINE))
    catalogue = {entry["name"]: entry["formula"] for entry in optimizer_catalogue()}
    assert rows == catalogue


def test_schedule_table_matches_the_catalogue() -> None:
    section = README.split("**Learning-rate schedules.**")[1].split("**Clipping.**")[0]
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (.+?) \| (.+?) \|$", section, re.MULTILINE)
    assert rows == [(s["name"], s["formula"], s["torch"]) for s in schedule_catalogue()]


def test_every_setting_is_documented() -> None:
    from service.settings import ClientSettings, ServiceSettings

    for name in (*ServiceSettings.model_fields, *ClientSettings.model_fields):
        assert f"`GRADSWEEP_{name.upper()}`" in README, name
