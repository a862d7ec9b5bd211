"""Development machinery, not part of the product's roles: the real Redis, Kafka-protocol
(Tansu) and Temporal servers started as child processes for `hybrid-scheduler dev` and
the tests (devstack.services), and ClickHouse's HTTP interface over the embedded chdb
engine (devstack.http_shim), which the tests use as a ClickHouse server and which, read-only,
lets operators query a product running on the embedded engine (devstack.sql_endpoint).

Only the command line and the tests import this; a role against a ClickHouse server
(CLICKHOUSE_URL) never does.
"""
