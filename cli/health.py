"""`hybrid-scheduler healthcheck`: exit 0 when the role running on this host answers, 1
when it does not. The image's HEALTHCHECK runs it (python is in the image, curl is not);
it needs no settings and imports the standard library only, so it starts in tens of ms.

It asks, on this host, the HTTP API's health endpoint (SCHEDULES_API_PORT, default 8000:
200 when healthy or degraded, 503 when Redis is down), then the role's Prometheus endpoint
(SCHEDULES_METRICS_PORT, default 9464, /metrics; 0 = none), each on its
SCHEDULES_*_HOST, or 127.0.0.1 when that is every interface. The first that answers
decides; a port where nothing listens is skipped. `--url` (repeatable) replaces both.
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

HEALTH_PATH = "/api/v1/schedules/monitoring/health"
DEFAULT_API_PORT = 8000
DEFAULT_METRICS_PORT = 9464
_ANY_HOST = {"", "0.0.0.0", "::", "[::]"}


def add_command(sub: Any) -> None:
    parser = sub.add_parser(
        "healthcheck",
        help="exit 0 if this host's role answers: the API's health, else /metrics "
        "(for container health checks)",
    )
    parser.add_argument(
        "--url",
        action="append",
        help="ask this URL instead (repeat for several; the first that answers decides)",
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per request (3)")


def _local(host: str) -> str:
    """Where to reach a server bound to `host` from this host."""
    host = host.strip()
    if host in _ANY_HOST:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host  # IPv6


def default_urls(env: Mapping[str, str]) -> list[str]:
    """The API's health endpoint, then the metrics endpoint, from the roles' settings."""
    api = _local(env.get("SCHEDULES_API_HOST", ""))
    api_port = env.get("SCHEDULES_API_PORT") or DEFAULT_API_PORT
    urls = [f"http://{api}:{api_port}{HEALTH_PATH}"]
    metrics_port = (env.get("SCHEDULES_METRICS_PORT") or str(DEFAULT_METRICS_PORT)).strip()
    if metrics_port != "0":
        metrics = _local(env.get("SCHEDULES_METRICS_HOST", ""))
        urls.append(f"http://{metrics}:{metrics_port}/metrics")
    return urls


def probe(url: str, timeout: float) -> tuple[int, bytes] | None:
    """The status and body of GET `url`; None when nothing listens there."""
    parts = urlsplit(url)
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        reply = conn.getresponse()
        return reply.status, reply.read(2000)
    except ConnectionRefusedError:
        return None
    finally:
        conn.close()


def check(urls: Sequence[str], timeout: float) -> tuple[bool, str]:
    """(healthy, one line saying why)."""
    for url in urls:
        try:
            answer = probe(url, timeout)
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, bad replies
            return False, f"unhealthy: {url}: {type(exc).__name__}: {exc}"
        if answer is None:
            continue
        status, body = answer
        text = body.decode("utf-8", "replace").strip()
        if status == 200:
            return True, f"healthy: {url} answered 200"
        detail = f": {text[:300]}" if text else ""
        return False, f"unhealthy: {url} answered {status}{detail}"
    return False, f"unhealthy: nothing answers on {', '.join(urls)}"


def cmd_healthcheck(args: argparse.Namespace) -> int:
    ok, line = check(args.url or default_urls(os.environ), args.timeout)
    print(line, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
