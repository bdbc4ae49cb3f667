#!/bin/bash
# Three accepted and three rejected sentences per configuration (local SmolLM2, TRAM, one rare technique).
cd /work/main
B=${SYNTHCTI_BIN:-target/release/synthcti}
run() { name=$1; shift
  $B augment --input data/tram2_single_label.json --output out/samples/$name --technique T1072 --target absolute:6 --seed 3 --no-progress --overwrite "$@" > out/samples/$name.log 2>&1
  echo "== $name (rc=$?)"
  python3 - "$name" <<'PY'
import json,sys
d=f"out/samples/{sys.argv[1]}"
rows=[json.loads(l) for l in open(d+"/augmented.jsonl") if '"origin":"original"' not in l]
print("accepted:")
for r in rows[:3]: print("  +", r["origin"], "|", r["text"][:220])
rej=[json.loads(l) for l in open(d+"/rejected.jsonl")] if __import__("os").path.exists(d+"/rejected.jsonl") else []
seen=set(); out=[]
for r in rej:
    k=r.get("reason")
    if k in seen: continue
    seen.add(k); out.append(r)
for r in out[:3]: print("  -", r.get("reason"), "|", str(r.get("text"))[:220])
PY
}
run llm --source llm
run llm-q --source llm --contrast --classifier-top-k 3
run llm-mmr --source llm --contrast --classifier-top-k 3 --select mmr
run rewrite --source rewrite
run both-rewrite --source both-rewrite --contrast --classifier-top-k 3
