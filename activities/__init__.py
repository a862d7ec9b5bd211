"""Temporal activities (issue 5): methods on classes built with their clients (Redis,
ClickHouse, Kafka) that call the operations in `scheduler/cold/` in bounded batches."""
