"""``python -m waypost …``: runs the ``waypost`` command of the ``waypost-cli``
distribution (``pip install 'waypost[cli]'``) with the same arguments."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path


def _executable() -> Path | None:
    """The ``waypost`` executable that ``waypost-cli`` installed, or ``None``."""
    try:
        files = metadata.distribution("waypost-cli").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "waypost" and file.parent.name in ("bin", "scripts"):
            return Path(str(file.locate())).resolve()
    return None


def main() -> None:
    """Replaces this process with the ``waypost`` command, or says how to install it."""
    executable = _executable()
    if executable is None:
        sys.stderr.write(
            "waypost: the operator CLI is not installed; install it with\n"
            "    pip install 'waypost[cli]'\n"
        )
        sys.exit(2)
    os.execv(executable, ["waypost", *sys.argv[1:]])


if __name__ == "__main__":
    main()
