"""Reading Prometheus expositions in tests: the samples of a text, an HTTP GET, and
waiting for a process's endpoint."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

MON = "/api/v1/schedules/monitoring"
QUEUE_GAUGES = (
    "schedules_redis_pending",
    "schedules_in_flight",
    "schedules_held",
    "schedules_pauses",
)


def samples(text: str) -> dict[str, float]:
    """Unlabelled samples (and `name{labels}` for labelled ones) of an exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def wait_for(url: str, proc: subprocess.Popen[bytes], *names: str, timeout: float = 60) -> str:
    """`url`'s answer once it answers (and, for /metrics, has a sample of each of
    `names`: the endpoint listens before the process has connected to the stores)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = get(url)
            if not names or set(names) <= set(samples(text)):
                return text
        except (urllib.error.URLError, ConnectionError):
            pass
        assert proc.poll() is None, f"the process exited ({proc.returncode})"
        assert time.monotonic() < deadline, f"{url}: no answer with {names} in {timeout}s"
        time.sleep(0.1)
