"""Temporal worker entry point: `python worker.py` = `hybrid-scheduler worker`.

Connects to TEMPORAL_ADDRESS, registers the workflows in `workflows/` and the activities
in `activities/` on SCHEDULES_TEMPORAL_TASK_QUEUE ("schedules"), and ensures the Temporal
Schedules `schedules-sync`, `schedules-cleanup` and `schedules-recovery` (see
workflows/schedules.py). The code lives in workflows.worker, which the installed
`hybrid-scheduler` command can import; this file is a convenience for a checkout.
"""

from __future__ import annotations

import sys

from scheduler.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
