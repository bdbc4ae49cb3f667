#!/usr/bin/env python3
"""eval_tables.py — the evaluation tables, generated from committed results.json.

Every evaluation table in docs/evaluation.md and README.md sits between two markers (PATH is
relative to the repository root, wherever the markdown file is):

    <!-- eval-table: docs/eval/tram-llm/results.json comparisons -->
    ...generated rows...
    <!-- /eval-table -->

`check` regenerates each block from its results.json and fails (exit 1, with a diff) when the
text differs, so a published number cannot drift from the output behind it; `write` rewrites
the blocks. Kinds: `command` (the run's command file as a shell block), `primary` (one sentence), `comparisons` (arm vs arm, Holm-adjusted),
`vs-none` (each arm vs no augmentation, Holm-adjusted).

    python3 scripts/eval_tables.py check docs/evaluation.md README.md
    python3 scripts/eval_tables.py write docs/evaluation.md README.md
"""
import difflib
import json
import pathlib
import re
import sys

BLOCK = re.compile(
    r"(<!-- eval-table: (?P<path>\S+) (?P<kind>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /eval-table -->)",
    re.S,
)
METRICS = [("macro-f1", "macro_f1"), ("rare-macro-f1", "rare_macro_f1")]


def interval(mean, lo, hi, star):
    return f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]{'*' if star else ''}"


def member(results, arm, base, ratio, weight, metric):
    for m in results["claims"]["family"]:
        p = m["pair"]
        if (p["arm"], p["base"], m["ratio"], m["synthetic_weight"], m["metric"]) == (
            arm, base, ratio, weight, metric,
        ):
            h = m["holm"]
            return interval(m["mean"], h["ci"][0], h["ci"][1], h["significant"])
    return None


def is_primary(results, pair, ratio, weight, metric):
    p = results["claims"].get("primary")
    if not p:
        return False
    q = p["primary"]
    return (q["pair"], q["ratio"], p.get("synthetic_weight", 1.0), q["metric"]) == (pair, ratio, weight, metric)


def unadjusted(d):
    if not d.get("ci95_corrected"):
        return f"{d['mean']:+.3f} (no interval)"
    lo, hi = d["ci95_corrected"]
    return interval(d["mean"], lo, hi, d["significant"])


def mean_or_dash(m):
    return f"{m['mean']:.3f}" if m["n"] else "–"


def primary(results):
    p = results["claims"].get("primary")
    if not p:
        return "No primary comparison.\n"
    q, d = p["primary"], p["delta"]
    metric = "rare macro-F1" if q["metric"] == "rare-macro-f1" else "macro-F1"
    return (
        f"**{q['pair']['arm']} vs {q['pair']['base']}, Δ {metric} at ratio {q['ratio']:g}: "
        f"{unadjusted(d)}** (95%, tested alone, "
        f"{d['n']} paired runs, p = {d['p']:.3f}; rows added per run "
        f"{p['added'][0]['mean']:.0f} vs {p['added'][1]['mean']:.0f} of "
        f"{p['requested']['mean']:.0f} requested)\n"
    )


def comparisons(results):
    out = [
        "| comparison | ratio | rows added: arm / base (requested) | Δ macro-F1 | Δ rare macro-F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in results["comparisons"]:
        if c["synthetic_weight"] != 1.0:
            continue
        cells = []
        for metric, key in METRICS:
            if is_primary(results, c["pair"], c["ratio"], c["synthetic_weight"], metric):
                cells.append(f"**{unadjusted(c['deltas'][key])}** (primary, 95%)")
            else:
                cells.append(member(results, c["pair"]["arm"], c["pair"]["base"], c["ratio"], 1.0, metric) or "–")
        out.append(
            f"| {c['pair']['arm']} vs {c['pair']['base']} | {c['ratio']:g} | "
            f"{c['arm_added']['mean']:.0f} / {c['base_added']['mean']:.0f} ({c['requested']['mean']:.0f}) | "
            + " | ".join(cells) + " |"
        )
    return "\n".join(out) + "\n"


def vs_none(results):
    out = [
        "| arm | ratio | rows added (requested) | macro-F1 | Δ macro-F1 vs none | rare macro-F1 | Δ rare vs none |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    n = results["none"]
    out.append(
        f"| none | 0 | 0 | {n['macro_f1']['mean']:.3f} | – | {mean_or_dash(n['rare_macro_f1'])} | – |"
    )
    for r in results["results"]:
        if r["synthetic_weight"] != 1.0:
            continue
        d = [member(results, r["arm"], "none", r["ratio"], 1.0, m) or "–" for m, _ in METRICS]
        out.append(
            f"| {r['arm']} | {r['ratio']:g} | {r['added_rows']['mean']:.0f} ({r['requested_rows']['mean']:.0f}) | "
            f"{r['macro_f1']['mean']:.3f} | {d[0]} | {mean_or_dash(r['rare_macro_f1'])} | {d[1]} |"
        )
    return "\n".join(out) + "\n"


KINDS = {"primary": primary, "comparisons": comparisons, "vs-none": vs_none}


def command(path):
    """The run's command (docs/eval/NAME/command) as a shell block."""
    args = path.read_text().split()
    lines, line = [], "synthcti"
    for a in args + ["--output", f"out/{path.parent.name}"]:
        if a.startswith("--") and len(line) > 60:
            lines.append(line + " \\")
            line = "  " + a
        else:
            line += " " + a
    lines.append(line)
    return "```bash\n" + "\n".join(lines) + "\n```\n"


def render(root, match):
    path = root / match.group("path")
    if match.group("kind") == "command":
        return command(path)
    results = json.loads(path.read_text())
    return KINDS[match.group("kind")](results)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("check", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for name in argv[2:]:
        doc = pathlib.Path(name)
        root = pathlib.Path(__file__).resolve().parent.parent
        text = doc.read_text()
        blocks = 0

        def fix(m):
            nonlocal bad, blocks
            blocks += 1
            want = render(root, m)
            if m.group("body") != want:
                bad += 1
                if argv[1] == "check":
                    diff = difflib.unified_diff(
                        m.group("body").splitlines(), want.splitlines(),
                        f"{name} ({m.group('path')} {m.group('kind')})", "from results.json", lineterm="",
                    )
                    print("\n".join(diff), file=sys.stderr)
            return m.group(1) + want + m.group(5)

        new = BLOCK.sub(fix, text)
        if argv[1] == "write" and new != text:
            doc.write_text(new)
        print(f"{name}: {blocks} generated table(s)", file=sys.stderr)
    if argv[1] == "check" and bad:
        print(f"{bad} table(s) differ from their results.json", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
