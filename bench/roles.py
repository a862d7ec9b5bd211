"""Product processes for the deployed benchmarks: `hybrid-scheduler serve --role ROLE`,
started exactly as a user starts it (the console script, its own process, real sockets),
configured only through the environment: the bench's Redis and broker, the cold tier off
(`SCHEDULES_COLD_TIER_ENABLED=false`), `KAFKA_IDEMPOTENT_PRODUCER=false` (the embedded
Tansu broker refuses idempotent producers), defaults for everything else.

With `gc_log`, a `sitecustomize` (bench/gc_hook) records the process's garbage
collections through `gc.callbacks` and writes them when the process exits; nothing of the
product is changed. Every process started here is stopped by its id when its block ends,
on Ctrl-C, and (PR_SET_PDEATHSIG) when the bench itself dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scheduler.settings import Settings

CONSOLE_SCRIPT = "hybrid-scheduler"
GC_HOOK = Path(__file__).parent / "gc_hook"
READY_LINE = b"scheduler started"  # scheduler.service logs it once its roles run
# The variables that point a process at its services or change its behaviour: the bench
# sets its own, so none may leak in from the caller's environment.
_ENV_PREFIXES = ("SCHEDULES_", "REDIS_", "KAFKA_", "CLICKHOUSE_", "TEMPORAL_")
_PR_SET_PDEATHSIG = 1
# Settings given with `python -m bench --set NAME=VALUE`: every role process gets them (and
# the bench process's own Settings read them from its environment).
OVERRIDES: dict[str, str] = {}
# Every role process alive, by pid: stop_all() ends whatever a block could not.
_RUNNING: dict[int, subprocess.Popen[bytes]] = {}
# The services' processes ("redis", "broker"), set by the runner: scenarios report the
# CPU they used (cpu_snapshot).
SERVICE_PIDS: dict[str, int] = {}


def console_script() -> str:
    """The `hybrid-scheduler` next to this interpreter (the venv's), else on PATH."""
    here = Path(sys.executable).parent / CONSOLE_SCRIPT
    if here.exists():
        return str(here)
    found = shutil.which(CONSOLE_SCRIPT)
    if found is None:
        raise RuntimeError(f"{CONSOLE_SCRIPT} is not installed (make install)")
    return found


def role_env(settings: Settings, **extra: str) -> dict[str, str]:
    """What a role process gets: the caller's environment without scheduler settings, the
    bench's services, the cold tier off, the settings given with --set, and `extra` (e.g.
    KAFKA_DELAYED_TOPIC_NAME)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_ENV_PREFIXES)}
    env.update(bench_settings_env(settings))
    env.update(OVERRIDES)
    env.update(extra)
    return env


def bench_settings_env(settings: Settings) -> dict[str, str]:
    """The settings every role process of the bench runs with (the rest are defaults)."""
    env = {
        "REDIS_URL": settings.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_IDEMPOTENT_PRODUCER": "false",
        "SCHEDULES_COLD_TIER_ENABLED": "false",
        "SCHEDULES_METRICS_PORT": "0",  # several roles on one host: no port 9464 each
    }
    if settings.redis_cluster:  # bench/sharded.py
        env["SCHEDULES_REDIS_CLUSTER"] = "true"
    if settings.redis_shards != 1:
        env["SCHEDULES_REDIS_SHARDS"] = str(settings.redis_shards)
    return env


def command_line(role: str, env: dict[str, str]) -> str:
    """The role's command as a user would type it, with the settings that differ."""
    shown = {k: v for k, v in env.items() if k.upper().startswith(_ENV_PREFIXES)}
    prefix = " ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    return f"{prefix} {CONSOLE_SCRIPT} serve --role {role}".strip()


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used (all cores, /proc/stat)."""
    with Path("/proc/stat").open() as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(**pids: int) -> dict[str, float]:
    """CPU seconds so far of this process ("bench"), of the services, of the given
    processes (one that is this process counts as "bench") and of the whole machine."""
    out = {"bench": time.process_time()}
    for name, pid in {**SERVICE_PIDS, **pids}.items():
        if pid != os.getpid():
            with contextlib.suppress(OSError, IndexError, ValueError):
                out[name] = proc_cpu_seconds(pid)
    with contextlib.suppress(OSError, ValueError):
        out["machine"] = _machine_cpu_seconds()
    return out


def cores_busy(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    """Each process's CPU between two snapshots, in cores (1.0 = one core all the time);
    `others` is what the rest of the machine used (other people's tests, say)."""
    if seconds <= 0:
        return {}
    busy = {n: (after[n] - before[n]) / seconds for n in before if n in after}
    if "machine" in busy:
        ours = sum(v for n, v in busy.items() if n != "machine")
        busy["others"] = max(0.0, busy["machine"] - ours)
    return {n: round(v, 2) for n, v in busy.items()}


def _die_with_parent() -> Callable[[], None] | None:
    """preexec_fn: the child gets SIGTERM when the bench dies, however it dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return arm


@dataclass
class RoleProcess:
    role: str
    proc: subprocess.Popen[bytes]
    log: Path
    command: str
    gc_log: Path | None = None
    exit_code: int | None = None
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.proc.pid)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_bytes()[-chars:].decode(errors="replace")

    def gc_pauses(self) -> dict[str, Any] | None:
        """What the gc hook wrote at exit (None without one, or if the process was killed)."""
        if self.gc_log is None or not self.gc_log.exists():
            return None
        data: dict[str, Any] = orjson.loads(self.gc_log.read_bytes())
        return data


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM (the CLI stops its roles cleanly), SIGKILL after `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _RUNNING.pop(proc.pid, None)
    return proc.returncode


def stop_all() -> None:
    """End every role process still running (after Ctrl-C or an error)."""
    for proc in list(_RUNNING.values()):
        _stop(proc, 10)


async def wait_ready(rp: RoleProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if rp.proc.poll() is not None:
            raise RuntimeError(f"{rp.command} exited ({rp.proc.returncode}):\n{rp.log_tail()}")
        if READY_LINE in rp.log.read_bytes():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{rp.command} did not start in {timeout}s:\n{rp.log_tail()}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serve(
    role: str,
    settings: Settings,
    tmp: Path,
    *,
    extra_env: dict[str, str] | None = None,
    gc_log: bool = False,
    ready: bool = True,
    argv_prefix: list[str] | None = None,
    timeout: float = 90.0,
) -> AsyncIterator[RoleProcess]:
    """`hybrid-scheduler serve --role ROLE` until the block ends (then SIGTERM, and SIGKILL
    after 30 s). With `ready`, the block starts once the process logged that its roles run.
    `argv_prefix` (e.g. a profiler) goes before the console script."""
    env = role_env(settings, **(extra_env or {}))
    command = command_line(role, env)
    gc_path = None
    if gc_log:
        gc_path = tmp / f"gc-{role}-{time.time_ns()}.json"
        env["BENCH_GC_LOG"] = str(gc_path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GC_HOOK), env.get("PYTHONPATH")]))
    log = tmp / f"{role}-{time.time_ns()}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*(argv_prefix or []), console_script(), "serve", "--role", role],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            preexec_fn=_die_with_parent(),  # the bench has no other threads yet
        )
    _RUNNING[proc.pid] = proc
    rp = RoleProcess(role, proc, log, command, gc_path)
    try:
        if ready:
            await wait_ready(rp, timeout)
        yield rp
    finally:
        rp.exit_code = await asyncio.to_thread(_stop, proc, 30)
