"""The real Temporal dev server, started once per session; each test gets its own task
queue (and, through tests/conftest.py, its own Redis key prefix and ClickHouse database).

The Temporal Schedules have fixed ids, so tests that ensure them delete them
afterwards (`schedules` fixture).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from devstack.services import ManagedProcess, free_port, start_temporal
from scheduler.cold.operations import ColdConfig, ColdOperations
from scheduler.cold.store import ColdStore
from scheduler.hot.store import HotStore
from scheduler.settings import Settings
from workflows.schedules import CLEANUP_ID, RECOVERY_ID, RECURRING_ID, SYNC_ID
from workflows.worker import build_worker


@pytest.fixture(scope="session")
def temporal_server(services_dir: Path) -> Iterator[ManagedProcess]:
    proc = start_temporal(free_port(), None, services_dir / "temporal")
    yield proc
    proc.stop()


@pytest.fixture
def orch_settings(hybrid_settings: Settings, temporal_server: ManagedProcess) -> Settings:
    return hybrid_settings.model_copy(
        update={
            "temporal_address": f"127.0.0.1:{temporal_server.port}",
            "temporal_task_queue": f"schedules-{uuid.uuid4().hex[:10]}",
            "sync_batch_size": 100,
        }
    )


@pytest.fixture
async def client(orch_settings: Settings) -> Client:
    return await Client.connect(orch_settings.temporal_address)


@pytest.fixture
def ops(cold: ColdStore, hot: HotStore, orch_settings: Settings) -> ColdOperations:
    return ColdOperations(cold, hot, ColdConfig.from_settings(orch_settings))


@pytest.fixture
async def worker(
    client: Client, orch_settings: Settings, ops: ColdOperations
) -> AsyncIterator[Worker]:
    async with build_worker(client, orch_settings, ops) as w:
        yield w


async def delete_schedules(client: Client) -> None:
    for sid in (SYNC_ID, CLEANUP_ID, RECOVERY_ID, RECURRING_ID):
        with contextlib.suppress(RPCError):
            await client.get_schedule_handle(sid).delete()


@pytest.fixture
async def schedules(client: Client) -> AsyncIterator[Client]:
    """No job schedule exists before the test, and none after it."""
    await delete_schedules(client)
    yield client
    await delete_schedules(client)


def worker_process_env(
    settings: Settings, clickhouse_url: str, database: str, dev_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a `hybrid-scheduler worker` process of one test: its Redis
    prefix, its ClickHouse database (through the HTTP shim: chdb allows one process per
    path), its Temporal and task queue; no scheduled syncs but the test's own."""
    return {
        **os.environ,
        "REDIS_URL": settings.redis_url,
        "SCHEDULES_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SCHEDULES_COLD_TIER_ENABLED": "true",
        "CLICKHOUSE_URL": f"{clickhouse_url}/{database}",
        "SCHEDULES_CLICKHOUSE_DATABASE": database,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "SCHEDULES_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "SCHEDULES_CLICKHOUSE_SYNC_INTERVAL": "3600",
        "SCHEDULES_DEV_DIR": str(dev_dir),
        **extra,
    }
