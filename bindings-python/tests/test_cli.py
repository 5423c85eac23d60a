"""The ``waypost`` command that ``pip install 'waypost[cli]'`` puts beside the interpreter
(the ``waypost-cli`` distribution, a native executable): the operator CLI, here running the
stop-resume demo and reading it back, directly and through ``python -m waypost``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import waypost as waypost_package
from packaging.requirements import Requirement


def waypost(*args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("waypost", path=str(Path(sys.executable).parent))
    assert script is not None, "the waypost-cli executable is installed beside the interpreter"
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_command_runs_the_demo_and_reports(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    assert waypost("demo", "append", "--events", "20", "--db", db).returncode == 0
    stopped = waypost("demo", "process", "--stop-after", "5", "--db", db)
    assert stopped.returncode == 0, stopped.stderr
    status = waypost("demo", "status", "--db", db)
    assert "Status: Behind by 15 events (25.0% complete)" in status.stdout
    [row] = json.loads(waypost("status", "--json", "--url", f"sqlite:{db}").stdout)
    assert (row["projectionName"], row["checkpoint"], row["lag"], row["state"]) == ("UserDirectory", 5, 15, "CatchingUp")


def test_the_command_exit_codes(tmp_path: Path) -> None:
    assert waypost("lag", "Nobody", "--url", "memory:").returncode == 1
    assert waypost("frobnicate").returncode == 2
    assert waypost("status", "--url", "postgres://postgres@127.0.0.1:1/postgres").returncode == 3
    assert "serve" in waypost("--help").stdout


def test_python_dash_m_waypost_runs_the_same_command(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    assert waypost("demo", "append", "--events", "3", "--db", db).returncode == 0
    assert waypost("demo", "process", "--stop-after", "1", "--db", db).returncode == 0
    run = subprocess.run(
        [sys.executable, "-m", "waypost", "status", "--json", "--url", f"sqlite:{db}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stderr
    [row] = json.loads(run.stdout)
    assert (row["projectionName"], row["checkpoint"], row["lag"]) == ("UserDirectory", 1, 2)
    missing = subprocess.run(
        [sys.executable, "-m", "waypost", "frobnicate"], capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 2 and "frobnicate" in missing.stderr


def test_the_cli_extra_pins_the_cli_of_this_version() -> None:
    [cli] = [Requirement(text) for text in metadata.requires("waypost") or [] if text.startswith("waypost-cli")]
    assert (str(cli.specifier), cli.marker is not None and cli.marker.evaluate({"extra": "cli"})) == (
        f"=={waypost_package.__version__}",
        True,
    )
    assert metadata.version("waypost-cli") == waypost_package.__version__
    assert not [ep for ep in metadata.entry_points(group="console_scripts") if ep.dist and ep.dist.name == "waypost"]
