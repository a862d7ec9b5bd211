"""Ingest from Kafka: the delayed-topic consumer and the producer-side helper."""
