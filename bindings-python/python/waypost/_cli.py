"""The ``waypost`` console script: the same operator CLI as the Rust binary
(``waypost status``, ``lag``, ``reset``, ``claims``, ``demo``, ``serve``)."""

from __future__ import annotations

import sys

from ._waypost import _run_cli


def main() -> None:
    """Entry point of the ``waypost`` console script."""
    sys.exit(_run_cli(["waypost", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
