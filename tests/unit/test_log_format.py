"""cli/logs.py: the JSON and text formatters, secrets masked, the log file (created with
its directory, reopened after logrotate renames it) beside stderr."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.logs import JsonFormatter, Redactor, TextFormatter, secrets_of, setup_logging
from scheduler.errors import ConfigError
from scheduler.settings import Settings


def record(
    msg: str = "sync completed: %d transferred",
    args: tuple[object, ...] = (3,),
    *,
    level: int = logging.INFO,
    name: str = "scheduler.cold.sync",
    exc: bool = False,
    **extra: object,
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    rec = logging.getLogger(name).makeRecord(
        name, level, "sync.py", 42, msg, args, exc_info, extra=extra or None
    )
    rec.created = 1_767_323_045.678  # 2026-01-02T03:04:05.678Z
    return rec


def test_json_line_has_ts_level_logger_message() -> None:
    line = JsonFormatter().format(record())
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2026-01-02T03:04:05.678Z",
        "level": "INFO",
        "logger": "scheduler.cold.sync",
        "message": "sync completed: 3 transferred",
    }
    ts = datetime.fromisoformat(json.loads(line)["ts"])
    assert ts.utcoffset() == UTC.utcoffset(None)


def test_json_carries_the_exception_text_on_the_same_line() -> None:
    line = JsonFormatter().format(record("firing failed", (), level=logging.ERROR, exc=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["exception"].startswith("Traceback (most recent call last):")
    assert entry["exception"].rstrip().endswith("ValueError: boom")


def test_json_adds_extra_fields_and_stringifies_what_json_cannot_hold() -> None:
    entry = json.loads(
        JsonFormatter().format(
            record(topic="orders", count=7, nested={"a": [1, 2]}, path=Path("/x"))
        )
    )
    assert entry["topic"] == "orders" and entry["count"] == 7
    assert entry["nested"] == {"a": [1, 2]} and entry["path"] == "/x"
    assert entry["level"] == "INFO"  # an extra cannot hide the standard fields


def test_json_without_an_exception_has_no_exception_field() -> None:
    assert "exception" not in json.loads(JsonFormatter().format(record()))


def test_text_line_is_the_classic_one() -> None:
    line = TextFormatter().format(record())
    assert line.endswith(" INFO scheduler.cold.sync: sync completed: 3 transferred")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "Error connecting to redis://user:s3cretpass@redis:6379/0",
            "Error connecting to redis://user:***@redis:6379/0",
        ),
        ("http://default:pw@ch:8123/db down", "http://default:***@ch:8123/db down"),
        ("redis://:onlypass@h:1/0", "redis://:***@h:1/0"),
        ("Authorization: Bearer abc.DEF-123_x", "Authorization: Bearer ***"),
        ("no secrets: http://host:8123/path and user@example.com", None),
        ("token my-api-token-value in text", "token *** in text"),
    ],
)
def test_redactor_masks_url_passwords_bearer_tokens_and_given_secrets(
    text: str, shown: str | None
) -> None:
    redact = Redactor(["my-api-token-value", "short", None, ""])
    assert redact(text) == (text if shown is None else shown)
    assert Redactor(["abc"])("abc stays: too short to search for") == (
        "abc stays: too short to search for"
    )


def test_secrets_are_masked_in_messages_exceptions_and_extras() -> None:
    redact = Redactor(["tok-123456"])
    try:
        raise RuntimeError("auth with tok-123456 failed for redis://u:pw-xyz@h:1")
    except RuntimeError:
        exc_info = sys.exc_info()
    rec = logging.getLogger("x").makeRecord(
        "x", logging.ERROR, "f", 1, "header %s", ("Bearer tok-123456",), exc_info,
        extra={"url": "http://a:pw-xyz@h/"},
    )  # fmt: skip
    line = JsonFormatter(redact).format(rec)
    assert "tok-123456" not in line and "pw-xyz" not in line
    entry = json.loads(line)
    assert entry["message"] == "header Bearer ***"
    assert entry["url"] == "http://a:***@h/"
    text = TextFormatter(redact).format(rec)
    assert "tok-123456" not in text and "pw-xyz" not in text


def test_secrets_of_settings_are_the_token_and_the_url_passwords() -> None:
    s = Settings(
        api_token="the-api-token",
        redis_url="redis://:redis-pass@r:6379/0",
        clickhouse_url="http://u:ch-pass@c:8123/db",
    )
    assert sorted(secrets_of(s)) == ["ch-pass", "redis-pass", "the-api-token"]
    assert secrets_of(Settings(redis_url="redis://r:6379/0", clickhouse_url=None)) == []


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_log_file_is_created_with_its_directory_and_written_beside_stderr(
    tmp_path: Path, restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "var" / "log" / "scheduler" / "scheduler.log"
    setup_logging("INFO", format="json", file=path, secrets=["sekrit-token"])
    logging.getLogger("hybrid_scheduler").info("started: %s", "sekrit-token")
    logging.getLogger("hybrid_scheduler").debug("not at INFO")
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["message"] == "started: ***"
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1]) == json.loads(line)


def test_log_file_is_reopened_after_logrotate_renames_it(
    tmp_path: Path, restore_root: None
) -> None:
    path = tmp_path / "scheduler.log"
    setup_logging("INFO", format="text", file=path)
    log = logging.getLogger("hybrid_scheduler")
    log.info("before the rotation")
    path.rename(tmp_path / "scheduler.log-20260102")
    log.info("after the rotation")
    assert "before the rotation" in (tmp_path / "scheduler.log-20260102").read_text()
    rotated = path.read_text()
    assert "after the rotation" in rotated and "before" not in rotated


def test_setting_up_again_replaces_the_handlers(tmp_path: Path, restore_root: None) -> None:
    setup_logging("INFO", file=tmp_path / "a.log")
    setup_logging("INFO", file=tmp_path / "b.log")
    logging.getLogger("hybrid_scheduler").info("once")
    assert (tmp_path / "a.log").read_text() == ""
    assert (tmp_path / "b.log").read_text().count("once") == 1


def test_an_unwritable_log_file_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="SCHEDULES_LOG_FILE"):
        setup_logging("INFO", file=blocker / "scheduler.log")


def test_library_repeats_are_judged_once_for_both_handlers(
    tmp_path: Path, restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scheduler.log"
    setup_logging("INFO", file=path)
    noisy = logging.getLogger("aiokafka.conn")
    for _ in range(3):
        noisy.warning("connect to %s failed", "broker")
    assert path.read_text().count("connect to broker failed") == 1
    assert capsys.readouterr().err.count("connect to broker failed") == 1


def test_log_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDULES_LOG_FORMAT", "JSON")
    monkeypatch.setenv("SCHEDULES_LOG_FILE", "/var/log/scheduler/scheduler.log")
    s = Settings()
    assert s.log_format == "json"
    assert s.log_file == Path("/var/log/scheduler/scheduler.log")
    monkeypatch.setenv("SCHEDULES_LOG_FILE", "")
    monkeypatch.delenv("SCHEDULES_LOG_FORMAT")
    assert (Settings().log_file, Settings().log_format) == (None, "text")
