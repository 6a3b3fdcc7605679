"""The ``gradsweep`` command line.

``gradsweep run SPEC.json -o results.json`` runs a sweep on this machine (a local process pool,
no server) with a progress bar, writes the results document and prints the best settings.
``gradsweep submit SPEC.json --url URL [--wait] [-o results.json]`` sends a sweep to an API
(``service.client``), prints its id and, with ``--wait``, follows it with a progress bar and
prints the best setting. ``gradsweep optimizers`` and ``gradsweep objectives`` print the
catalogue. ``gradsweep serve`` starts the API and ``gradsweep worker`` a Celery worker (cluster
mode).

Exit codes: 0 success, 1 the sweep was cancelled (or did not succeed; for submit also: the API
failed or could not be reached), 2 a bad spec (the API's 4xx) or an unreadable file.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from optimizers import (
    SweepStatus,
    dataset_catalogue,
    describe_errors,
    objective_catalogue,
    optimizer_catalogue,
    parse_spec,
)
from optimizers.catalogue import schedule_catalogue
from optimizers.records import ResultsDocument, SettingRecord
from optimizers.spec import (
    higher_is_better,
    optimizer_names,
    rank_key,
    settings_count,
    shown_setting_keys,
)
from workers.datasets import FileDatasets
from workers.local import run_local
from workers.settings import get_settings

if TYPE_CHECKING:
    from service.client import Client

app = typer.Typer(help="Hyperparameter sweeps for gradient-descent optimizers.",
                  no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)
#: Spec problems ``gradsweep run`` lists, one a line: as many as the API's 422 lists
#: (``service.errors.MAX_DETAILS``), then a count of the others.
MAX_PROBLEMS = 20


def _fail(*messages: str) -> typer.Exit:
    """Print each message as an error line (its text as is: rich markup in it, like the
    ``[plot]`` of ``gradsweep[plot]``, is not interpreted) and end with exit status 2."""
    for message in messages:
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _problems(what: str, lines: list[str], total: int) -> list[str]:
    """``what: line`` for every problem, and a last line for those not listed (an API's 422
    lists at most 20 of ``total``)."""
    shown = [f"{what}: {line}" for line in lines]
    if total > len(lines):
        shown.append(f"{what}: and {total - len(lines):,} more")
    return shown


@app.command()
def run(
    spec_file: Annotated[str, typer.Argument(metavar="SPEC.json", help="the sweep spec; - reads "
                                             "standard input")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the results "
                                                "document here (JSON)")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1, help="worker processes "
                                             "(default: one per core)")] = None,
    chunk_size: Annotated[int | None, typer.Option(min=1, help="trials per chunk "
                                                   "(default: about a second of work)")] = None,
    top: Annotated[int, typer.Option(min=0, help="how many settings the summary shows")] = 5,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Run a sweep on this machine and print its best settings."""
    try:
        raw = sys.stdin.buffer.read() if spec_file == "-" else Path(spec_file).read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {spec_file}: {exc.strerror or exc}") from None
    settings = get_settings()
    # a dataset {"path": …} is read relative to the spec file (the working directory for -)
    files = FileDatasets(Path.cwd() if spec_file == "-" else Path(spec_file).resolve().parent)
    try:
        spec = parse_spec(raw, settings.limits(), files)
    except ValidationError as exc:  # every problem, a line each
        raise _fail(*_problems("invalid spec", describe_errors(exc)[:MAX_PROBLEMS],
                               exc.error_count())) from None

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("trials"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err, disable=quiet, transient=False) as bar:
        task = bar.add_task(spec.name, total=spec.n_trials)
        started = time.perf_counter()
        results = run_local(spec, jobs=jobs or settings.jobs, limits=settings.limits(),
                            chunk_size=chunk_size,
                            progress=lambda done, total: bar.update(task, completed=done))
        seconds = time.perf_counter() - started
    if output is not None:
        output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
        err.print(f"results written to {output}", highlight=False)
    _print_summary(results, top)
    done = results["progress"]["done"]
    out.print(f"ran {done:,} trials in {seconds:.3g} s ({done / max(seconds, 1e-9):,.0f} "
              "trials/s)", highlight=False)
    if results["status"] != "succeeded":
        raise typer.Exit(1)


def _print_summary(results: ResultsDocument, top: int) -> None:
    spec = results["spec"]
    shown = shown_setting_keys(spec)
    compares = len(optimizer_names(spec)) > 1
    trials = results.get("trials", [])  # none inline: a sweep over the inline limit
    optimizer_of = {t["index"]: t["optimizer"] for t in trials} if compares else {}
    metric = spec["metric"]
    pruned_at = {t["index"]: t.get("pruned_at") or 0 for t in trials if t["status"] == "pruned"}

    def rung(setting: SettingRecord) -> int:  # where early stopping ended it (0: it did not)
        return max((pruned_at.get(i, 0) for i in setting["trials"]), default=0)

    # the scored first, then the pruned by how far they got, then the diverged
    ranked = sorted(results.get("settings", results.get("top_settings", [])), key=lambda s: (
        s["score"] is None, rank_key(s["score"] or 0.0, metric), -rung(s), s["index"]))
    seeds = spec["seeds"] if isinstance(spec["seeds"], int) else len(spec["seeds"])  # n or a list
    goal = "higher" if higher_is_better(metric) else "lower"
    out.print(f"[bold]{spec['name']}[/]: best {min(top, len(ranked))} of "
              f"{settings_count(spec)} settings "
              f"by {metric} ({goal} is better), mean ± std over {seeds} seed(s)",
              highlight=False)
    table = Table()
    if compares:
        table.add_column("optimizer")
    for key in shown:
        table.add_column(key, justify="right")
    table.add_column(spec["metric"], justify="right")
    table.add_column("± std", justify="right")
    for setting in ranked[:top]:
        score, std = setting["score"], setting["score_std"]
        name = [optimizer_of.get(setting["trials"][0], "")] if compares else []
        unscored = f"pruned at {rung(setting)}" if rung(setting) else "diverged"
        table.add_row(*name, *(_cell(setting["params"].get(k)) for k in shown),
                      unscored if score is None else f"{score:.6g}",
                      "" if std is None else f"{std:.2g}")
    out.print(table)
    if compares:
        _print_by_optimizer(results)
    counts: dict[str, int] = dict(results["summary"].get("statuses", {}))
    for trial in trials:
        counts[trial["status"]] = counts.get(trial["status"], 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    out.print(f"{results['status']}: {results['progress']['done']}/{results['progress']['total']}"
              f" trials ({tally})", highlight=False)
    cost = pruning_cost(spec.get("pruning"), results["summary"].get("trial_steps", 0),
                        results["summary"].get("full_trial_steps", 0))
    if cost:
        out.print(cost, highlight=False)


def pruning_cost(pruning: Mapping[str, Any] | None, trial_steps: int, full: int) -> str | None:
    """What early stopping saved, in a line: the trial-steps run against the full sweep's."""
    if not pruning or not full:
        return None
    return (f"early stopping ({pruning['kind'].replace('_', ' ')}, η = {pruning['reduction']}): "
            f"{trial_steps:,} of {full:,} trial-steps run ({trial_steps / full:.1%})")


def _cell(value: float | None) -> str:
    """A number of a settings table; blank where a setting has no such key."""
    return "" if value is None else f"{value:.6g}"


def _print_by_optimizer(results: ResultsDocument) -> None:
    """Each optimizer's best setting, best first."""
    metric = results["spec"]["metric"]
    by = results["summary"].get("by_optimizer", {})
    table = Table(title="best of each optimizer")
    for column in ("optimizer", "best setting", metric, "± std", "settings"):
        table.add_column(column, justify="left" if column in ("optimizer", "best setting")
                         else "right")
    for name, entry in sorted(by.items(), key=lambda item: (
            item[1]["best"] is None,
            rank_key(item[1]["best"]["score"], metric) if item[1]["best"] else 0.0)):
        best = entry["best"]
        if best is None:
            table.add_row(name, "no setting has a score", "", "", str(entry["settings"]))
            continue
        params = " ".join(f"{k}={v:.4g}" for k, v in best["params"].items())
        table.add_row(name, params, f"{best['score']:.6g}", f"{best['score_std']:.2g}",
                      str(entry["settings"]))
    out.print(table)


@app.command()
def submit(
    spec_file: Annotated[str, typer.Argument(metavar="SPEC.json", help="the sweep spec; - reads "
                                             "standard input")],
    url: Annotated[str | None, typer.Option(help="the API's base URL, e.g. "
                                            "http://127.0.0.1:8000 (default: GRADSWEEP_URL)")
                   ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the sweep with a progress "
                                       "bar, then print the best setting")] = False,
    api_key: Annotated[str | None, typer.Option(help="sent as 'Authorization: Bearer KEY' "
                                                "(default: GRADSWEEP_API_KEY)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the results "
                                                "here (implies --wait): FILE.ndjson every "
                                                "trial, one JSON object a line, streamed "
                                                "(any size); another name the results "
                                                "document (JSON; a sweep over the API's inline "
                                                "limit: its summary)")] = None,
) -> None:
    """Submit a sweep to a gradsweep API; print its id (and, with --wait, its best setting)."""
    try:
        raw = sys.stdin.buffer.read() if spec_file == "-" else Path(spec_file).read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {spec_file}: {exc.strerror or exc}") from None
    with _api(url, api_key, "invalid spec") as client:
        view, location = client.create(raw)
        out.print(view.id, highlight=False)
        err.print(f"submitted: {location}", highlight=False, soft_wrap=True)
        if not (wait or output is not None):
            return
        view = client.wait(view.id, progress=True)
        document = client.results(view.id)
        if output is not None and output.suffix == ".ndjson":
            try:
                with output.open("wb") as file:
                    written = client.download_trials(view.id, file)
            except OSError as exc:
                raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
            err.print(f"{written} trials written to {output}", highlight=False)
    if output is not None and output.suffix != ".ndjson":
        output.write_bytes(orjson.dumps(document.model_dump(mode="json", exclude_unset=True),
                                        option=orjson.OPT_INDENT_2) + b"\n")
        err.print(f"results written to {output}", highlight=False)
        if document.trials is None:
            err.print(f"the document holds the summary of its {document.progress.total} "
                      f"trials; -o FILE.ndjson writes every trial", highlight=False)
    status, best, progress = document.status.value, document.best, document.progress
    if best is None:
        out.print(f"{status}: no setting has a score", highlight=False)
    else:
        params = " ".join(f"{k}={v!r}" for k, v in best.params.items())
        out.print(f"best: {params} score={best.score!r} ± {best.score_std!r}",
                  highlight=False, soft_wrap=True)
    by = document.summary.by_optimizer
    if len(by) > 1:  # a sweep that compares optimizers: each one's best
        for name, entry in by.items():
            shown = "no setting has a score" if entry.best is None else " ".join(
                f"{k}={v!r}" for k, v in entry.best.params.items()) + (
                f" score={entry.best.score!r}")
            out.print(f"  {name}: {shown}", highlight=False, soft_wrap=True)
    out.print(f"{status}: {progress.done}/{progress.total} trials", highlight=False)
    pruning = document.spec.pruning
    cost = pruning_cost(pruning.model_dump() if pruning else None,
                        document.summary.trial_steps, document.summary.full_trial_steps)
    if cost:
        out.print(cost, highlight=False)
    if document.status != SweepStatus.SUCCEEDED:
        raise typer.Exit(1)


@app.command()
def upload(
    data_file: Annotated[Path, typer.Argument(metavar="DATA", help="a CSV file (give --target) "
                                              "or an .npz archive with arrays X and y")],
    target: Annotated[str | None, typer.Option(help="the CSV column to predict")] = None,
    task: Annotated[str | None, typer.Option(help="classification or regression (default: "
                                             "classification when the target holds integers "
                                             "only)")] = None,
    url: Annotated[str | None, typer.Option(help="the API's base URL (default: GRADSWEEP_URL)")
                   ] = None,
    api_key: Annotated[str | None, typer.Option(help="sent as 'Authorization: Bearer KEY' "
                                                "(default: GRADSWEEP_API_KEY)")] = None,
) -> None:
    """Upload a dataset to a gradsweep API; print its id (name it in a spec as
    "dataset": {"id": ID})."""
    try:
        body = data_file.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {data_file}: {exc.strerror or exc}") from None
    with _api(url, api_key, "invalid dataset") as client:
        view = client.upload_dataset(body, target=target, task=task)
    out.print(view.id, highlight=False)
    classes = f", {view.classes} classes" if view.classes else ""
    err.print(f"{view.rows} rows × {view.features} features, {view.task}{classes}",
              highlight=False)


@contextlib.contextmanager
def _api(url: str | None, api_key: str | None, invalid: str) -> Iterator[Client]:
    """A client of the API at ``url`` (or GRADSWEEP_URL); its errors end the command with one
    line per problem (``invalid`` and each problem of a 422, the status otherwise), and exit
    1 for a 5xx or an unreachable API."""
    import httpx

    from service.client import Client, ClientError
    from service.settings import ClientSettings

    client_settings = ClientSettings()
    url = url or client_settings.url
    if not url:
        raise _fail("give the API's URL with --url or GRADSWEEP_URL")
    if api_key is None and client_settings.api_key is not None:
        api_key = client_settings.api_key.get_secret_value()
    try:
        with Client(url, api_key=api_key) as client:
            yield client
    except ClientError as exc:
        if exc.status >= 500:
            err.print(f"[bold red]error:[/] the API answered {exc.status}: {exc.message}",
                      highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        what = invalid if exc.status == 422 else f"{exc.status} {exc.code}"
        if not exc.details:
            raise _fail(f"{what}: {exc.message}") from None
        raise _fail(*_problems(what, [f"{d.field}: {d.message}" for d in exc.details],
                               exc.problems)) from None
    except httpx.HTTPError as exc:
        err.print(f"[bold red]error:[/] cannot reach {url}: {exc}", highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def plot(
    results_file: Annotated[Path, typer.Argument(metavar="RESULTS.json",
                                                 help="a results document (gradsweep run -o, "
                                                 "or GET /v1/sweeps/{id}/results)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the picture (.png, .svg, "
                                         ".pdf)")] = Path("curves.png"),
    color_by: Annotated[str | None, typer.Option(help="the hyperparameter that colours the "
                                                 "curves (default: the first swept)")] = None,
    linear: Annotated[bool, typer.Option("--linear", help="linear loss axis")] = False,
) -> None:
    """Draw every trial's loss curve, as the dashboard does (needs matplotlib)."""
    try:
        document = orjson.loads(results_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise _fail(f"cannot read {results_file}: {exc}") from None
    try:
        from service.plot import plot_curves

        figure = plot_curves(document, color_by=color_by, log=not linear)
    except ImportError:
        raise _fail("gradsweep plot needs matplotlib: pip install 'gradsweep[plot]'") from None
    except (KeyError, TypeError) as exc:
        raise _fail(f"{results_file} is not a results document ({exc})") from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    figure.savefig(output)
    err.print(f"{len(document['trials'])} curves drawn to {output}", highlight=False)


@app.command()
def optimizers(
    as_json: Annotated[bool, typer.Option("--json", help="print the catalogue as JSON")] = False,
) -> None:
    """List the optimizers: formulas, hyperparameters, defaults and valid ranges."""
    entries = optimizer_catalogue()
    if as_json:
        return _print_json(entries)
    table = Table(title="optimizers", show_lines=True)
    for column in ("name", "update", "hyperparameters (default; range)"):
        table.add_column(column)
    for entry in entries:
        hps = "\n".join(f"{h['name']} ({'required' if h['default'] is None else h['default']}; "
                        f"{h['range']})" for h in entry["hyperparameters"])
        table.add_row(entry["name"], entry["formula"], hps)
    out.print(table)
    placements = ", ".join(f"{e['name']} ({e['default_eps_placement']})" for e in entries
                           if e["default_eps_placement"])
    out.print(f'eps_placement: "inside" or "outside" the square root, for {placements} (the '
              'default in brackets): {"optimizer": {"name": "adam", "eps_placement": '
              '"outside"}}', highlight=False)
    _print_schedules()


def _print_schedules() -> None:
    table = Table(title="learning-rate schedules (\"schedule\": {\"name\": …, …})",
                  show_lines=True)
    for column in ("name", "lr at update t", "parameters (default; range)", "torch"):
        table.add_column(column)
    for entry in schedule_catalogue():
        params = "\n".join(f"{p['name']} ({'required' if p['default'] is None else p['default']}"
                           f"; {p['range']})" for p in entry["parameters"])
        table.add_row(entry["name"], entry["formula"], params, entry["torch"])
    out.print(table)


@app.command()
def schedules(
    as_json: Annotated[bool, typer.Option("--json", help="print the catalogue as JSON")] = False,
) -> None:
    """List the learning-rate schedules: formulas, parameters and their torch equivalents."""
    if as_json:
        return _print_json(schedule_catalogue())
    _print_schedules()


@app.command()
def objectives(
    as_json: Annotated[bool, typer.Option("--json", help="print the catalogue as JSON")] = False,
) -> None:
    """List the objectives: formulas, dimensions, parameters and start points."""
    entries = objective_catalogue()
    if as_json:
        return _print_json(entries)
    table = Table(title="objectives", show_lines=True)
    for column in ("name", "f(x)", "dim", "parameters (default)"):
        table.add_column(column)
    for entry in entries:
        dims = ("from the dataset" if "datasets" in entry
                else f"{entry['min_dim']}" if entry["min_dim"] == entry["max_dim"]
                else f"≥ {entry['min_dim']}" if entry["max_dim"] is None
                else f"{entry['min_dim']}..{entry['max_dim']}")
        params = "\n".join(f"{p['name']} ({'required' if p['required'] else _number(p['default'])})"
                           for p in entry["parameters"] if p["name"] != "dim")
        table.add_row(entry["name"], entry["formula"], dims, params)
    out.print(table)
    datasets = Table(title="built-in datasets (for the models' dataset)")
    for column in ("name", "rows", "features", "classes", "task"):
        datasets.add_column(column, justify="left" if column in ("name", "task") else "right")
    for d in dataset_catalogue():
        datasets.add_row(d["name"], str(d["rows"]), str(d["features"]),
                         str(d["classes"] or "—"), d["task"])
    out.print(datasets)


def _print_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: "
                                             "GRADSWEEP_HOST, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: GRADSWEEP_PORT, 8000)")] = None,
) -> None:
    """Start the API: cluster mode if GRADSWEEP_REDIS_URL is set, else embedded."""
    import uvicorn

    from service.app import create_app
    from service.guards import ConnectionGuard
    from service.settings import get_settings as service_settings

    settings = service_settings()
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = settings.model_copy(update=updates)
    mode = f"cluster on {_redacted(settings.redis_url)}" if settings.redis_url else (
        f"embedded, data in {settings.data_dir}")
    err.print(f"gradsweep API on http://{settings.host}:{settings.port} ({mode})",
              highlight=False)
    # ConnectionGuard: uvicorn's HTTP/1.1 protocol bounded by limit_concurrency and
    # timeout_keep_alive, also for connections that never finish a request head, answering in
    # the API's error shape
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level, timeout_graceful_shutdown=10,
                http=ConnectionGuard, limit_concurrency=settings.max_connections,
                timeout_keep_alive=settings.keep_alive_seconds,
                backlog=settings.backlog)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(min=1, help="worker processes (default: "
                                                    "one per core)")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery's log level")] = "info",
) -> None:
    """Start a Celery worker that runs chunks of sweeps (needs GRADSWEEP_REDIS_URL)."""
    settings = get_settings()
    if settings.redis_url is None:
        raise _fail("gradsweep worker needs GRADSWEEP_REDIS_URL (for example "
                    "redis://127.0.0.1:6379/0)")
    from workers.tasks import app as celery_app

    argv = ["worker", "--queues", settings.queue, "--loglevel", loglevel,
            "--hostname", f"gradsweep-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
            "--pool", "prefork"]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    celery_app.worker_main(argv)


def _redacted(url: str | None) -> str:
    """The URL without its password, for logs."""
    if not url or "@" not in url:
        return url or ""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def main() -> None:
    """Entry point for ``python -m service.cli``."""
    app()


if __name__ == "__main__":
    main()
