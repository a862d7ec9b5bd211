"""`hybrid-scheduler healthcheck` (cli/health.py), the image's HEALTHCHECK: which URLs it
asks, and its verdict against small HTTP servers of the test's own on loopback (the real
API answers it in tests/test_production_install.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli.health import HEALTH_PATH, check, default_urls
from cli.main import main


def test_default_urls_follow_the_roles_settings() -> None:
    assert default_urls({}) == [
        f"http://127.0.0.1:8000{HEALTH_PATH}",
        "http://127.0.0.1:9464/metrics",
    ]
    env = {"SCHEDULES_API_HOST": "0.0.0.0", "SCHEDULES_API_PORT": "8080"}
    assert default_urls({**env, "SCHEDULES_METRICS_PORT": "9500"}) == [
        f"http://127.0.0.1:8080{HEALTH_PATH}",
        "http://127.0.0.1:9500/metrics",
    ]
    assert default_urls({"SCHEDULES_API_HOST": "10.0.0.5", "SCHEDULES_METRICS_PORT": "0"}) == [
        f"http://10.0.0.5:8000{HEALTH_PATH}"
    ]
    assert default_urls({"SCHEDULES_API_HOST": "::1"})[0].startswith("http://[::1]:8000/")
    metrics = {"SCHEDULES_METRICS_HOST": "10.0.0.6", "SCHEDULES_METRICS_PORT": "9500"}
    assert default_urls(metrics)[1] == "http://10.0.0.6:9500/metrics"


def _server(status: int, body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[dict[int, str]]:
    """Base URLs by the status they answer."""
    running = {status: _server(status, b'{"status": "x"}') for status in (200, 503)}
    yield {status: f"http://127.0.0.1:{s.server_address[1]}" for status, s in running.items()}
    for s in running.values():
        s.shutdown()
        s.server_close()


@pytest.fixture
def closed_url() -> str:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/metrics"


def test_the_first_endpoint_that_answers_decides(servers: dict[int, str], closed_url: str) -> None:
    ok, line = check([closed_url, f"{servers[200]}/metrics"], 2.0)
    assert ok and line == f"healthy: {servers[200]}/metrics answered 200"
    ok, line = check([f"{servers[503]}{HEALTH_PATH}", f"{servers[200]}/metrics"], 2.0)
    assert not ok and line.startswith(f"unhealthy: {servers[503]}{HEALTH_PATH} answered 503")
    assert '{"status": "x"}' in line  # the API's answer says what is down


def test_nothing_answering_is_unhealthy(closed_url: str) -> None:
    assert check([closed_url], 2.0) == (False, f"unhealthy: nothing answers on {closed_url}")


def test_the_command_exits_0_or_1(
    servers: dict[int, str], closed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["healthcheck", "--url", closed_url, "--url", f"{servers[200]}/x"]) == 0
    assert capsys.readouterr().out.startswith("healthy: ")
    assert main(["healthcheck", "--url", closed_url]) == 1
    assert capsys.readouterr().err.startswith("unhealthy: nothing answers")
