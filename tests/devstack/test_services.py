"""The embedded services start for real, answer real clients, and leave nothing behind."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from devstack.services import (
    EmbeddedStack,
    ManagedProcess,
    free_port,
    retry_start,
    start_kafka,
    start_redis,
    start_temporal,
)
from scheduler.errors import StartupError


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def assert_stops_cleanly(service: ManagedProcess) -> None:
    service.stop()
    service.stop()  # idempotent
    assert not service.alive()
    assert service.process.returncode == 0  # it shut down on SIGTERM, no SIGKILL needed
    assert port_is_free(service.port)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """Something else already listening on a port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def test_redis_set_get_and_aof_survives_restart(tmp_path: Path) -> None:
    port = free_port()
    service = start_redis(port, tmp_path)
    try:
        client = redis.Redis(port=port)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.close()
    finally:
        assert_stops_cleanly(service)
    assert service.log_path == tmp_path / "redis.log"
    assert service.log_path.stat().st_size > 0

    service = start_redis(port, tmp_path)
    try:
        client = redis.Redis(port=port)
        assert client.get("k") == b"v"
        client.close()
    finally:
        assert_stops_cleanly(service)


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[ManagedProcess]:
    service = start_kafka(free_port(), tmp_path)
    yield service
    assert_stops_cleanly(service)


async def test_kafka_produce_and_consume(kafka: ManagedProcess) -> None:
    bootstrap = f"127.0.0.1:{kafka.port}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("t", num_partitions=1, replication_factor=1)])
    await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    await producer.send_and_wait("t", b"hello")
    await producer.stop()

    consumer = AIOKafkaConsumer("t", bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    assert message.value == b"hello"


async def test_temporal_serves_default_namespace_and_ui(tmp_path: Path) -> None:
    ui_port = free_port()
    service = start_temporal(free_port(), ui_port, tmp_path)
    try:
        client = await Client.connect(f"127.0.0.1:{service.port}")
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert described.namespace_info.name == "default"
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{ui_port}/")).status_code == 200
    finally:
        assert_stops_cleanly(service)
    assert port_is_free(ui_port)
    assert (tmp_path / "temporal.db").exists()


def test_port_in_use_is_reported_before_starting(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(StartupError, match=f"port {port} is already in use"):
        start_redis(port, tmp_path)
    assert not (tmp_path / "redis.log").exists()


def test_early_exit_names_service_port_and_log_tail(tmp_path: Path) -> None:
    # A corrupt AOF manifest: a real reason for Redis to refuse to start.
    (tmp_path / "appendonlydir").mkdir()
    (tmp_path / "appendonlydir" / "appendonly.aof.manifest").write_text("not a manifest\n")
    port = free_port()
    with pytest.raises(StartupError) as caught:
        start_redis(port, tmp_path)
    message = str(caught.value)
    assert f"redis on port {port} exited with code 1" in message
    assert "manifest" in message.lower()  # from the log tail
    assert port_is_free(port)


def _corrupt_aof(data_dir: Path) -> None:
    (data_dir / "appendonlydir").mkdir(parents=True)
    (data_dir / "appendonlydir" / "appendonly.aof.manifest").write_text("not a manifest\n")


def test_a_start_failing_for_a_transient_reason_is_tried_again(tmp_path: Path) -> None:
    """retry_start (the Temporal dev server's SQLITE_BUSY at start-up): a failure whose
    message holds a transient text is started again after before_retry, here a real
    redis-server refusing a corrupt AOF manifest, repaired between the two tries."""
    _corrupt_aof(tmp_path)
    port = free_port()
    tries: list[int] = []

    def start() -> ManagedProcess:
        tries.append(port)
        return start_redis(port, tmp_path)

    def repair() -> None:
        (tmp_path / "appendonlydir" / "appendonly.aof.manifest").unlink()

    service = retry_start(start, ["manifest"], before_retry=repair)
    try:
        assert len(tries) == 2
        assert redis.Redis(port=port).ping()
    finally:
        assert_stops_cleanly(service)


def test_a_start_failing_for_another_reason_is_not_tried_again(tmp_path: Path) -> None:
    _corrupt_aof(tmp_path)
    tries: list[int] = []
    port = free_port()

    def start() -> ManagedProcess:
        tries.append(port)
        return start_redis(port, tmp_path)

    with pytest.raises(StartupError, match="exited with code 1"):
        retry_start(start, ["database is locked"])
    assert tries == [port]
    assert port_is_free(port)


def test_children_die_when_the_parent_is_killed(tmp_path: Path) -> None:
    port = free_port()
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, pathlib, signal, sys\n"
            "from devstack.services import start_redis\n"
            f"start_redis({port}, pathlib.Path({str(tmp_path)!r}))\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert parent.returncode == -9, parent.stderr.decode()
    deadline = time.monotonic() + 10
    while not port_is_free(port):
        assert time.monotonic() < deadline, "redis outlived its parent"
        time.sleep(0.1)


def test_stack_starts_only_what_is_not_external(tmp_path: Path) -> None:
    port = free_port()
    stack = EmbeddedStack(tmp_path, redis=port, kafka="10.0.0.1:9092", temporal="10.0.0.1:7233")
    with stack:
        assert list(stack.processes) == ["redis"]
        assert stack.kafka_bootstrap == "10.0.0.1:9092"
        assert stack.temporal_address == "10.0.0.1:7233"
        assert redis.Redis.from_url(stack.redis_url).ping()
        service = stack.processes["redis"]
    assert stack.processes == {}
    assert not service.alive()
    assert port_is_free(port)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["redis"]


def test_stack_stops_what_it_started_when_a_later_service_fails(
    tmp_path: Path, listener: socket.socket
) -> None:
    redis_port = free_port()
    busy = listener.getsockname()[1]
    stack = EmbeddedStack(tmp_path, redis=redis_port, kafka=busy, temporal="127.0.0.1:7233")
    with pytest.raises(StartupError, match=f"kafka: port {busy}"), stack:
        pass
    assert stack.processes == {}
    assert port_is_free(redis_port)


def test_readiness_timeout_names_service_and_port_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(StartupError, match=f"redis on port {port} was not ready within 0 s"):
        start_redis(port, tmp_path, timeout=0)
    assert port_is_free(port)
