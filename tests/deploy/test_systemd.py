"""The systemd units of deploy/systemd/ and the logrotate file of deploy/logrotate/.

`systemd-analyze verify` (preinstalled with systemd) checks the units as systemd would
load them; it also requires each ExecStart binary to exist, so the units are verified as
a temporary copy whose ExecStart points at this venv's `hybrid-scheduler` instead of the
installed path /opt/hybrid-scheduler/bin/hybrid-scheduler. Any line it prints about our
units (an unknown key, a value it cannot parse) fails the test, since systemd only warns
about those. `logrotate -d` (Debian package `logrotate`) checks the rotation config
against a temporary log directory, changing nothing.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.tools import DEPLOY, require, run

SYSTEMD = DEPLOY / "systemd"
INSTALLED_BINARY = "/opt/hybrid-scheduler/bin/hybrid-scheduler"
ROLES = {
    "executor": "serve --role executor",
    "consumer": "serve --role consumer",
    "api": "serve --role api",
    "worker": "worker",
}
GROUP = "scheduler-service.service"  # `systemctl restart scheduler-service` (the runbook)
LOG_FILE = "/var/log/scheduler/scheduler.log"


def units() -> list[Path]:
    return sorted(SYSTEMD.glob("*.service"))


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str:
    (value,) = unit[section][key]
    return value


def test_one_unit_per_role_plus_migrate_and_the_group() -> None:
    names = {path.name for path in units()}
    expected = {f"scheduler-{role}.service" for role in ROLES}
    assert names == expected | {"scheduler-migrate.service", GROUP}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_role_unit(role: str) -> None:
    unit = parse(SYSTEMD / f"scheduler-{role}.service")
    service = unit["Service"]
    assert one(unit, "Service", "ExecStart") == f"{INSTALLED_BINARY} {ROLES[role]}"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert one(unit, "Service", "EnvironmentFile") == "/etc/hybrid-scheduler/scheduler.env"
    assert one(unit, "Service", "User") not in {"root", "0"}
    # The process writes LOG_FILE itself (SCHEDULES_LOG_FILE, see the env file test);
    # its stderr goes to the journal, and systemd creates the log directory for its user.
    assert service["StandardOutput"] == ["journal"]
    assert service["StandardError"] == ["journal"]
    assert service["LogsDirectory"] == ["scheduler"]
    assert re.fullmatch(r"SCHEDULES_METRICS_PORT=\d+", one(unit, "Service", "Environment"))
    assert one(unit, "Unit", "PartOf") == GROUP
    assert "scheduler-migrate.service" in one(unit, "Unit", "After").split()
    assert one(unit, "Install", "WantedBy") == GROUP


def test_roles_have_distinct_metrics_ports_matching_prometheus_host_config() -> None:
    ports = {}
    for role in ROLES:
        setting = one(parse(SYSTEMD / f"scheduler-{role}.service"), "Service", "Environment")
        ports[role] = setting.partition("=")[2]
    assert len(set(ports.values())) == len(ports)
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-host.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    for role, port in ports.items():
        assert targets[role] == [f"127.0.0.1:{port}"]


def test_the_env_file_sends_every_role_to_the_log_file() -> None:
    settings = dict(
        line.split("=", 1)
        for line in (SYSTEMD / "scheduler.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert settings["SCHEDULES_LOG_FILE"] == LOG_FILE
    assert settings["SCHEDULES_LOG_FORMAT"] in {"text", "json"}
    assert str(Path(LOG_FILE).parent) == "/var/log/scheduler"  # LogsDirectory=scheduler


def test_migrate_is_a_oneshot_the_roles_wait_for() -> None:
    unit = parse(SYSTEMD / "scheduler-migrate.service")
    assert one(unit, "Service", "Type") == "oneshot"
    assert one(unit, "Service", "RemainAfterExit") == "yes"
    assert one(unit, "Service", "ExecStart") == f"{INSTALLED_BINARY} migrate"
    assert one(unit, "Service", "EnvironmentFile") == "/etc/hybrid-scheduler/scheduler.env"
    assert one(unit, "Service", "User") not in {"root", "0"}
    assert one(unit, "Unit", "PartOf") == GROUP
    assert one(unit, "Service", "StandardError") == "journal"


def test_the_group_unit_starts_every_role() -> None:
    unit = parse(SYSTEMD / GROUP)
    wants = set(one(unit, "Unit", "Wants").split())
    assert wants == {f"scheduler-{role}.service" for role in [*ROLES, "migrate"]}
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


def test_units_verify(tmp_path: Path) -> None:
    analyze = require("systemd-analyze", "systemd")
    binary = Path(sys.executable).with_name("hybrid-scheduler")
    assert binary.exists(), f"{binary}: install the package first (make install)"
    for path in units():
        text = path.read_text()
        (tmp_path / path.name).write_text(text.replace(INSTALLED_BINARY, str(binary)))
    copies = sorted(str(p) for p in tmp_path.glob("*.service"))
    result = run([analyze, "verify", *copies], cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    ours = [line for line in output.splitlines() if "scheduler-" in line or str(tmp_path) in line]
    assert not ours, "\n".join(ours)


def test_logrotate_config(tmp_path: Path) -> None:
    logrotate = require("logrotate", "logrotate")
    source = DEPLOY / "logrotate" / "hybrid-scheduler"
    text = source.read_text()
    assert "/var/log/scheduler/*.log" in text
    logs = tmp_path / "log"
    logs.mkdir()
    (logs / "scheduler.log").write_text("a line\n")
    config = tmp_path / "hybrid-scheduler"
    config.write_text(text.replace("/var/log/scheduler/", f"{logs}/"))
    result = run([logrotate, "-d", "--state", str(tmp_path / "state"), str(config)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not re.search(r"^error", output, re.IGNORECASE | re.MULTILINE), output
    assert f"considering log {logs}/scheduler.log" in output
    # The roles reopen a renamed file (WatchedFileHandler): rename, never copy and truncate
    # (lines written between the copy and the truncate would be lost).
    directives = {line.split()[0] for line in text.splitlines() if line.startswith("    ")}
    assert "copytruncate" not in directives
    assert "nocreate" in directives


def test_logrotate_renames_the_file_and_a_running_role_goes_on_in_a_new_one(
    tmp_path: Path,
) -> None:
    logrotate = require("logrotate", "logrotate")
    logs = tmp_path / "log"
    logs.mkdir()
    config = tmp_path / "hybrid-scheduler"
    text = (DEPLOY / "logrotate" / "hybrid-scheduler").read_text()
    config.write_text(text.replace("/var/log/scheduler/", f"{logs}/"))
    # What cli/logs.py installs for SCHEDULES_LOG_FILE.
    handler = logging.handlers.WatchedFileHandler(logs / "scheduler.log")
    role = logging.Logger("role")
    role.addHandler(handler)
    try:
        role.error("before the rotation")
        result = run([logrotate, "-f", "--state", str(tmp_path / "state"), str(config)])
        assert result.returncode == 0, result.stdout + result.stderr
        role.error("after the rotation")
    finally:
        handler.close()
    (rotated,) = [p for p in logs.iterdir() if p.name != "scheduler.log"]
    assert rotated.read_text() == "before the rotation\n"
    assert (logs / "scheduler.log").read_text() == "after the rotation\n"
