"""A process's Prometheus endpoint: http://SCHEDULES_METRICS_HOST:SCHEDULES_METRICS_PORT/metrics.

    endpoint = serve_metrics(settings)   # None when SCHEDULES_METRICS_PORT is 0
    ...
    endpoint.close()

One per process (`serve` with any roles, `worker`, `dev`), whatever it runs: it serves
prometheus_client's REGISTRY, where every metric of scheduler.metrics lives (the roles',
the HTTP API's, the Temporal activities' job metrics) and, while a Runtime runs, the
queue gauges read from the stores on scrape (scheduler.collector). It is
prometheus_client's own WSGI server in a daemon thread: scrapes never run on the event
loop, and the loop never waits for a scrape. The HTTP API's .../monitoring/metrics
serves the same registry.
"""

from __future__ import annotations

import errno
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scheduler.errors import ConfigError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from scheduler.settings import Settings


def metrics_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/metrics"


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    thread: threading.Thread
    url: str

    def close(self) -> None:
        """Stop serving (a scrape in progress finishes) and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(settings: Settings) -> MetricsEndpoint | None:
    """Listen on SCHEDULES_METRICS_HOST:SCHEDULES_METRICS_PORT now (None for port 0); a
    port in use is a ConfigError naming the setting."""
    host, port = settings.metrics_host, settings.metrics_port
    if not port:
        return None
    from prometheus_client import start_http_server  # not for every command: ~30 ms

    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        why = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ConfigError(
            f"the metrics endpoint cannot listen on {host}:{port} (SCHEDULES_METRICS_HOST, "
            f"SCHEDULES_METRICS_PORT): {why}. Give each process on a host a port of its "
            "own, or SCHEDULES_METRICS_PORT=0 for none"
        ) from exc
    return MetricsEndpoint(server, thread, metrics_url(host, port))
