"""Retry delays: exponential backoff with equal jitter."""

from __future__ import annotations

import random


def retry_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `attempt` (1-based): half fixed, half random."""
    exp: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    jitter: float = (rng or random).uniform(0, exp / 2)
    return exp / 2 + jitter
