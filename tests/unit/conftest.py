"""The unit layer: pure logic, no services, no sleeps (clocks are injected).

tests/conftest.py is loaded for these tests too, but it starts services only inside
fixtures (lazily, on first request), and its pytest_configure only sets environment
variables. The guard below keeps it that way: a unit test that asks for any fixture of
tests/conftest.py (they start or need Redis, the broker, chdb) fails at set-up, so
`pytest tests/unit` never starts a service. pytest's own fixtures (monkeypatch, caplog,
tmp_path, ...) and those defined under tests/unit are fine.
"""

from __future__ import annotations

import pytest

from unit.fakes import FakeClock

HERE = "tests/unit"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    fixtureinfo = getattr(item, "_fixtureinfo", None)
    if fixtureinfo is None:
        return
    foreign = sorted(
        name
        for name, defs in fixtureinfo.name2fixturedefs.items()
        # baseid: "" for plugins' fixtures, else the directory of the defining conftest.
        if defs and defs[-1].baseid and not defs[-1].baseid.startswith(HERE)
    )
    if foreign:
        pytest.fail(f"unit tests must not use the service tests' fixtures: {foreign}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
