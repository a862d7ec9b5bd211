"""Partitioning of the executor's batch producer (scheduler/hot/produce.py): the key of
an event lands on the partition any Kafka client would pick for it."""

from __future__ import annotations

import random

from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from scheduler.hot.produce import murmur2


def test_murmur2_is_the_java_clients_for_every_length_and_byte() -> None:
    rng = random.Random(13)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(300) for _ in range(5)]
    keys += [b"", b"\x00", b"\xff" * 7, "rappel-é".encode(), b"01JDXYZABCDEFGHJKMNPQRSTVW"]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key), key


def test_murmur2_matches_known_java_values() -> None:
    # From the Java client's tests (org.apache.kafka.common.utils.UtilsTest.testMurmur2).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF, key
