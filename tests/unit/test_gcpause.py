"""The role processes' collector (scheduler.gcpause): pauses recorded, start-up frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from scheduler import gcpause, metrics


def count(generation: str) -> float:
    for metric in metrics.GC_PAUSES.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels == {"generation": generation}:
                return sample.value
    return 0.0


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gcpause.RECORDER.remove()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_every_collection_is_observed_by_generation(restored: None) -> None:
    gcpause.RECORDER.install()
    before = [count(str(g)) for g in range(3)]
    gc.collect(0)
    gc.collect(2)
    assert count("0") == before[0] + 1
    assert count("2") == before[2] + 1


def test_removed_recorder_observes_nothing(restored: None) -> None:
    gcpause.RECORDER.install()
    gcpause.RECORDER.install()  # once only
    assert gc.callbacks.count(gcpause.RECORDER) == 1
    gcpause.RECORDER.remove()
    before = count("2")
    gc.collect()
    assert count("2") == before


def test_settle_freezes_start_up_and_sets_the_young_threshold(restored: None) -> None:
    survivors = [[i] for i in range(1000)]  # lists: objects the collector tracks
    frozen = gcpause.settle(7000)
    assert frozen >= len(survivors)
    # Frozen: in none of the three generations the collector traverses. (Not compared
    # with get_freeze_count(): a frozen object freed by its reference count leaves the
    # permanent generation, which other threads of the test process may do meanwhile.)
    collected = {id(o) for o in gc.get_objects()}
    assert not any(id(s) in collected for s in survivors)
    assert gc.get_threshold()[0] == 7000
    # A full collection now traverses only what was built after start-up.
    assert count("2") >= 1


def test_settle_with_zero_keeps_python_s_thresholds(restored: None) -> None:
    thresholds = gc.get_threshold()
    gcpause.settle(0)
    assert gc.get_threshold() == thresholds
