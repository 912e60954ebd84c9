"""Real servers for integration tests: nats-server with JetStream, chDB, gRPC on loopback.

chDB hosts one engine per process, so every in-process test shares one data directory and
isolates itself with a unique database, stream and subject.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import faults
import pytest
from pipeline import Pipeline, open_pipeline

from campaignreports.stack.processes import NatsServer


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server of the test's own, for a test that stops, kills or reconfigures it."""
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def shared_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One nats-server for the pipelines of a test module: each pipeline has a stream, subjects
    and a bucket of its own, so they never meet; a server per test cost a fifth of a second."""
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture
async def pipeline(shared_nats: NatsServer, chdb_dsn: str) -> AsyncIterator[Pipeline]:
    """Ingest, aggregator and query in this process."""
    async with open_pipeline(shared_nats, chdb_dsn, with_aggregator=True) as running:
        yield running


@pytest.fixture
async def pipeline_with_own_nats(nats_server: NatsServer, chdb_dsn: str) -> AsyncIterator[Pipeline]:
    """The pipeline over a nats-server of its own: for tests that stop it (`pipeline.nats`)."""
    async with open_pipeline(nats_server, chdb_dsn, with_aggregator=True) as running:
        yield running


@pytest.fixture
async def pipeline_without_aggregator(shared_nats: NatsServer, chdb_dsn: str) -> AsyncIterator[Pipeline]:
    """Ingest and query only: for tests that run their own aggregators."""
    async with open_pipeline(shared_nats, chdb_dsn, with_aggregator=False) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's table (`make chaos`), when fault cases ran."""
    if not faults.OUTCOMES:
        return
    terminalreporter.section("faults: nothing lost, nothing doubled")
    for line in faults.table():
        terminalreporter.write_line(line)
    faults.write_json(Path("bench-results/chaos.json"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Long tests first and side by side; files with a costly module fixture kept on one worker
    (`scheduling.py`)."""
    from scheduling import KeepTogetherScheduling

    return KeepTogetherScheduling(config, log)
