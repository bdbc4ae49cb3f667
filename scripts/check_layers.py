#!/usr/bin/env python3
"""check_layers.py — the import rules of ARCHITECTURE.md, enforced.

Every top-level module of src/ sits on one layer (LAYERS below, lowest first). A module may
import (`crate::…`) only modules on its own layer or below; imports between modules of one
layer must not form a cycle; and inside a module directory the files must not import each
other in a cycle (a file's imports of its own parent `mod.rs` do not count). Test modules
(`#[cfg(test)] mod tests`) are ignored.

    python3 scripts/check_layers.py          # exit 0, or 1 with every violation listed
    python3 scripts/check_layers.py --graph  # also print the module graph

Standard library only; runs in well under a second.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# Lowest first. A module may import only modules of its own layer or a lower one.
LAYERS = [
    ("foundation", ["error_chain", "setting", "text", "technique", "home", "http", "fileio"]),
    ("domain", ["catalog", "data", "target", "stats"]),
    (
        "tools",
        ["embed", "ann", "nearcopy", "cluster", "learn", "llm", "desensitize", "prompt", "filter"],
    ),
    ("records", ["outcome", "output", "journal", "report", "config", "html"]),
    ("stages", ["generate"]),
    ("pipeline", ["pipeline"]),
    ("uses", ["eval", "export"]),
    ("cli", ["cli", "main"]),
]
RANK = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}


def strip_literals(src: str) -> str:
    """The source without comments (line, nested block) and string / char literals (plain,
    byte, raw with any number of `#`), so that only code is matched; line breaks are kept."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if src.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif src.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    out.append("\n" if src[i] == "\n" else "")
                    i += 1
        elif re.match(r'(?:b?r)(#*)"', src[i:i + 260]) and not (i and (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'(?:b?r)(#*)"', src[i:])
            end = '"' + m.group(1)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j
        elif c == '"' or (c == "b" and src.startswith('b"', i) and not (i and src[i - 1].isalnum())):
            j = i + (2 if c == "b" else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(?:\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            if m:
                out.append("' '")
                i += m.end()
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_tests(src: str) -> str:
    """The source (already without literals) without `#[cfg(test)] mod tests { … }` blocks."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", src):
        if m.start() < i:
            continue
        out.append(src[i : m.start()])
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        i = j
    out.append(src[i:])
    return "".join(out)


def files():
    for dp, _, fs in os.walk(ROOT):
        for fn in sorted(fs):
            if fn.endswith(".rs"):
                yield os.path.join(dp, fn)


def module_of(path: str):
    parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts == ["lib"]:
        return []
    return parts


def crate_paths(src: str):
    """Every `crate::a::b` path, `use crate::{a, b::c}` groups expanded (first two segments)."""
    found = set()
    src = re.sub(r"\s*::\s*", "::", src)
    for m in re.finditer(r"\bcrate::\{([^;]*?)\}\s*;", src, re.S):
        for part in re.split(r",(?![^{]*\})", m.group(1)):
            segs = [s for s in re.split(r"::", part.strip()) if s and not s.startswith("{")]
            if segs:
                found.add(tuple(s.strip("{} \n") for s in segs[:2]))
    for m in re.finditer(r"\bcrate::(\w+)(?:::(\w+))?", src):
        found.add(tuple(x for x in m.groups() if x))
    return found


def super_paths(src: str, mod, is_dir_module: bool):
    """`super::x` (and `super::super::x`) as absolute module paths; `super` of a top-level
    file is the crate root."""
    src = re.sub(r"\s*::\s*", "::", src)
    found = set()
    # the module a `super` chain starts from: a `mod.rs` file is its directory's module
    for m in re.finditer(r"\b((?:super::)+)(\w+)", src):
        ups = m.group(1).count("super::")
        base = mod[: max(len(mod) - ups, 0)]
        found.add(tuple(base + [m.group(2)]))
    return found


def find_cycle(nodes, edges):
    """One cycle of the directed graph, as a list of nodes, or None."""
    color, stack = {}, []

    def visit(n):
        color[n] = 1
        stack.append(n)
        for t in sorted(edges.get(n, ())):
            if color.get(t) == 1:
                return stack[stack.index(t) :] + [t]
            if color.get(t) is None:
                c = visit(t)
                if c:
                    return c
        stack.pop()
        color[n] = 2
        return None

    for n in sorted(nodes):
        if color.get(n) is None:
            c = visit(n)
            if c:
                return c
    return None


def main() -> int:
    problems = []
    top_edges = {}
    sibling_edges = {}  # parent -> {child: {child}}
    known_files = {tuple(module_of(f)) for f in files()}
    for f in files():
        mod = module_of(f)
        src = strip_tests(strip_literals(open(f, encoding="utf-8").read()))
        rel = os.path.relpath(f, os.path.join(ROOT, ".."))
        if not mod:
            continue
        top = mod[0]
        if top not in RANK:
            problems.append(f"{rel}: module `{top}` has no layer in scripts/check_layers.py")
            continue
        if re.search(r"\buse\s+crate\s+as\b", src):
            problems.append(f"{rel}: `use crate as …` hides imports from this check")
        paths = set(crate_paths(src))
        for p in super_paths(src, mod, f.endswith("mod.rs")):
            if p and p[0] != top:
                paths.add(tuple(p[:2]))
        for path in paths:
            target = path[0]
            if target not in RANK:
                continue  # a crate-root item (e.g. a re-export); checked by the compiler
            if target != top:
                top_edges.setdefault(top, set()).add(target)
                if RANK[target] > RANK[top]:
                    problems.append(
                        f"{rel}: `{top}` ({LAYERS[RANK[top]][0]}) imports `{target}` "
                        f"({LAYERS[RANK[target]][0]}), a higher layer"
                    )
            elif len(path) > 1 and len(mod) > 1 and (top, path[1]) in known_files:
                # crate::top::sibling from inside top/
                if mod[1] != path[1]:
                    sibling_edges.setdefault(top, {}).setdefault(mod[1], set()).add(path[1])
        if len(mod) > 1:
            for p in super_paths(src, mod, f.endswith("mod.rs")):
                if len(p) == len(mod) and tuple(p) in known_files and p[-1] != mod[-1]:
                    parent = "::".join(mod[:-1])
                    sibling_edges.setdefault(parent, {}).setdefault(mod[-1], set()).add(p[-1])
    # cycles between modules (of one layer; across layers the rank rule already forbids them)
    cycle = find_cycle(set(RANK), top_edges)
    if cycle:
        problems.append("import cycle between modules: " + " -> ".join(cycle))
    for parent, edges in sorted(sibling_edges.items()):
        cycle = find_cycle(set(edges) | {t for ts in edges.values() for t in ts}, edges)
        if cycle:
            problems.append(f"import cycle inside `{parent}`: " + " -> ".join(cycle))
    if "--graph" in sys.argv:
        for name, ms in LAYERS:
            for m in ms:
                print(f"{name:10} {m:12} -> {' '.join(sorted(top_edges.get(m, ())))}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_layers: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_layers: {len(RANK)} modules on {len(LAYERS)} layers, no upward import, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
