"""Dead letters: list what was dead-lettered, and replay it.

Two places know about dead letters: the dead-letter topic (KAFKA_DEAD_LETTER_TOPIC_NAME;
everything, with the reason in headers) and, with the cold tier, the `error` rows of
`event_schedules` (events that failed at publish, with every field of the event).
`model.py` says what an item and a replay are, `recover.py` turns a dead-letter message
into an item and, where possible, the event it was; `topic.py` reads the topic within a
bound; `service.py` lists, merges and replays.
"""
