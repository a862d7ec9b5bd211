"""Finding the command-line tools the deployment tests run.

They come from Debian packages that scripts/bootstrap.sh installs (`prometheus` for
promtool, `docker-compose`, `logrotate`; `systemd-analyze` is preinstalled). A missing
tool skips its tests with the package to install, except in CI (CI=true), where the
bootstrap has run and a missing tool is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def require(tool: str, package: str) -> str:
    # logrotate lives in /usr/sbin, which a non-root PATH may lack.
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if path:
        return path
    message = (
        f"{tool} is not installed: `apt-get install {package}` (scripts/bootstrap.sh installs it)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(args: list[str], cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
