"""Logging for the command's process: one format on stderr, client libraries' repeated
messages let through once a minute."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable


class QuietRepeats(logging.Filter):
    """Lets a client library's repeated message through once per `every` seconds.

    While a service is down, aiokafka logs an error for every reconnect attempt (about
    ten a second), and urllib3 and clickhouse_connect one per request; our own loops
    log an outage once (scheduler.hot.backoff.Outage). A message counts as repeated when
    its logger and format string are the same, whatever its arguments; the next one let
    through says how many were held back.
    """

    LIBRARIES = ("aiokafka", "urllib3", "clickhouse_connect")

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every = every
        self.clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LIBRARIES):
            return True
        key = (record.name, record.msg)
        now = self.clock()
        last, held = self._seen.get(key, (None, 0))
        if last is not None and now - last < self.every:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} [{held} more like this held back]"
            record.args = None
        return True


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(QuietRepeats())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
