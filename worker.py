"""Temporal worker entry point (issue 5; also `hybrid-scheduler worker` then).

It will connect to TEMPORAL_ADDRESS, register the workflows in `workflows/` and the
activities in `activities/` on the `schedules` task queue, and ensure the Temporal
Schedules `schedules-sync`, `schedules-cleanup` and `schedules-recovery`. Until then the
sync, cleanup and recovery run in-process in `hybrid-scheduler serve`/`dev`.
"""

from __future__ import annotations

import sys


def main() -> int:
    print(
        "worker.py: the Temporal worker is not built yet (issue 5); "
        "`hybrid-scheduler dev` runs sync, cleanup and recovery in-process meanwhile",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
