"""What a dead letter is, what a listing asks and answers, and what a replay reports.

The dataclasses are served as they are by the HTTP API (their descriptions are
/openapi.json's), like scheduler.cold.status.ScheduleStatus.

Ids name where a dead letter is, so a listing's item can be selected for replay:

    t:<partition>:<offset>          a message of the dead-letter topic
    c:<scheduled_us>:<schedule_id>  an `error` row of the cold tier (the table's key)

An event that is both on the topic and in ClickHouse is listed once, with the `c:` id
and the topic message's partition and offset.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class Reason(enum.StrEnum):
    """Why it was dead-lettered (the `x-dlq-reason` header)."""

    INVALID = "invalid"  # ingest: not a valid envelope
    BEYOND_HORIZON = "beyond_horizon"  # ingest: too far ahead with the cold tier off
    INTERNAL = "internal"  # ingest: a defect of ours while preparing it
    PERMANENT_ERROR = "permanent_error"  # publish: the broker refused it for good
    RETRIES_EXHAUSTED = "retries_exhausted"  # publish: SCHEDULES_MAX_ATTEMPTS failures
    UNREADABLE_PAYLOAD = "unreadable_payload"  # publish: Redis held no readable event
    UNKNOWN = "unknown"  # a message on the topic without one of ours


class Stage(enum.StrEnum):
    INGEST = "ingest"
    PUBLISH = "publish"


class Source(enum.StrEnum):
    """Where to look: the dead-letter topic, the cold tier's error rows, or both."""

    ALL = "all"
    TOPIC = "topic"
    COLD = "cold"


class Mode(enum.StrEnum):
    """A replay is a new attempt of the same schedule_id, or a new event with a new id
    (`r-` and a hash of the dead letter, so that it is the same new id every time)."""

    SAME_ID = "same_id"
    NEW_ID = "new_id"


class Outcome(enum.StrEnum):
    REPLAYED = "replayed"  # scheduled now
    WOULD_REPLAY = "would_replay"  # dry run: would be scheduled
    ALREADY_REPLAYED = "already_replayed"  # replayed before (replayed_as says as what)
    ALREADY_SCHEDULED = "already_scheduled"  # a live schedule holds that schedule_id
    NOT_REPLAYABLE = "not_replayable"  # no event to recover (detail says why)
    NOT_FOUND = "not_found"  # no dead letter with that id


@dataclass(frozen=True, slots=True)
class Query:
    """Which dead letters: every field narrows; `since`/`until` bound when it was
    dead-lettered; newest first, at most `limit`."""

    reason: Reason | None = None
    topic: str | None = None
    source: Source = Source.ALL
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT


@dataclass(slots=True)
class DeadLetter:
    """One dead-lettered message or event. Every field is in every answer (null when
    unknown); /openapi.json requires only those that are never null."""

    # Its own (a nested dataclass would take its container's): FastAPI leaves null out of
    # the documented examples, so a field that may be null is not required there.
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=False)

    id: Annotated[
        str,
        Field(
            description="Selects it for replay: `t:<partition>:<offset>` (a message of the "
            "dead-letter topic) or `c:<scheduled_us>:<schedule_id>` (a cold-tier error row)."
        ),
    ]
    sources: Annotated[
        list[Source], Field(description="Where it was found: `topic`, `cold`, or both.")
    ]
    reason: Reason
    dead_lettered_at: Annotated[
        datetime,
        Field(description="The dead-letter message's timestamp, else the error row's time."),
    ]
    stage: Annotated[
        Stage | None,
        Field(description="ingest (an envelope refused) or publish (an event not delivered)."),
    ] = None
    error: Annotated[str | None, Field(description="What went wrong, as recorded.")] = None
    topic: Annotated[str | None, Field(description="The event's target topic, when known.")] = None
    schedule_id: Annotated[
        str | None, Field(description="The event's schedule_id, when known.")
    ] = None
    scheduled_at: datetime | None = None
    entity_type: str | None = None
    action: str | None = None
    attempts: int | None = None
    body_bytes: Annotated[int, Field(description="Size of the body (or message value).")] = 0
    partition: Annotated[
        int | None, Field(description="On the dead-letter topic, when it is there.")
    ] = None
    offset: int | None = None
    replayable: bool = False
    not_replayable_reason: str | None = None
    replayed_as: Annotated[
        str | None, Field(description="The schedule_id of its replay, once replayed.")
    ] = None


@dataclass(slots=True)
class Page:
    """A listing: the newest matching dead letters first."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    items: list[DeadLetter]
    count: Annotated[int, Field(description="Items in this answer (at most `limit`).")]
    scanned: Annotated[
        int, Field(description="Messages read from the dead-letter topic for this answer.")
    ]
    complete: Annotated[
        bool,
        Field(
            description="false when more may match than were looked at: `limit` was reached, "
            "or the topic held more messages in the window than "
            "SCHEDULES_DEAD_LETTER_SCAN_LIMIT (narrow with since/until)."
        ),
    ]
    cold_tier: Annotated[
        bool, Field(description="Whether the cold tier's error rows were looked at.")
    ]


@dataclass(slots=True)
class ReplayItem:
    """What a replay did (or, in a dry run, would do) with one dead letter."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=False)

    id: str
    outcome: Outcome
    schedule_id: Annotated[
        str | None,
        Field(description="The replay's schedule_id (new, would-be, or earlier replay's)."),
    ] = None
    original_schedule_id: str | None = None
    topic: str | None = None
    scheduled_at: datetime | None = None
    detail: Annotated[
        str | None, Field(description="Why it was not replayed, when it was not.")
    ] = None


@dataclass(slots=True)
class ReplayResult:
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    dry_run: bool
    mode: Mode
    selected: Annotated[int, Field(description="Dead letters considered (ids or matches).")]
    replayed: Annotated[int, Field(description="Scheduled now (0 in a dry run).")]
    would_replay: Annotated[int, Field(description="Dry run: would be scheduled.")]
    skipped: Annotated[int, Field(description="Not replayed: see each item's outcome.")]
    items: list[ReplayItem] = field(default_factory=list)
