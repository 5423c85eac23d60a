"""Checks that every code block marked `<!-- snippet: PATH#NAME -->` in the Markdown
files given on the command line equals the region between `--8<-- [start:NAME]` and
`--8<-- [end:NAME]` in PATH (dedented). Snippets are copied from files that run; this
keeps the copies honest. Exit status 1 lists every stale snippet.
"""
import re
import sys
import textwrap
from pathlib import Path

MARK = re.compile(r"<!-- snippet: (?P<path>[^#\s]+)#(?P<name>[\w-]+) -->\n```\w*\n(?P<body>.*?)```", re.S)


def region(path: Path, name: str) -> str:
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, l in enumerate(lines) if f"--8<-- [start:{name}]" in l)
    end = next(i for i, l in enumerate(lines) if f"--8<-- [end:{name}]" in l)
    return textwrap.dedent("".join(lines[start + 1 : end]))


def main() -> int:
    stale, seen = [], 0
    for doc in map(Path, sys.argv[1:]):
        for m in MARK.finditer(doc.read_text()):
            seen += 1
            want = region(Path(m["path"]), m["name"])
            if m["body"] != want:
                stale.append(f"{doc}: snippet {m['path']}#{m['name']} differs from its source")
    for line in stale:
        print(line, file=sys.stderr)
    print(f"snippets: {seen} checked, {len(stale)} stale")
    return 1 if stale or seen == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
