"""`hybrid-scheduler dead-letters list|replay`, each run as its own process against a real
`serve --role api --role executor` on the session's Redis and Kafka (with a token): a
dead letter listed, a dry run, a replay that fires, a second replay that does nothing,
and bad input as one clear line."""

from __future__ import annotations

import json
import os
import time

from conftest import role_process, run_cli, wait_for_api

from devstack.services import free_port
from scheduler.hot.store import HotStore
from scheduler.kafka import ensure_topics
from scheduler.settings import Settings
from tests.deadletters.helpers import MAX_ATTEMPTS, doomed, exhaust

TOKEN = "dlq-secret"


async def test_list_dry_run_replay_and_again_from_the_command_line(
    settings: Settings, hot: HotStore, read_topic, uid: str
) -> None:
    topic = f"target-{uid}"
    await ensure_topics(settings, [topic, settings.dead_letter_topic])
    target = await read_topic(topic)
    await exhaust(hot, doomed("cli-1", topic))
    port = free_port()
    proc = role_process(
        settings,
        ["api", "executor"],
        SCHEDULES_API_PORT=str(port),
        SCHEDULES_API_TOKEN=TOKEN,
        SCHEDULES_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        SCHEDULES_METRICS_PORT="0",
    )
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SCHEDULES_API_URL": url, "SCHEDULES_API_TOKEN": TOKEN}
    try:
        wait_for_api(proc, url)
        deadline = time.monotonic() + 20
        while True:  # the executor dead-letters it at start
            listed = run_cli(env, "dead-letters", "list", "--json", "--topic", topic)
            assert listed.returncode == 0, listed.stderr
            items = json.loads(listed.stdout)["items"]
            if items or time.monotonic() > deadline:
                break
        (item,) = items
        assert (item["schedule_id"], item["reason"]) == ("cli-1", "retries_exhausted")

        table = run_cli(env, "dead-letters", "list", "--reason", "retries_exhausted")
        assert table.returncode == 0, table.stderr
        assert item["id"] in table.stdout and "replayable" in table.stdout

        dry = run_cli(env, "dead-letters", "replay", item["id"], "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run: 1 of 1 would be replayed" in dry.stdout
        assert (await hot.counts())["pending"] == 0

        done = run_cli(env, "dead-letters", "replay", item["id"])
        assert done.returncode == 0, done.stderr
        assert "1 of 1 replayed" in done.stdout and "cli-1" in done.stdout
        (fired,) = await target.read(1, timeout=20)
        assert dict(fired.headers)["schedule_id"] == b"cli-1"

        again = run_cli(env, "dead-letters", "replay", "--topic", topic, "--json")
        assert again.returncode == 0, again.stderr
        answer = json.loads(again.stdout)
        assert answer["replayed"] == 0
        assert [i["outcome"] for i in answer["items"]] == ["already_replayed"]
        assert len(await target.settle(quiet=1.0)) == 1

        bad = run_cli(env, "dead-letters", "list", "--since", "yesterday")
        assert bad.returncode == 1 and bad.stdout == ""
        (line,) = bad.stderr.splitlines()
        assert "since" in line and "(422)" in line
        no_token = run_cli({**env, "SCHEDULES_API_TOKEN": ""}, "dead-letters", "replay", "x")
        assert no_token.returncode == 1 and "401" in no_token.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)
