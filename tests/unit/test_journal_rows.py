"""Executor outcomes and schedules as ClickHouse rows (scheduler/cold/journal.py and
scheduler/cold/records.py): statuses, columns, versions. No ClickHouse: rows are tuples."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from scheduler.cold import records
from scheduler.cold.journal import hot_journal_rows, outcome_rows, result_status
from scheduler.cold.records import (
    CANCEL_BAND,
    COLUMNS,
    FINISHED,
    FIRST_VERSION,
    LIVE,
    OUTCOME_BAND,
    TOMBSTONE_BAND,
    Schedule,
    Status,
    Tier,
    cancel_version,
    change_version,
    outcome_version,
    row,
    tombstone_version,
)
from scheduler.cold.store import RESULT_COLUMNS
from scheduler.hot.outcome import Outcome, OutcomeStatus
from scheduler.models import Event
from unit.fakes import make_event

AT = 1_700_000_000.123456  # the event's scheduled time (whole microseconds)


def col(r: tuple[Any, ...], name: str) -> Any:
    return r[COLUMNS.index(name)]


def res(r: tuple[Any, ...], name: str) -> Any:
    return r[RESULT_COLUMNS.index(name)]


SUCCESS, RETRY, DEAD_LETTER, SKIPPED = (
    OutcomeStatus.SUCCESS,
    OutcomeStatus.RETRY,
    OutcomeStatus.DEAD_LETTER,
    OutcomeStatus.SKIPPED,
)


def outcome(status: OutcomeStatus, error: str | None = None, **kw: Any) -> Outcome:
    values: dict[str, Any] = {
        "event": make_event("s-1", at=AT),
        "status": status,
        "executed_at": AT + 2.5,
        "attempt": 1,
        "error": error,
        "node_id": "",
        "claimed_at": AT + 2.0,
    }
    values.update(kw)
    return Outcome(**values)


# --- result_status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "timed_out", "expected"),
    [
        (SUCCESS, None, False, "success"),
        (SKIPPED, "later than max_delay_seconds", False, "skipped"),
        (RETRY, "KafkaTimeoutError: not acknowledged within 15.0s", True, "timeout"),
        (RETRY, "RequestTimedOutError: [Error 7]", True, "timeout"),
        (RETRY, "NotLeaderForPartitionError: [Error 6]", False, "error"),
        (DEAD_LETTER, "retries_exhausted: KafkaTimeoutError: slow", True, "timeout"),
        (DEAD_LETTER, "permanent_error: MessageSizeTooLargeError: big", False, "error"),
        (DEAD_LETTER, "3 attempts failed", False, "error"),
        (DEAD_LETTER, None, False, "error"),
    ],
)
def test_result_status(
    status: OutcomeStatus, error: str | None, timed_out: bool, expected: str
) -> None:
    assert result_status(outcome(status, error, timed_out=timed_out)) == expected


@pytest.mark.parametrize("status", [RETRY, DEAD_LETTER])
def test_a_timeout_is_what_the_outcome_says_not_what_its_text_says(
    status: OutcomeStatus,
) -> None:
    """The executor decides timed_out from the exception's class; the text is not read."""
    mentions = outcome(status, "UnknownError: the broker said KafkaTimeoutError")
    assert result_status(mentions) == "error"
    assert result_status(outcome(status, "anything at all", timed_out=True)) == "timeout"
    assert result_status(outcome(status, None, timed_out=True)) == "timeout"


@pytest.mark.parametrize("status", [SUCCESS, SKIPPED])
def test_delivered_or_skipped_is_never_a_timeout(status: OutcomeStatus) -> None:
    assert result_status(outcome(status, timed_out=True)) == status.value


def test_result_statuses_are_plain_strings() -> None:
    """The row holds str, not the enum: the ClickHouse client sends exactly these bytes."""
    for status in OutcomeStatus:
        got = result_status(outcome(status))
        assert type(got) is str


# --- outcome_rows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "schedule_status", "final"),
    [
        (SUCCESS, Status.EXECUTED, True),
        (SKIPPED, Status.SKIPPED, True),
        (DEAD_LETTER, Status.ERROR, True),
        (RETRY, Status.TRANSFERRED, False),  # still in Redis, waiting for its retry
    ],
)
def test_each_outcome_becomes_a_schedule_version(
    status: OutcomeStatus, schedule_status: Status, final: bool
) -> None:
    before = change_version()
    (version,), (result,) = outcome_rows([outcome(status, "E: x", attempt=3)], "node")
    assert col(version, "status") == schedule_status.value
    assert col(version, "tier") == "hot"
    assert col(version, "attempts") == 3
    assert col(version, "error") == "E: x"
    v = col(version, "version")
    if final:
        # Outcomes are in their band: no non-final change can override them.
        assert OUTCOME_BAND < v < CANCEL_BAND
    else:
        assert before < v < OUTCOME_BAND
    assert res(result, "status") == result_status(outcome(status, "E: x"))


def test_the_execution_result_row() -> None:
    o = outcome(SUCCESS, attempt=3, node_id="")
    _, (r,) = outcome_rows([o], "fallback-node")
    assert len(r) == len(RESULT_COLUMNS)
    assert res(r, "schedule_id") == "s-1"
    assert res(r, "correlation_id") == "corr-9"
    assert (res(r, "topic"), res(r, "entity_type"), res(r, "action")) == (
        "user.notifications",
        "user",
        "send_reminder",
    )
    assert res(r, "scheduled_at") == 1_700_000_000_123_456
    assert res(r, "executed_at") == 1_700_000_002_623_456
    assert res(r, "delay_seconds") == pytest.approx(2.5)
    assert res(r, "status") == "success" and res(r, "error_message") is None
    assert res(r, "retry_count") == 2  # the third attempt: two retries before it
    assert res(r, "processing_time_ms") == 500  # claim to ack
    assert res(r, "node_id") == "fallback-node"  # the outcome named none
    _, (named,) = outcome_rows([outcome(SUCCESS, node_id="exec-7")], "fallback-node")
    assert res(named, "node_id") == "exec-7"


def test_result_rows_get_ids_of_their_own() -> None:
    _, results = outcome_rows([outcome(RETRY, "E"), outcome(RETRY, "E")], "n")
    ids = [res(r, "execution_id") for r in results]
    assert len(set(ids)) == 2 and all(len(i) == 26 for i in ids)  # ULIDs


def test_result_row_limits() -> None:
    _, (r,) = outcome_rows(
        [outcome(SUCCESS, attempt=1000, claimed_at=None, event=make_event(correlation_id=None))],
        "n",
    )
    assert res(r, "retry_count") == 255  # UInt8
    assert res(r, "processing_time_ms") == 0  # claim time unknown
    assert res(r, "correlation_id") == ""
    _, (first,) = outcome_rows([outcome(SUCCESS, attempt=0, claimed_at=AT + 9)], "n")
    assert res(first, "retry_count") == 0  # never negative
    assert res(first, "processing_time_ms") == 0  # an ack "before" the claim: clock skew


def test_an_unknown_outcome_is_not_journaled(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        exploded = outcome("exploded")  # type: ignore[arg-type]  # not an OutcomeStatus
        versions, results = outcome_rows([exploded, outcome(SUCCESS)], "n")
    assert [col(v, "status") for v in versions] == ["executed"]
    assert [res(r, "status") for r in results] == ["success"]
    assert "unknown outcome status 'exploded'" in caplog.text


# --- hot_journal_rows and row -------------------------------------------------------------


def test_hot_journal_rows_are_first_versions_stamped_at_creation() -> None:
    ev = make_event("h-1")
    (r,) = hot_journal_rows([ev])
    assert (col(r, "status"), col(r, "tier"), col(r, "version")) == ("transferred", "hot", 1)
    assert col(r, "updated_at") == col(r, "created_at") == 1_699_999_000_500_000
    assert col(r, "attempts") == 0 and col(r, "error") is None
    assert hot_journal_rows([]) == []


def test_row_has_every_column_in_order() -> None:
    ev = make_event("r-1", at=AT)
    r = row(ev, Status.PENDING, Tier.COLD, 42, attempts=70_000, error="e", started_us=5)
    assert len(r) == len(COLUMNS)
    assert dict(zip(COLUMNS, r, strict=True)) == {
        "schedule_id": "r-1",
        "topic": "user.notifications",
        "entity_type": "user",
        "action": "send_reminder",
        "body": b'{"user_id": 123}\x00\xff',
        "correlation_id": "corr-9",
        "headers": '{"priority":"high","trace":"h\u00e9"}',
        "scheduled_at": 1_700_000_000_123_456,
        "max_delay_seconds": 600,
        "priority": -7,
        "status": "pending",
        "tier": "cold",
        "attempts": 65535,  # UInt16
        "error": "e",
        "processing_started_at": 5,
        "created_at": 1_699_999_000_500_000,
        "updated_at": col(r, "updated_at"),
        "version": 42,
    }


def test_row_defaults_updated_at_to_now_and_empty_fields() -> None:
    ev = make_event(correlation_id=None, headers={})
    before = time.time_ns() // 1000
    r = row(ev, Status.EXECUTED, Tier.HOT, 1)
    assert before <= col(r, "updated_at") <= time.time_ns() // 1000
    assert col(r, "correlation_id") == "" and col(r, "headers") == "{}"
    assert col(r, "processing_started_at") is None


# --- Schedule.from_row --------------------------------------------------------------------


def test_a_row_reads_back_as_the_same_schedule() -> None:
    ev = make_event("rt-1", at=AT)
    r = row(ev, Status.PROCESSING, Tier.COLD, 99, attempts=2, error="boom", started_us=77)
    s = Schedule.from_row(r)
    assert s.event == ev
    assert (s.status, s.tier, s.attempts, s.error) == (Status.PROCESSING, Tier.COLD, 2, "boom")
    assert (s.processing_started_us, s.updated_us, s.version) == (77, col(r, "updated_at"), 99)
    assert s.key == (1_700_000_000_123_456, "rt-1")
    # A new version carries every other column over.
    again = s.version_row(Status.TRANSFERRED, Tier.HOT, 100)
    assert Schedule.from_row(again).event == ev
    assert col(again, "attempts") == 2 and col(again, "error") is None


def test_empty_correlation_id_and_headers_read_back_as_none_and_empty() -> None:
    s = Schedule.from_row(row(make_event(correlation_id=None, headers={}), Status.PENDING,
                              Tier.COLD, 1))  # fmt: skip
    assert s.event.correlation_id is None and s.event.headers == {}


@pytest.mark.parametrize("headers", ["not json", "[1, 2]", '"text"', "null"])
def test_unreadable_headers_are_ignored_not_fatal(
    headers: str, caplog: pytest.LogCaptureFixture
) -> None:
    r = list(row(make_event(), Status.PENDING, Tier.COLD, 1))
    r[COLUMNS.index("headers")] = headers
    with caplog.at_level(logging.ERROR):
        s = Schedule.from_row(r)
    assert s.event.headers == {}
    assert "unreadable headers" in caplog.text


def test_header_values_of_other_types_are_read_as_text() -> None:
    r = list(row(make_event(), Status.PENDING, Tier.COLD, 1))
    r[COLUMNS.index("headers")] = '{"n": 1, "b": true}'
    assert Schedule.from_row(r).event.headers == {"n": "1", "b": "True"}


def test_an_unknown_status_in_a_row_is_refused() -> None:
    r = list(row(make_event(), Status.PENDING, Tier.COLD, 1))
    r[COLUMNS.index("status")] = "exploded"
    with pytest.raises(ValueError, match="exploded"):
        Schedule.from_row(r)


# --- versions -----------------------------------------------------------------------------


def test_version_bands_order_every_kind_of_change() -> None:
    """Called in reverse order of precedence: which version wins never depends on time."""
    tomb, cancel, out, change = (
        tombstone_version(),
        cancel_version(),
        outcome_version(),
        change_version(),
    )
    assert FIRST_VERSION < change < OUTCOME_BAND < out < CANCEL_BAND < cancel < TOMBSTONE_BAND
    assert TOMBSTONE_BAND < tomb < 2**64  # still a UInt64


def test_change_versions_never_repeat_or_go_back(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = [change_version()]
    # The wall clock stands still, then jumps back an hour (NTP): versions still rise.
    stuck = seen[0] * 1000
    monkeypatch.setattr(records.time, "time_ns", lambda: stuck)
    seen += [change_version() for _ in range(3)]
    monkeypatch.setattr(records.time, "time_ns", lambda: stuck - 3_600 * 10**9)
    seen += [change_version(), outcome_version() - OUTCOME_BAND, change_version()]
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_live_and_finished_statuses_split_them_all() -> None:
    assert set(Status) == LIVE | FINISHED and not LIVE & FINISHED
    assert Status.TRANSFERRED in LIVE and Status.CANCELLED in FINISHED


def test_first_columns_are_first_rows_column_by_column() -> None:
    """The column-oriented first versions (Kafka ingest's journal) hold what first_rows
    does; the columns they leave out are the table defaults a first version has."""
    events = [
        Event(schedule_id="a", topic="t", body=b"x", scheduled_at=1_700_000_000.25),
        Event(
            schedule_id="b",
            topic="u",
            body=b'{"k": 1}',
            scheduled_at=1_700_000_100.0,
            entity_type="user",
            action="send",
            correlation_id="c-1",
            headers={"h": "v"},
            max_delay_seconds=60,
            priority=-3,
            created_at=1_699_999_999.5,
        ),
    ]
    rows = records.first_rows(events, Status.TRANSFERRED, Tier.HOT)
    columns = records.first_columns(events, Status.TRANSFERRED, Tier.HOT)
    index = {name: i for i, name in enumerate(COLUMNS)}
    for name, column in zip(records.FIRST_COLUMNS, columns, strict=True):
        assert column == [r[index[name]] for r in rows], name
    # Every column a list of its own: the ingest journal extends them batch by batch.
    assert len({id(column) for column in columns}) == len(columns)
    left_out = [name for name in COLUMNS if name not in records.FIRST_COLUMNS]
    assert {name: [r[index[name]] for r in rows] for name in left_out} == {
        "attempts": [0, 0],
        "error": [None, None],
        "processing_started_at": [None, None],
    }
