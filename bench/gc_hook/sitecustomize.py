"""Garbage-collection pauses of a benchmarked process, recorded from outside the product.

bench/roles.py puts this directory on PYTHONPATH (Python imports `sitecustomize` at
start-up) and names an output file in BENCH_GC_LOG. Every collection is timed through
`gc.callbacks`; per generation the count, total and longest pause are kept, and every
pause of a full (generation 2) collection or of at least 1 ms is listed with its wall-clock
start, so a benchmark can line pauses up with late events. The file is written at exit
(`serve` exits normally on SIGTERM). Cost: two clock reads per collection.

The bench's in-process scenarios use Recorder directly (`bench.gc_hook.sitecustomize`).
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from typing import Any


class Recorder:
    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.totals = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self.listed: list[tuple[int, float, float]] = []  # (generation, wall start, seconds)
        self._began = (0.0, 0.0)  # perf_counter, time.time of the running collection

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = (time.perf_counter(), time.time())
            return
        took = time.perf_counter() - self._began[0]
        gen = info["generation"]
        self.counts[gen] += 1
        self.totals[gen] += took
        if took > self.longest[gen]:
            self.longest[gen] = took
        if gen == 2 or took >= 0.001:
            self.listed.append((gen, self._began[1], took))

    def start(self) -> None:
        gc.callbacks.append(self)

    def stop(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def data(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "counts": self.counts,
            "total_seconds": self.totals,
            "longest_seconds": self.longest,
            "pauses": self.listed,
        }


def _install(out: str) -> None:
    recorder = Recorder()
    recorder.start()

    def write() -> None:
        import json

        with open(out, "w") as f:
            json.dump(recorder.data(), f)

    atexit.register(write)


if os.environ.get("BENCH_GC_LOG"):
    _install(os.environ["BENCH_GC_LOG"])
