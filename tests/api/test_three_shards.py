"""Some of the HTTP API's schedule and idempotency tests again with three shards on one
Redis (SCHEDULES_REDIS_SHARDS=3): the `settings` fixture below gives the app, the `hot`
store the tests look into and the cold-tier variant (`hybrid_settings`) three shards."""

from __future__ import annotations

import pytest

from api.test_idempotency import (
    test_concurrent_batches_and_posts_of_one_id_create_once,
    test_concurrent_posts_of_one_id_store_one_and_create_once,
)
from api.test_schedules import (
    test_batch_repeats_and_known_ids_answer_the_existing_schedule,
    test_batch_reports_each_item,
    test_cold_and_hot_in_one_batch,
    test_same_schedule_id_again_is_200_and_one_event,
    test_schedule_then_get_then_cancel,
)
from scheduler.settings import Settings

__all__ = [
    "test_batch_repeats_and_known_ids_answer_the_existing_schedule",
    "test_batch_reports_each_item",
    "test_cold_and_hot_in_one_batch",
    "test_concurrent_batches_and_posts_of_one_id_create_once",
    "test_concurrent_posts_of_one_id_store_one_and_create_once",
    "test_same_schedule_id_again_is_200_and_one_event",
    "test_schedule_then_get_then_cancel",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"redis_shards": 3})
