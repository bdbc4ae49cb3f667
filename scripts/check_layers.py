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
    ("foundation", ["error_chain", "text", "technique", "home", "http"]),
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


def strip_tests(src: str) -> str:
    """The source without `#[cfg(test)] mod tests { … }` blocks."""
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


def strip_comments(src: str) -> str:
    return re.sub(r"//[^\n]*", "", src)


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
    for m in re.finditer(r"crate::\{([^;]*?)\}\s*;", src, re.S):
        for part in re.split(r",(?![^{]*\})", m.group(1)):
            segs = [s for s in re.split(r"::", part.strip()) if s and not s.startswith("{")]
            if segs:
                found.add(tuple(s.strip("{} \n") for s in segs[:2]))
    for m in re.finditer(r"crate::(\w+)(?:::(\w+))?", src):
        found.add(tuple(x for x in m.groups() if x))
    return found


def super_paths(src: str, mod):
    """`super::x` (and `super::super::x`) as absolute module paths."""
    found = set()
    for m in re.finditer(r"((?:super::)+)(\w+)", src):
        ups = m.group(1).count("super::")
        base = mod[: len(mod) - ups]
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
        src = strip_comments(strip_tests(open(f, encoding="utf-8").read()))
        rel = os.path.relpath(f, os.path.join(ROOT, ".."))
        if not mod:
            continue
        top = mod[0]
        if top not in RANK:
            problems.append(f"{rel}: module `{top}` has no layer in scripts/check_layers.py")
            continue
        for path in crate_paths(src):
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
            for p in super_paths(src, mod):
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
