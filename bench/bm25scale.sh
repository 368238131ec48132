#!/usr/bin/env bash
# Issue 15's BM25 latency acceptance alone, quick: `contriever bench scale --bm25-only` builds
# the 1M-passage BM25 index of bench/scale1m.sh (same seeded corpus: sentences of data/scifact,
# seed 1) and times SciFact's claims one query at a time (2 threads: a query on an index of
# >= 200k documents is split over the cores), then the default 4-10-word fragments, then both
# batched. No vectors. It prints p50/p99/max/mean wall latency, the mean and p99 of the process
# CPU time per query (getrusage: less disturbed by other jobs than the wall clock), batched QPS,
# build time, disk, open time, peak RSS, and the slowest claims; OUT/bm25.json holds the JSON.
#
# Usage: bench/bm25scale.sh [OUT]   (environment: N=1000000 NQ=1000 REPS=1 REUSE=0 KEEP=0)
#   REUSE=1 times the index a previous run left in OUT (KEEP=1) instead of building it again;
#   REPS=3 runs the query set three times and keeps each query's median (REPS=1 is the
#   acceptance definition: every query once).
#
# Expected on the 2-core machine, quiet: build ~1.5-2.5 min (140 s measured with other jobs on
# the cores), open < 1 s, timing ~30 s (1000 claims, 1000 fragments, both batched); about 3 min
# in all (30 s with REUSE=1), peak RSS ~0.5 GB, 260 MB of disk under OUT (removed unless KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/bm25scale}
N=${N:-1000000}
NQ=${NQ:-1000}
REPS=${REPS:-1}
mkdir -p "$OUT"
BIN=$OUT/contriever
go build -o "$BIN" ./cmd/contriever
reuse=()
if [ "${REUSE:-0}" = 1 ]; then
	reuse=(--reuse)
else
	rm -rf "$OUT/idx"
fi
echo "== contriever bench scale --bm25-only: $N docs ($(date -u +%T))" >&2
"$BIN" bench scale --bm25-only "${reuse[@]}" --docs "$N" --queries-file data/scifact --queries "$NQ" \
	--bm25-reps "$REPS" --dir "$OUT/idx" --quiet --json >"$OUT/bm25.json"
python3 - "$OUT/bm25.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['docs']} docs, {r['threads']} threads, {r['queries']} queries ({r['queries_from']}), reps {r['reps']}, commit {r.get('commit', '?')}")
print(f"build {r.get('bm25_build_s', 0):.1f} s (0: reused), disk {r['bm25_disk_mb']:.0f} MB, open {r['bm25_open_s']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB, machine busy {100*r['machine_busy_fraction']:.0f}%")
print(f"{'queries':16} {'p50':>7} {'p99':>7} {'max':>7} {'mean':>7} {'cpu mean':>9} {'cpu p99':>8} {'QPS':>6}")
for m, s in r['latency'].items():
    print(f"{m:16} {s['p50_ms']:7.2f} {s['p99_ms']:7.2f} {s['max_ms']:7.2f} {s['mean_ms']:7.2f} {s['cpu_ms_mean']:9.2f} {s['cpu_ms_p99']:8.2f} {r['batched_qps'].get(m, 0):6.0f}")
print("slowest claims (ms):")
for q in r['latency']['bm25']['slowest'][:5]:
    print(f"  {q['ms']:7.2f}  {q['query'][:90]}")
PY
if [ "${KEEP:-0}" != 1 ]; then
	rm -rf "$OUT/idx"
fi
