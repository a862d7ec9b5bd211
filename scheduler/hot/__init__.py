"""The hot tier: events due within the immediate horizon, in Redis, fired by the executor."""
