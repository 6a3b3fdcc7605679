"""The container files (Dockerfile, docker-compose.yml) read and checked against the project.

Docker is not needed: both files are parsed and compared with pyproject.toml, the settings class
and the commands the integration tests run (service/testing/commands.py).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.settings import ServiceSettings
from service.testing import commands

ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "GRADSWEEP_"


# ---- helpers -----------------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str  # upper-cased: FROM, RUN, COPY...
    args: str  # the rest of the (joined) line


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def index(self, keyword: str) -> int:
        return next(n for n, i in enumerate(self.instructions) if i.keyword == keyword)


def parse_dockerfile(text: str) -> list[Stage]:
    """The Dockerfile's stages: comments dropped, backslash continuations joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # comments may sit inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"

    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"{instruction.keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    return stages


def exec_form(args: str) -> list[str]:
    """A JSON-array argument (ENTRYPOINT ["gradsweep"]); shell form is refused."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def env_of(stage: Stage) -> dict[str, str]:
    """The stage's ENV settings (KEY=VALUE pairs, or the legacy ENV KEY VALUE)."""
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        words = shlex.split(instruction.args)
        if "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = value
    return env


def copy_sources(stage: Stage) -> list[str]:
    """The build-context paths a stage COPYs (not those copied --from another stage)."""
    sources: list[str] = []
    for instruction in stage.all("COPY"):
        words = shlex.split(instruction.args)
        if any(w.startswith("--from") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        if paths[0].startswith("["):
            paths = exec_form(instruction.args)
        sources += [p.rstrip("/") for p in paths[:-1]]
    return sources


@cache
def dockerfile() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def final_stage() -> Stage:
    return dockerfile()[-1]


def image_env() -> dict[str, str]:
    return env_of(final_stage())


def image_port() -> int:
    return int(image_env()["GRADSWEEP_PORT"])


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services[name]


def service_env(name: str) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of KEY=VALUE."""
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: str(value) for key, value in env.items()}


def as_list(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else list(value)


def effective_command(name: str) -> list[str]:
    """What a compose service runs: its entrypoint and command, or else the image's."""
    svc = service(name)
    stage = final_stage()
    entrypoint = svc.get("entrypoint", exec_form(stage.all("ENTRYPOINT")[-1].args))
    command = svc.get("command", exec_form(stage.all("CMD")[-1].args))
    return as_list(entrypoint) + as_list(command)


def healthz_ports(command: str) -> list[int]:
    return [int(port) for port in re.findall(r"https?://[^/:'\"\s]+:(\d+)/healthz\b", command)]


def container_port(mapping: str | int | dict[str, Any]) -> int:
    """The container side of a compose port ("8000:8000", "127.0.0.1:8000:8000/tcp", long form)."""
    if isinstance(mapping, dict):
        return int(mapping["target"])
    return int(str(mapping).split("/")[0].rsplit(":", 1)[-1])


def seconds(duration: str | int) -> float:
    """A compose duration ("30s", "1m30s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    assert parts, duration
    return sum(float(number) * units[unit] for number, unit in parts)


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())



# ---- Dockerfile --------------------------------------------------------------------------------

def test_every_base_image_is_python_311_slim() -> None:
    names = {stage.name for stage in dockerfile() if stage.name}
    external = [stage.base for stage in dockerfile() if stage.base not in names]
    assert external
    for base in external:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base), base


def test_the_image_runs_as_a_user_it_creates_not_root() -> None:
    stage = final_stage()
    users = stage.all("USER")
    assert users, "no USER in the final stage"
    user = users[-1].args.split(":")[0]
    assert user not in {"root", "0"}
    assert stage.instructions.index(users[-1]) < stage.index("ENTRYPOINT")
    created = " ".join(i.args for i in stage.all("RUN") if "useradd" in i.args or "adduser" in i.args)
    assert re.search(rf"(--uid|-u)\s+{user}\b" if user.isdigit() else rf"\b{user}\b", created)


def test_the_data_dir_belongs_to_that_user() -> None:
    data_dir = image_env()["GRADSWEEP_DATA_DIR"]
    runs = " ".join(i.args for i in final_stage().all("RUN"))
    assert re.search(rf"chown\s+(-R\s+)?\S+\s+{re.escape(data_dir)}\b", runs)


def test_healthcheck_and_expose_use_the_configured_port() -> None:
    stage = final_stage()
    (healthcheck,) = stage.all("HEALTHCHECK")
    assert healthz_ports(healthcheck.args) == [image_port()]
    assert [i.args for i in stage.all("EXPOSE")] == [str(image_port())]
    assert image_env()["GRADSWEEP_HOST"] == "0.0.0.0"


def test_entrypoint_is_the_console_script_and_serve_the_default() -> None:
    stage = final_stage()
    assert exec_form(stage.all("ENTRYPOINT")[-1].args) == ["gradsweep"]
    assert exec_form(stage.all("CMD")[-1].args) == ["serve"]


def test_the_image_copies_exactly_the_packages_pyproject_installs() -> None:
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*.") for pattern in include}
    copied = {source for stage in dockerfile() for source in copy_sources(stage)}
    copied_packages = {s for s in copied if (ROOT / s / "__init__.py").is_file()}
    assert copied_packages == packages
    assert {"pyproject.toml", "README.md", "examples"} <= copied


def test_dockerignore_keeps_what_the_image_copies() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for source in {s for stage in dockerfile() for s in copy_sources(stage)}:
        assert not [p for p in patterns if fnmatch(source, p.rstrip("/"))], source
    assert ".venv" in patterns and ".git" in patterns


def test_the_console_script_is_the_cli_app() -> None:
    assert pyproject()["project"]["scripts"]["gradsweep"] == "service.cli:app"


# ---- docker-compose.yml ------------------------------------------------------------------------

def test_compose_has_redis_api_and_worker() -> None:
    assert {"redis", "api", "worker"} <= set(compose()["services"])
    assert "version" not in compose()


def test_redis_is_durable_and_never_evicts() -> None:
    redis = service("redis")
    assert redis["image"].startswith("redis:7")
    command = " ".join(as_list(redis["command"]))
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    volumes = [str(v).split(":")[0] for v in redis["volumes"]]
    assert any(v in (compose().get("volumes") or {}) for v in volumes)
    assert "redis-cli" in " ".join(as_list(redis["healthcheck"]["test"]))


@pytest.mark.parametrize("name", ["api", "worker"])
def test_api_and_worker_are_built_from_this_dockerfile(name: str) -> None:
    build = service(name)["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (ROOT / context).resolve() == ROOT
    if isinstance(build, dict):
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"


@pytest.mark.parametrize(("name", "constant"), [("api", "SERVE"), ("worker", "WORKER")])
def test_containers_run_what_the_integration_tests_run(name: str, constant: str) -> None:
    assert effective_command(name) == getattr(commands, constant)


def test_api_publishes_and_probes_its_configured_port() -> None:
    api = service("api")
    port = int(service_env("api").get("GRADSWEEP_PORT", image_port()))
    assert [container_port(p) for p in api["ports"]] == [port]
    assert healthz_ports(" ".join(as_list(api["healthcheck"]["test"]))) == [port]
    assert service_env("api").get("GRADSWEEP_HOST", image_env()["GRADSWEEP_HOST"]) == "0.0.0.0"


def test_worker_can_be_scaled() -> None:
    worker = service("worker")
    assert "container_name" not in worker
    assert "ports" not in worker
    assert seconds(worker.get("stop_grace_period", "10s")) >= 30


@pytest.mark.parametrize("name", ["api", "worker"])
def test_api_and_worker_wait_for_a_healthy_redis(name: str) -> None:
    assert service(name)["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_redis_url_points_at_the_redis_service(name: str) -> None:
    url = urlsplit(service_env(name)["GRADSWEEP_REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname == "redis"
    assert url.port in (None, 6379)


def test_every_gradsweep_variable_is_a_setting() -> None:
    names = set(image_env()) | {key for svc in ("api", "worker") for key in service_env(svc)}
    used = {name for name in names if name.startswith(ENV_PREFIX)}
    assert {"GRADSWEEP_REDIS_URL", "GRADSWEEP_PORT", "GRADSWEEP_DATA_DIR"} <= used
    known = {ENV_PREFIX + field.upper() for field in ServiceSettings.model_fields}
    assert used - known == set()
