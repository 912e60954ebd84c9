"""Bookkeeping of the fault suite: each case records what it accepted and what was counted,
and `make chaos` prints the table (see conftest.pytest_terminal_summary)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Outcome:
    fault: str
    accepted: int  # distinct events the clients were told are stored
    counted: int  # what the rollups count
    lost: int
    doubled: int
    recovery_seconds: float  # from the end of the fault to every event counted


OUTCOMES: list[Outcome] = []
# Fault tests carry this marker: `pytest -m chaos` (`make chaos`) runs them alone.
chaos = pytest.mark.chaos


def record(
    fault: str,
    accepted_ids: set[str],
    counted: int,
    recovery_seconds: float,
    stored_ids: set[str] | None = None,
) -> Outcome:
    """Record a case; lost and doubled from the stored ids when known, else from the counts."""
    if stored_ids is not None:
        lost = len(accepted_ids - stored_ids)
        doubled = max(0, counted - len(stored_ids)) + len(stored_ids - accepted_ids)
    else:
        lost, doubled = max(0, len(accepted_ids) - counted), max(0, counted - len(accepted_ids))
    outcome = Outcome(fault, len(accepted_ids), counted, lost, doubled, round(recovery_seconds, 2))
    OUTCOMES.append(outcome)
    return outcome


def table() -> list[str]:
    header = f"{'fault':<58} {'accepted':>9} {'counted':>9} {'lost':>5} {'doubled':>8} {'recovery s':>11}"
    lines = [header, "-" * len(header)]
    for o in OUTCOMES:
        counts = f"{o.accepted:>9,} {o.counted:>9,} {o.lost:>5} {o.doubled:>8}"
        lines.append(f"{o.fault:<58} {counts} {o.recovery_seconds:>11.2f}")
    return lines


def write_json(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(o) for o in OUTCOMES], indent=2))
