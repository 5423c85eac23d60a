"""What the crash tests share: run a script, SIGKILL it at a chosen moment, and keep
every line it had printed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def run_then_kill(script: Path, args: list[str], lines: int, take: Callable[[bytes], None]) -> None:
    """Runs `script` with `args`, SIGKILLs it once it has printed `lines` lines, and hands
    each line it printed to `take` (those still in the pipe after the kill too; a line cut
    short by the kill arrives without its newline)."""
    with subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        for _ in range(lines):
            line = child.stdout.readline()
            if not line:
                child.wait()
                raise AssertionError(f"{script.name} stopped: {child.stderr.read().decode()}")
            take(line)
        child.kill()
        for line in child.stdout:
            take(line)
