"""Checks the relative links of the Markdown files given on the command line: every
`[text](path)` and `[text](path#anchor)` must name a file of the repository, and an anchor a
heading of that Markdown file (GitHub's and mdBook's slugs: lowercase, punctuation dropped,
spaces as hyphens). Web addresses are not fetched. Exit status 1 lists every broken link.
"""
import re
import sys
from pathlib import Path

LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m[1]) for m in re.finditer(r"^#{1,6} (.*)$", text, re.M)}


def main() -> int:
    broken, seen = [], 0
    for doc in map(Path, sys.argv[1:]):
        text = FENCE.sub("", doc.read_text())
        for m in LINK.finditer(text):
            target = m[1] or m[2]
            if re.match(r"^[a-z]+:", target):
                continue
            seen += 1
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc.resolve()
            if not file.exists():
                broken.append(f"{doc}: {target}: no such file")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file):
                broken.append(f"{doc}: {target}: no heading #{anchor}")
    for line in broken:
        print(line, file=sys.stderr)
    print(f"links: {seen} checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
