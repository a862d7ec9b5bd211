"""`hybrid-scheduler dev` and the processes beside it, as a developer runs them.

One real `python -m cli dev` (its own state directory, every port a free one set through
the SCHEDULES_DEV_* settings): it starts Redis, the broker and Temporal, owns the
embedded ClickHouse and serves ClickHouse's HTTP interface over it, prints the
environment of other processes and writes it to .dev/env. With that environment (as
`set -a; . .dev/env; set +a` gives it), the README's examples (examples/*.py) run as
their own processes, their events fire, and their statuses read back through dev's
HTTP API; an extra `serve` role and the operator's `sql` join in; SIGTERM stops it all.
"""

from __future__ import annotations

import ast
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
from dev_stack import Dev, base_env

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
START_TIMEOUT = 60.0


def run(
    dev: Dev, *argv: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = dev.shell_env() if env is None else env
    done = subprocess.run(argv, cwd=dev.dir, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done


def test_dev_prints_and_writes_the_environment_of_other_processes(dev: Dev) -> None:
    ports = dev.ports
    assert dev.env == {
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['kafka']}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "KAFKA_IDEMPOTENT_PRODUCER": "false",  # the embedded broker has no idempotence
        "CLICKHOUSE_URL": f"http://127.0.0.1:{ports['clickhouse']}/default",
        "SCHEDULES_METRICS_PORT": "0",  # dev's own port stays dev's
        "SCHEDULES_API_URL": f"http://127.0.0.1:{ports['api']}",
    }
    output = dev.output()
    for name, value in dev.env.items():
        assert f"  {name}={value}\n" in output  # the start-up banner
    assert f"set -a; . {dev.env_file}; set +a" in output
    # What a shell gets from the file, exactly as the README says to load it.
    shell = subprocess.run(
        ["bash", "-c", f"set -a; . {shlex.quote(str(dev.env_file))}; set +a; env"],
        env=base_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
    assert {name: loaded[name] for name in dev.env} == dev.env
    # It is ClickHouse's HTTP interface, on the data dev migrated.
    tables = httpx.post(dev.env["CLICKHOUSE_URL"].rsplit("/", 1)[0], content="SHOW TABLES")
    assert "event_schedules_log" in tables.text.split()


def test_the_python_api_example_runs_beside_dev(dev: Dev) -> None:
    done = run(dev, sys.executable, str(EXAMPLES / "python_api.py"))
    out = done.stdout
    cancelled = re.search(r"^cancelled (\S+) pending$", out, re.M)
    later = re.search(r"^scheduled (\S+) pending cold$", out, re.M)  # in ClickHouse, via dev
    fired = re.search(r"^fired (\S+) executed$", out, re.M)
    assert cancelled and later and fired, out
    assert re.search(r"^bulk 100 accepted, 1 rejected$", out, re.M), out
    assert re.search(r"^refused 100 delay_seconds delay_seconds: .*0$", out, re.M), out
    nexts = re.findall(r"^next (daily-report@\d+@\d+)$", out, re.M)
    assert len(nexts) == 3, out
    # Another process (dev's API) reads what this one did.
    assert dev.wait_status(cancelled[1], "cancelled")["status"] == "cancelled"
    assert dev.wait_status(fired[1], "executed")["attempts"] == 1
    assert dev.wait_status(later[1], "cancelled")["tier"] == "cold"


def test_the_publish_with_delay_example_runs_beside_dev(dev: Dev) -> None:
    done = run(dev, sys.executable, str(EXAMPLES / "publish_with_delay.py"))
    published = dict(
        (m[2], m[1]) for m in re.finditer(r"^published (\S+) due in (.+)$", done.stdout, re.M)
    )
    assert set(published) == {"30 minutes", "a second"}, done.stdout
    # dev's consumer stores them; its executor fires the near one.
    assert dev.wait_status(published["a second"], "executed")["topic"] == "user.notifications"
    later = dev.wait_status(published["30 minutes"], "scheduled")
    assert (later["tier"], later["hot_state"], later["correlation_id"]) == (
        "hot", "pending", "reminder-123"
    )  # fmt: skip
    run(dev, sys.executable, "-m", "cli", "cancel", published["30 minutes"])


def test_more_roles_and_the_operator_commands_run_beside_dev(dev: Dev) -> None:
    env = dev.shell_env()  # exactly what .dev/env gives: no port to choose for these roles
    serve = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--role", "executor", "--role", "consumer"],
        cwd=dev.dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(START_TIMEOUT, serve.kill)  # no start-up line: fail, not hang
    watchdog.start()
    lines: list[str] = []
    try:
        assert serve.stdout is not None
        for line in serve.stdout:
            lines.append(line)
            if "hybrid-scheduler started" in line or "Error" in line:
                break
        assert lines and "hybrid-scheduler started" in lines[-1], "".join(lines)
        # The operator's read-only SQL: through CLICKHOUSE_URL (dev's endpoint), and without
        # it, where `sql` finds dev's endpoint on SCHEDULES_CLICKHOUSE_SHIM_PORT.
        cli_sql = (
            sys.executable,
            "-m",
            "cli",
            "sql",
            "SELECT count() > 0 AS f FROM event_schedules",
        )
        assert run(dev, *cli_sql).stdout.split() == ["f", "1"]
        embedded = {k: v for k, v in dev.shell_env().items() if k != "CLICKHOUSE_URL"}
        embedded["SCHEDULES_CLICKHOUSE_SHIM_PORT"] = str(dev.ports["clickhouse"])
        embedded["SCHEDULES_CLICKHOUSE_PATH"] = str(dev.dir / ".dev" / "clickhouse")
        assert run(dev, *cli_sql, env=embedded).stdout.split() == ["f", "1"]
        refused = subprocess.run(
            [*cli_sql[:-1], "INSERT INTO event_schedules_log SELECT * FROM event_schedules_log"],
            env=dev.shell_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0 and "read-only" in refused.stderr
    finally:
        watchdog.cancel()
        serve.send_signal(signal.SIGTERM)
        rest, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, "".join(lines) + rest
    assert "hybrid-scheduler stopped" in rest


def test_a_process_that_opens_dev_s_engine_itself_is_told_the_way_in(dev: Dev) -> None:
    env = {k: v for k, v in dev.shell_env().items() if k != "CLICKHOUSE_URL"}
    env["SCHEDULES_CLICKHOUSE_PATH"] = str(dev.dir / ".dev" / "clickhouse")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "python_api.py")],
        cwd=dev.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "cannot open the embedded ClickHouse" in done.stderr, done.stderr
    assert "CLICKHOUSE_URL it prints: set -a; . .dev/env; set +a" in done.stderr


# --- the README's Python is the examples' --------------------------------------------------


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def is_excerpt(block: str, source: str) -> bool:
    """`block` is a run of whole lines of `source`, give or take their common indent."""
    want = block.rstrip("\n").split("\n")
    lines = source.split("\n")
    return any(
        textwrap.dedent("\n".join(lines[i : i + len(want)])) == "\n".join(want)
        for i in range(len(lines) - len(want) + 1)
    )


def test_every_python_snippet_of_the_readme_is_an_excerpt_of_an_example_run_here() -> None:
    tested = {"python_api.py", "publish_with_delay.py"}  # the tests above run these
    sources = {p.name: p.read_text() for p in EXAMPLES.glob("*.py")}
    assert set(sources) == tested
    blocks = readme_python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        found = [name for name, source in sources.items() if is_excerpt(block, source)]
        assert found, f"README snippet is no excerpt of examples/*.py:\n{block}"
    for source in sources.values():
        ast.parse(source)
