"""Logging for the command's process: stderr and, with SCHEDULES_LOG_FILE, a file too;
as text or as one JSON object per line (SCHEDULES_LOG_FORMAT); secrets masked; client
libraries' repeated messages let through once a minute."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from scheduler.errors import ConfigError

if TYPE_CHECKING:
    from scheduler.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord carries; anything else on a record came from `extra=`, except
# uvicorn's `color_message` (the message again, with terminal colour codes).
_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}
)


class QuietRepeats(logging.Filter):
    """Lets a client library's repeated message through once per `every` seconds.

    While a service is down, aiokafka logs an error for every reconnect attempt (about
    ten a second), and urllib3 and clickhouse_connect one per request; our own loops
    log an outage once (scheduler.hot.backoff.Outage). A message counts as repeated when
    its logger and format string are the same, whatever its arguments; the next one let
    through says how many were held back. One instance may sit on several handlers: a
    record is judged once, and every handler follows that judgement.
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
        judged = record.__dict__.get("_quiet_repeats")
        if judged is not None:
            return bool(judged)
        passes = self._judge(record)
        record.__dict__["_quiet_repeats"] = passes
        return passes

    def _judge(self, record: logging.LogRecord) -> bool:
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


class Redactor:
    """Masks secrets in log text: the password of any URL (`scheme://user:***@host`), a
    bearer token (`Bearer ***`), and the given secret values wherever they appear (the
    API token, the passwords of the configured URLs). Values shorter than
    MIN_SECRET characters are not searched for: masking every "abc" would garble the log
    and protect little."""

    MIN_SECRET = 6
    URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'\"]*):[^@/\s'\"]+@")
    BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        found = {s for s in secrets if s and len(s) >= self.MIN_SECRET}
        self.secrets = sorted(found, key=len, reverse=True)  # the longest first

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        text = self.URL_PASSWORD.sub(r"\g<head>:***@", text)
        return self.BEARER.sub(r"\g<head>***", text)


class TextFormatter(logging.Formatter):
    """`2026-01-02 03:04:05,678 INFO scheduler.cold.sync: sync completed: ...`, secrets
    masked (the exception text too)."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line:

        {"ts": "2026-01-02T03:04:05.678Z", "level": "INFO", "logger": "scheduler.cold.sync",
         "message": "sync completed: ...", "exception": "Traceback ...", ...}

    `ts` is ISO 8601 in UTC (milliseconds); `exception` (the formatted traceback) and
    `stack` only when the record has one; then whatever the call passed as `extra=`
    (values JSON cannot hold as their string). Secrets are masked in every string.
    """

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = self.redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.redact(self.formatStack(record.stack_info))
        for key, value in record.__dict__.items():
            if key in _RECORD_FIELDS or key.startswith("_") or key in entry:
                continue
            entry[key] = self._clean(value)
        return orjson.dumps(entry, default=self._fallback, option=orjson.OPT_NON_STR_KEYS).decode()

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value

    def _fallback(self, value: Any) -> str:
        return self.redact(str(value))


def secrets_of(settings: Settings) -> list[str]:
    """The values a log line must never show: the API token, the Sentinels' password, the
    URLs' passwords."""
    found = [settings.api_token, settings.redis_sentinel_password]
    for url in (settings.redis_url, settings.clickhouse_url):
        if url:
            try:
                found.append(urlsplit(url).password)
            except ValueError:
                continue
    return [s for s in found if s]


def setup_logging(
    level: str,
    *,
    format: str = "text",
    file: Path | None = None,
    secrets: Iterable[str | None] = (),
) -> None:
    """Log at `level` to stderr and, when `file` is given, append to it as well.

    The file's directory is created if missing. It is a WatchedFileHandler: when
    logrotate renames the file, the next line goes to a new file of the old name, so no
    signal and no copytruncate are needed. Calling this again replaces what an earlier
    call installed.
    """
    redact = Redactor(secrets)
    formatter: logging.Formatter = (
        JsonFormatter(redact) if format == "json" else TextFormatter(redact)
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.WatchedFileHandler(file, encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"SCHEDULES_LOG_FILE: cannot append to {file}: {exc.strerror or exc}"
            ) from None
    quiet = QuietRepeats()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_hybrid_scheduler", False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(quiet)
        handler.__dict__["_hybrid_scheduler"] = True
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def setup_logging_from(settings: Settings) -> None:
    """setup_logging with SCHEDULES_LOG_LEVEL, _FORMAT and _FILE, masking secrets_of()."""
    setup_logging(
        settings.log_level,
        format=settings.log_format,
        file=settings.log_file,
        secrets=secrets_of(settings),
    )
