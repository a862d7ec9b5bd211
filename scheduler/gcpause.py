"""The role processes' garbage collector: its pauses measured, its work kept small.

A role process (`serve`, `worker`) builds everything long-lived at start-up: imported
modules, clients, compiled scripts, settings. Python's cyclic collector would otherwise
traverse all of that on every full collection, a pause that lands on whatever event is
due at that moment. After start-up the process therefore collects once and moves what
survived into the permanent generation (`gc.freeze()`), which the collector never
traverses, and raises the young generation's threshold so that short-lived per-event
objects (mostly freed by reference counting anyway) trigger fewer collections.

Every collection's pause is recorded in `schedules_gc_pause_seconds{generation}` through
`gc.callbacks` (two clock reads per collection), so operators see the collector's share of
lateness on the same dashboard as the lateness itself.

The Python API (`SchedulerService` inside a user's own process) changes nothing about the
user's collector: only the role processes call `settle()`.
"""

from __future__ import annotations

import gc
import logging
import time

from scheduler import metrics

log = logging.getLogger(__name__)


class PauseRecorder:
    """A `gc.callbacks` entry observing each collection's duration into the histogram."""

    def __init__(self) -> None:
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        took = time.perf_counter() - self._began
        metrics.GC_PAUSES.labels(generation=str(info["generation"])).observe(took)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)


RECORDER = PauseRecorder()


def settle(young_threshold: int) -> int:
    """After start-up: record pauses from now on, collect once, freeze what survived and
    set the young generation's threshold (0 leaves the thresholds as they are). Returns
    the number of objects frozen."""
    RECORDER.install()
    gc.collect()
    gc.freeze()
    if young_threshold > 0:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, older, oldest)
    frozen = gc.get_freeze_count()
    log.debug("gc: %d objects frozen, thresholds %s", frozen, gc.get_threshold())
    return frozen
