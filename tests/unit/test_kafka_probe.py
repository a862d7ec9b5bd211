"""The broker liveness probe (scheduler.kafka.probe_broker) that the executor and the
health endpoint share: a real round trip, bounded in time. The brokers are stand-ins:
local sockets that answer well, badly, or not at all."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from scheduler.kafka import PROBE_REPLY_BYTES, PROBE_REQUEST, probe_broker, probe_reply_error

CORRELATION_ID = struct.unpack(">i", PROBE_REQUEST[8:12])[0]


def reply(correlation_id: int = CORRELATION_ID, error_code: int = 0) -> bytes:
    """The start of an ApiVersions v0 response (an empty list of versions follows)."""
    return struct.pack(">iihi", 10, correlation_id, error_code, 0)


@dataclass
class Broker:
    """A stand-in listening on 127.0.0.1: what it answers, and what it was asked."""

    address: str
    requests: list[bytes]
    closed: asyncio.Event  # a probe's connection was closed (by the probe)


HANG_UP = b""
Answer = Callable[[bytes], bytes | None]  # request -> reply; None: silence; HANG_UP: close
MakeBroker = Callable[[Answer], Awaitable[Broker]]


@pytest.fixture
async def broker() -> AsyncIterator[MakeBroker]:
    servers: list[asyncio.Server] = []
    connections: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def make(answer: Answer) -> Broker:
        requests: list[bytes] = []
        closed = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.add(asyncio.current_task())  # type: ignore[arg-type]
            connections.append(writer)
            try:
                size = await reader.readexactly(4)
                request = size + await reader.readexactly(struct.unpack(">i", size)[0])
                requests.append(request)
                got = answer(request)
                if got == HANG_UP:
                    return
                if got is not None:
                    writer.write(got)
                    await writer.drain()
                await reader.read()  # until the probe closes its end
            finally:
                closed.set()
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return Broker(f"127.0.0.1:{port}", requests, closed)

    yield make
    for server in servers:
        server.close()
    for writer in connections:
        writer.close()
    if handlers:
        await asyncio.wait(handlers, timeout=1.0)


def closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_the_request_is_api_versions_v0() -> None:
    size, api_key, version, _, client_len = struct.unpack(">ihhih", PROBE_REQUEST[:14])
    assert (api_key, version) == (18, 0)  # what every Kafka-protocol broker answers
    assert size == len(PROBE_REQUEST) - 4 and client_len == len(PROBE_REQUEST) - 14


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (reply(), None),
        (reply(error_code=35), "answered ApiVersions with error code 35"),
        (reply(correlation_id=7), "answered, but not as a Kafka broker"),
        (struct.pack(">iih", 2, CORRELATION_ID, 0), "answered, but not as a Kafka broker"),
    ],
)
def test_what_counts_as_a_good_answer(answer: bytes, error: str | None) -> None:
    assert probe_reply_error(answer[:PROBE_REPLY_BYTES]) == error


async def test_a_broker_that_answers_is_up(broker: MakeBroker) -> None:
    up = await broker(lambda request: reply())
    assert await probe_broker(up.address, 1.0) is None
    assert up.requests == [PROBE_REQUEST]
    await asyncio.wait_for(up.closed.wait(), 1.0)  # the probe leaves no connection open


async def test_a_hung_broker_is_down_within_the_bound(broker: MakeBroker) -> None:
    """It accepts the connection (as a stopped process's kernel does) but never answers:
    a TCP connect would call it up."""
    hung = await broker(lambda request: None)
    started = time.monotonic()
    error = await probe_broker(hung.address, 0.2)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert error == f"{hung.address}: no answer within 0.2 s"
    assert hung.requests == [PROBE_REQUEST]  # it was asked
    await asyncio.wait_for(hung.closed.wait(), 1.0)  # and the connection given up


async def test_a_closed_port_is_down_at_once() -> None:
    address = closed_port()
    started = time.monotonic()
    error = await probe_broker(address, 5.0)
    assert time.monotonic() - started < 1.0
    assert error is not None and error.startswith(f"{address}: ")
    assert "no answer" not in error  # refused, and it says so


async def test_a_broker_that_answers_badly_is_down(broker: MakeBroker) -> None:
    refusing = await broker(lambda request: reply(error_code=35))
    assert await probe_broker(refusing.address, 1.0) == (
        f"{refusing.address}: answered ApiVersions with error code 35"
    )
    hanging_up = await broker(lambda request: HANG_UP)
    hanging_up_error = await probe_broker(hanging_up.address, 1.0)
    assert hanging_up_error is not None and "closed the connection" in hanging_up_error


async def test_one_answering_broker_is_enough_and_is_not_kept_waiting(
    broker: MakeBroker,
) -> None:
    hung = await broker(lambda request: None)
    up = await broker(lambda request: reply())
    started = time.monotonic()
    assert await probe_broker(f"{hung.address},{closed_port()},{up.address}", 5.0) is None
    assert time.monotonic() - started < 1.0  # all asked at once, not one after another
    await asyncio.wait_for(hung.closed.wait(), 1.0)  # the others are given up


async def test_every_broker_down_says_why_for_each(broker: MakeBroker) -> None:
    hung = await broker(lambda request: None)
    refused = closed_port()
    error = await probe_broker(f"{hung.address}, {refused}", 0.2)
    assert error is not None
    first, second = error.split("; ")
    assert first == f"{hung.address}: no answer within 0.2 s"
    assert second.startswith(f"{refused}: ")


@pytest.mark.parametrize(
    ("servers", "error"),
    [
        ("", "no bootstrap servers"),
        ("broker:notaport", "unusable bootstrap servers 'broker:notaport': "),
    ],
)
async def test_unusable_bootstrap_servers_are_an_answer_not_a_crash(
    servers: str, error: str
) -> None:
    got = await probe_broker(servers, 1.0)
    assert got is not None and got.startswith(error)


class FakeClient:
    """What probe_broker reads from an aiokafka client: bootstrap hosts and metadata."""

    def __init__(self, bootstrap: list[str], known: list[str]) -> None:
        self.hosts = [(*split(a), 0) for a in bootstrap]
        self.cluster = self

        @dataclass(frozen=True)
        class BrokerMetadata:
            host: str
            port: int

        self._known = {BrokerMetadata(*split(a)) for a in known}

    def brokers(self) -> set[Any]:
        return self._known


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def test_a_client_is_probed_at_every_broker_it_knows(broker: MakeBroker) -> None:
    """The executor passes its producer's client: the bootstrap brokers are down, but a
    broker the cluster metadata names (a partition leader) answers."""
    leader = await broker(lambda request: reply())
    client = FakeClient([closed_port()], [leader.address])
    assert await probe_broker(client, 1.0) is None
    assert leader.requests == [PROBE_REQUEST]
    nobody = FakeClient([closed_port()], [])
    assert await probe_broker(nobody, 1.0) is not None


async def test_a_cancelled_probe_leaves_no_connection_open(broker: MakeBroker) -> None:
    """The health check bounds the probe again from outside: cancelling it mid-way
    gives its connections up."""
    hung = await broker(lambda request: None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(probe_broker(hung.address, 5.0), 0.2)
    await asyncio.wait_for(hung.closed.wait(), 1.0)
