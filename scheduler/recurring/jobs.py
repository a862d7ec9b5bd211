"""What the periodic materialisation of recurring schedules takes and returns, shared by
scheduler.recurring, the Temporal activity and workflow. Standard library only (workflows
import it inside their sandbox); every field has a default, so `--input '{}'` works."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MaterializeInput:
    pass


@dataclass(slots=True)
class MaterializeResult:
    definitions: int = 0  # definitions reconciled
    materialized: int = 0  # occurrences stored (a repeat is not counted)
    cancelled: int = 0  # pending occurrences of replaced generations cancelled
    failed: int = 0  # definitions whose run failed (logged; the next run tries again)
    seconds: float = 0.0
