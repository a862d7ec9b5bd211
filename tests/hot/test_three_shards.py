"""A representative subset of the hot tier's tests again, with three shards on one Redis
(SCHEDULES_REDIS_SHARDS=3): the `settings` fixture below gives every store, executor
and control these tests build three shards. Left out: tests of one order across all
events (priority first, then time; one claim of them all), which holds within a shard
(README "Redis keys"); tests/hot/test_shards.py has their three-shard counterparts."""

from __future__ import annotations

import pytest
from hot.test_executor import (
    test_an_earlier_event_wakes_a_sleeping_executor,
    test_events_never_fire_early_and_each_fires_once,
    test_exhausted_retries_go_to_the_dead_letter_topic,
)
from hot.test_pause import (
    pauses,
    test_pause_all_holds_every_event_until_resume,
    test_topic_pause_holds_that_topic_only,
    topic,
)
from hot.test_rate_limit import (
    limits,
    test_limits_are_checked_reported_and_override_the_settings,
    topics,
)
from hot.test_store import (
    test_ack_needs_the_current_lease_token,
    test_cancel_reports_each_state,
    test_reaped_in_flight_cancel_is_not_resurrected,
    test_same_schedule_id_twice_keeps_the_first_event,
)

from scheduler.settings import Settings

__all__ = [
    "limits",
    "pauses",
    "test_ack_needs_the_current_lease_token",
    "test_an_earlier_event_wakes_a_sleeping_executor",
    "test_cancel_reports_each_state",
    "test_events_never_fire_early_and_each_fires_once",
    "test_exhausted_retries_go_to_the_dead_letter_topic",
    "test_limits_are_checked_reported_and_override_the_settings",
    "test_pause_all_holds_every_event_until_resume",
    "test_reaped_in_flight_cancel_is_not_resurrected",
    "test_same_schedule_id_twice_keeps_the_first_event",
    "test_topic_pause_holds_that_topic_only",
    "topic",
    "topics",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"redis_shards": 3})
