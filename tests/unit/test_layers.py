"""Which layer imports which (README: "Where things live"): the core imports no entry
point, orchestration or dev machinery; the activities no workflow; the HTTP API no
workflow or activity code; `hybrid-scheduler --help` nothing but argparse.

Each check imports into a fresh interpreter and reads what it loaded.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import scheduler

OUTER = {"api", "workflows", "activities", "cli", "devstack", "worker"}


def loaded(*modules: str) -> set[str]:
    """The modules a fresh interpreter holds after importing `modules`."""
    code = "".join(f"import {m}\n" for m in ("sys", *modules))
    code += "print('\\n'.join(sys.modules))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.split())


def packages(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_the_core_imports_no_outer_layer() -> None:
    core = [m.name for m in pkgutil.walk_packages(scheduler.__path__, "scheduler.")]
    assert "scheduler.service" in core and "scheduler.cold.jobs" in core
    assert packages(loaded(*core)) & OUTER == set()


def test_activities_import_no_workflow() -> None:
    assert "workflows" not in packages(loaded("activities.cold", "activities.heartbeat"))


def test_the_http_api_loads_no_workflow_or_activity_code() -> None:
    modules = loaded("api.main", "api.server")
    assert "activities" not in packages(modules)
    workflows = {m for m in modules if m.startswith("workflows.")}
    assert workflows <= {"workflows.client", "workflows.models"}


def test_the_command_line_parser_loads_no_service() -> None:
    modules = loaded("cli.main")
    heavy = {"scheduler.service", "scheduler.settings", "temporalio", "redis", "chdb"}
    assert heavy & (modules | packages(modules)) == set()
    assert "devstack" not in packages(modules)
