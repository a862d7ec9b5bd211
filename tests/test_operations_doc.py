"""docs/operations.md, the operator runbook, is what works: its shell commands run against
a real `hybrid-scheduler dev`, its SQL is the original runbook's (run verbatim by
tests/cold/test_runbook_*.py), and every alert's runbook_url leads to one of its headings.

The commands are run as written, with only what differs between a production host and
this test's `dev` put right: the API's port for `localhost:8000`, Redis's port for
`redis-cli`, the log file's path for /var/log/scheduler/scheduler.log; `hybrid-scheduler`
and `temporal` come from the virtualenv, with dev's environment (.dev/env) as a
developer's shell has it. `systemctl`/`journalctl` need a systemd host: those lines must
name the units that tests/deploy/test_systemd.py verifies.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from cold import runbook
from dev_stack import Dev

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operations.md"
SYSTEMD = ROOT / "deploy" / "systemd"

# The first words a documented command may start with, and where else it is tested.
KNOWN = {
    "curl": "the HTTP API (tests/api/test_serve.py: the runbook's curl/jq lines)",
    "hybrid-scheduler": "the CLI (tests/test_operator_cli.py, tests/cold/test_cli.py)",
    "redis-cli": "the hot tier's keys (tests/hot/test_store.py, tests/cold/test_cleanup.py)",
    "temporal": "the Temporal jobs (tests/orchestration/test_cli.py)",
    "grep": "the log file (tests/test_log_output.py, tests/cold/test_job_log_lines.py)",
    "tail": "the log file",
}
CLI_COMMANDS = {
    "stats", "status", "cancel", "pause", "resume", "sync", "cleanup", "tail", "maintenance", "sql",
    "dead-letters", "list", "recurring", "limits",
    "reschedule",
}  # fmt: skip
SYSTEMD_ONLY = {"systemctl", "journalctl"}  # run on a systemd host only; units verified
FOLLOW = ("tail -f", "redis-cli monitor")  # run until stopped: given a few seconds here
SCHEDULE_ID = "reminder-123"  # the id the doc's examples use


@dataclass
class Block:
    lang: str
    text: str
    heading: str

    @property
    def is_script(self) -> bool:
        return self.text.startswith("#!/bin/bash")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings() -> list[str]:
    return re.findall(r"^#{1,6} (.+)$", strip_code(DOC.read_text()), re.M)


def strip_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def blocks(lang: str | None = None) -> list[Block]:
    found, heading = [], ""
    lines = iter(DOC.read_text().splitlines())
    for line in lines:
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            body = []
            for inner in lines:
                if inner.startswith("```"):
                    break
                body.append(inner)
            found.append(Block(line[3:].strip(), "\n".join(body) + "\n", heading))
    return [b for b in found if lang is None or b.lang == lang]


def commands(block: Block) -> list[str]:
    """The command lines of a (non-script) block: continuation lines joined, comments and
    blank lines left out."""
    out: list[str] = []
    pending = ""
    for line in block.text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        out.append(pending + line)
        pending = ""
    return out


def first_words(command: str) -> list[str]:
    """The words of the first command of a pipeline or list."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = []
    for token in lexer:
        if token in {"|", "||", "&&", ";", "&"}:
            break
        words.append(token)
    return words


def doc_commands() -> list[tuple[Block, str]]:
    return [(b, c) for b in blocks("bash") if not b.is_script for c in commands(b)]


# --- the document itself -----------------------------------------------------------------------


def test_every_alert_runbook_url_leads_to_a_heading_of_the_doc() -> None:
    anchors = {slug(h) for h in headings()}
    urls = set()
    for rules in ("alerts.yml", "alerts.test.yml"):
        text = (ROOT / "deploy" / "prometheus" / rules).read_text()
        urls |= set(re.findall(r"runbook_url: (\S+)", text))
    for group in yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())[
        "groups"
    ]:
        for rule in group["rules"]:
            assert "runbook_url" in rule["annotations"], rule["alert"]
    assert urls
    for url in urls:
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md", url
        assert anchor in anchors, f"{url}: no heading of docs/operations.md has that anchor"
    wanted = {"queue-depth", "execution-delay", "sync-duration", "error-rate"}
    assert wanted | {"circuit-breaker", "journal"} <= anchors


def test_the_doc_s_own_links_resolve() -> None:
    anchors = {slug(h) for h in headings()}
    links = re.findall(r"\]\(#([^)]+)\)", re.sub(r"\s+", " ", strip_code(DOC.read_text())))
    assert links
    assert sorted(set(links) - anchors) == []


def test_every_shell_command_is_one_the_suite_runs() -> None:
    seen = set()
    for block, command in doc_commands():
        words = first_words(command)
        program = words[0]
        seen.add(program)
        assert program in KNOWN or program in SYSTEMD_ONLY, (block.heading, command)
        if program == "hybrid-scheduler":
            assert words[1] in CLI_COMMANDS, command
        if program in SYSTEMD_ONLY:
            # Every unit named exists in deploy/systemd (tests/deploy/test_systemd.py
            # verifies them); a glob must match one.
            units = [w for w in words[1:] if not w.startswith("-") and "scheduler" in w]
            assert units, command
            for unit in units:
                assert list(SYSTEMD.glob(unit.removesuffix(".service") + ".service")), unit
    assert {"curl", "hybrid-scheduler", "redis-cli", "temporal", "grep", "systemctl"} <= seen
    scripts = [b for b in blocks("bash") if b.is_script]
    assert {b.text.splitlines()[1] for b in scripts} == {
        "# daily_health_check.sh",
        "# daily_performance_report.sh",
        "# weekly_cleanup.sh",
    }


def statements(sql: str) -> list[str]:
    return [s.strip() for s in re.split(r";\s*\n", sql) if s.strip()]


def normalized(sql: str) -> str:
    return " ".join(sql.replace(";", " ").split())


def test_every_sql_block_is_the_runbook_s_sql_tested_verbatim() -> None:
    # tests/cold/runbook.py's statements run in test_runbook_sql.py and
    # test_runbook_product.py; the maintenance ones in test_runbook_sql.py's
    # test_maintenance_statements.
    tested = {normalized(v) for k, v in vars(runbook).items() if k.isupper()}
    tested |= {
        normalized(s)
        for s in (
            "CHECK TABLE event_schedules_log",
            "DETACH TABLE event_schedules",
            "ATTACH TABLE event_schedules",
        )
    }
    sql_blocks = blocks("sql")
    assert len(sql_blocks) >= 6
    for block in sql_blocks:
        for statement in statements(block.text):
            assert normalized(statement) in tested, (block.heading, statement)


# --- the commands, run ---------------------------------------------------------------------------


def localized(command: str, dev: Dev) -> str:
    """`command` on this test's dev instead of a production host's defaults."""
    command = command.replace("localhost:8000", f"localhost:{dev.ports['api']}")
    command = command.replace("/var/log/scheduler/scheduler.log", str(dev.log_file))
    return re.sub(r"(^|[|;&(] *)redis-cli\b", rf"\1redis-cli -p {dev.ports['redis']}", command)


def shell_env(dev: Dev) -> dict[str, str]:
    env = dev.shell_env()
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def run(dev: Dev, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", localized(command, dev)],
        cwd=dev.dir,
        env=shell_env(dev),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def prepared(dev: Dev) -> Dev:
    """dev with what the doc's commands look at: the doc's schedule, an event that fired,
    a sync and a cleanup in the log."""
    api = f"{dev.env['SCHEDULES_API_URL']}/api/v1/schedules"
    event = {"topic": "user.notifications", "body": {"user_id": 123}, "delay_seconds": 3600}
    httpx.post(api, json={**event, "schedule_id": SCHEDULE_ID}, timeout=10).raise_for_status()
    fired = httpx.post(api, json={**event, "delay_seconds": 0}, timeout=10).json()
    dev.wait_status(fired["schedule_id"], "executed")
    for job in ("sync", "cleanup"):
        httpx.post(f"{api}/monitoring/{job}", timeout=60).raise_for_status()
    return dev


# Spot checks: a command (as in the doc) and what its output must contain.
EXPECT = {
    "curl -f http://localhost:8000/api/v1/schedules/monitoring/health": '"status":"healthy"',
    "hybrid-scheduler stats --json | jq '.levels'": '"redis_pending"',
    "redis-cli zrange scheduled_events 0 10 WITHSCORES": SCHEDULE_ID,
    'grep "sync.*completed" /var/log/scheduler/scheduler.log | tail -10': "sync completed:",
    'grep "cleanup completed" /var/log/scheduler/scheduler.log | tail -5': "cleanup completed:",
    "hybrid-scheduler status reminder-123": SCHEDULE_ID,
    "hybrid-scheduler cancel reminder-123": "pending",
    "hybrid-scheduler reschedule reminder-123 --delay 7200": "rescheduled reminder-123",
    "hybrid-scheduler maintenance check": "OK",
    'redis-cli keys "*scheduled*"': "scheduled_events:payload",
    "curl -s http://localhost:8000/api/v1/schedules/monitoring/stats | jq '.circuit_breaker'": (
        '"closed"'
    ),
    # Rate-limiting a topic: the limit just set, from the API.
    "curl -s http://localhost:8000/api/v1/schedules/monitoring/rate-limits | jq '.limits[] | "
    "{topic, events_per_second, burst, source, throttled}'": '"events_per_second": 200',
    # Finding schedules: a page with the counts by status (every status named).
    'curl -s "http://localhost:8000/api/v1/schedules?topic=user.notifications&status=scheduled'
    "&status=pending&limit=20\" | jq '.counts, [.items[] | {schedule_id, status, hot_state, "
    "scheduled_at}]'": '"cancelled":',
    "hybrid-scheduler list --from now --to +1d --limit 100": "matching",
    # Recurring schedules: the one the doc creates, and its occurrences stored an hour ahead.
    "hybrid-scheduler recurring show heartbeat": "every 900 s",
    'redis-cli zrange "scheduled_events:recurring:occ:heartbeat" 0 -1 WITHSCORES': "heartbeat@1@",
}


def test_every_shell_command_of_the_doc_runs_against_dev(prepared: Dev) -> None:
    failures = []
    ran = 0
    for block, command in doc_commands():
        if first_words(command)[0] in SYSTEMD_ONLY:
            continue
        follows = any(f in command for f in FOLLOW)
        if follows:  # runs until stopped: it must still run after 2 s, then it is stopped
            done = run(prepared, f"timeout 2 bash -c {shlex.quote(localized(command, prepared))}")
            ok = done.returncode == 124
        else:
            done = run(prepared, command)
            ok = done.returncode == 0
        ran += 1
        want = EXPECT.get(command)
        if not ok or (want is not None and want not in done.stdout):
            failures.append(
                f"[{block.heading}] {command}\n  exit {done.returncode}, expected "
                f"{want!r}\n  stdout: {done.stdout[-600:]}\n  stderr: {done.stderr[-600:]}"
            )
    assert not failures, "\n".join(failures)
    assert ran >= 60
    commands_run = {c for _, c in doc_commands()}
    assert set(EXPECT) <= commands_run, set(EXPECT) - commands_run


def test_the_daily_and_weekly_scripts_run_as_written(prepared: Dev) -> None:
    scripts = {b.text.splitlines()[1].lstrip("# "): b.text for b in blocks("bash") if b.is_script}
    daily = run(prepared, scripts["daily_health_check.sh"])
    assert daily.returncode == 0, daily.stderr
    assert "Service unhealthy" not in daily.stdout
    assert re.search(r"Redis pending: \d+$", daily.stdout, re.M), daily.stdout
    assert re.search(r"^ClickHouse pending: \d+$", daily.stdout, re.M), daily.stdout
    report = run(prepared, scripts["daily_performance_report.sh"])
    assert report.returncode == 0 and '"hours": 24' in report.stdout, report
    weekly = run(prepared, scripts["weekly_cleanup.sh"])
    assert weekly.returncode == 0, weekly.stderr
    assert 'Cleaned items: {"job":"cleanup"' in weekly.stdout, weekly.stdout
    assert "OPTIMIZE TABLE event_schedules_log" in weekly.stdout, weekly.stdout
