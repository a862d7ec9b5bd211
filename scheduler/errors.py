"""Every error the product raises on purpose. The docstring is the default message."""

from __future__ import annotations


class SchedulerError(Exception):
    """The scheduler failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(SchedulerError):
    """A setting is invalid."""


class EmbeddedEngineMissing(ConfigError):
    """the embedded ClickHouse engine is not installed: set CLICKHOUSE_URL to a ClickHouse \
server, or `pip install 'hybrid-scheduler[embedded]'`"""


class InvalidEvent(SchedulerError):
    """The event is invalid."""

    def __init__(self, message: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BeyondHorizon(InvalidEvent):
    """The event is due beyond the immediate horizon and the cold tier is disabled."""


class ServiceUnavailable(SchedulerError):
    """A backing service (Redis, Kafka, ClickHouse or Temporal) is unavailable."""


class NotReplicated(ServiceUnavailable):
    """A Redis write did not reach SCHEDULES_REDIS_MIN_REPLICAS_ACK replicas in time, so it \
is not confirmed as stored; try again."""


class StartupError(SchedulerError):
    """An embedded service did not start."""


class ClickHouseQueryError(SchedulerError):
    """ClickHouse rejected a statement."""

    code: int | None = None  # ClickHouse's error code (60 = unknown table, ...), if known


class MigrationError(SchedulerError):
    """The ClickHouse schema does not match the migration files."""


class PendingMigrations(MigrationError):
    """ClickHouse has migrations that were not applied: run `hybrid-scheduler migrate`."""


class MigrationChecksumMismatch(MigrationError):
    """A ClickHouse migration file changed after it was applied; add a new migration instead."""


class ReadOnlySql(SchedulerError):
    """Only read-only SQL (SELECT, WITH, SHOW, DESCRIBE, DESC, EXPLAIN, EXISTS) runs here."""


class RecurringNotFound(SchedulerError):
    """No such recurring schedule."""


class RecurringConflict(SchedulerError):
    """The recurring schedule is not in the state this change expects (another version,
    or it already exists with another definition)."""


class UnknownSchedule(SchedulerError):
    """No schedule has this schedule_id."""


class ScheduleConflict(SchedulerError):
    """The schedule cannot be changed: it is in flight or finished."""

    def __init__(self, message: str | None = None, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state  # in_flight, or the status it finished with
