#!/usr/bin/env python3
"""check_links.py — every relative link in the top-level *.md files and docs/*.md resolves.

A link `[text](path)` or image `![alt](path)` must name an existing file or folder, relative to
the markdown file that holds it; a `#fragment` (alone or after a .md path) must match a heading
of the target file (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens).
External links (http:, https:, mailto:) are not fetched. Code blocks and inline code are
skipped. Exit 1 with one line per broken link, else 0.

    python3 scripts/check_links.py            # README.md, CHANGELOG.md, ... and docs/*.md
    python3 scripts/check_links.py FILE.md ...
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text):
    """(line number, line) outside fenced code blocks, inline code removed."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, INLINE_CODE.sub("", line)


def slug(heading):
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    heading = re.sub(r"<[^>]+>", "", heading)
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        seen, out = {}, set()
        fenced = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if FENCE.match(line):
                fenced = not fenced
                continue
            m = None if fenced else HEADING.match(line)
            if m:
                s = slug(m.group(2))
                k = seen.get(s, 0)
                seen[s] = k + 1
                out.add(s if k == 0 else f"{s}-{k}")
        for m in re.finditer(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")):
            out.add(m.group(1))
        cache[path] = out
    return cache[path]


def check(md):
    bad = []
    text = md.read_text(encoding="utf-8")
    for n, line in prose_lines(text):
        for m in LINK.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue
            path, _, frag = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            where = f"{md.relative_to(ROOT)}:{n}: {target}"
            if not dest.exists():
                bad.append(f"{where}: no such file")
            elif frag and dest.suffix == ".md" and frag not in anchors(dest):
                bad.append(f"{where}: no heading #{frag} in {dest.relative_to(ROOT)}")
    return bad


def main(argv):
    files = [pathlib.Path(a).resolve() for a in argv[1:]] or sorted(
        list(ROOT.glob("*.md")) + list((ROOT / "docs").glob("*.md"))
    )
    bad = [b for f in files for b in check(f)]
    for b in bad:
        print(b, file=sys.stderr)
    print(f"check_links: {len(files)} file(s), {len(bad)} broken link(s)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
