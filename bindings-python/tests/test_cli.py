"""The ``waypost`` console script that ``pip install`` puts beside the interpreter: the
operator CLI, here running the stop-resume demo and reading it back."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def waypost(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("waypost", path=str(Path(sys.executable).parent))
    assert script is not None, "the console script is installed with the package"
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_console_script_runs_the_demo_and_reports(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    assert waypost("demo", "append", "--events", "20", "--db", db).returncode == 0
    stopped = waypost("demo", "process", "--stop-after", "5", "--db", db)
    assert stopped.returncode == 0, stopped.stderr
    status = waypost("demo", "status", "--db", db)
    assert "Status: Behind by 15 events (25.0% complete)" in status.stdout
    [row] = json.loads(waypost("status", "--json", "--url", f"sqlite:{db}").stdout)
    assert (row["projectionName"], row["checkpoint"], row["lag"], row["state"]) == ("UserDirectory", 5, 15, "CatchingUp")


def test_the_console_script_exit_codes(tmp_path: Path) -> None:
    assert waypost("lag", "Nobody", "--url", "memory:").returncode == 1
    assert waypost("frobnicate").returncode == 2
    assert waypost("status", "--url", "postgres://postgres@127.0.0.1:1/postgres").returncode == 3
    assert "serve" in waypost("--help").stdout
