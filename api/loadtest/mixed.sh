#!/usr/bin/env bash
# Mixed load on one `contriever serve` (issue 14's acceptance run):
#   wrk -t2 -c16 for DURATION seconds of searches (MODE: bm25 or hybrid),
#   while one client posts batches of 32 SciFact documents back to back;
#   then SIGKILL the server, restart it, and check that every acknowledged
#   document is there.
# Usage: api/loadtest/mixed.sh [DURATION=30] [MODE=bm25]
# Environment: INDEX (an index folder to copy), DATA (default
#   /work/shared/data/scifact), PORT (default 18414), BIN (a contriever
#   binary; default: built from this checkout), MODEL (MODE=hybrid only: a
#   model folder to index $DATA with), SERVE_LOG (a path to keep the
#   server's log at), SERVE_ARGS (more serve flags, e.g. "--pprof
#   127.0.0.1:6061"). The Go runtime's variables (GOGC, GOMAXPROCS,
#   GODEBUG=gctrace=1) reach the server too. WRITE=0 runs the searches
#   alone (the baseline the writes are compared with).
# The index searched and written to, when INDEX is not given:
#   MODE=bm25:   a BM25-only index of $DATA (index --no-dense).
#   MODE=hybrid: an index of $DATA with a static model (PPMI + SVD token
#     vectors, mean pooling: `train --recipe static`, about 30-45 s on 2
#     cores, built once per run unless MODEL is given), so that embedding
#     the posted documents and the queries costs little and the figure
#     measures the engine, not the encoder. With the bundled transformer
#     (MODEL=models/contriever-small-scifact) the script runs too, but each
#     batch of 32 documents takes the transformer's forward passes on the
#     same 2 cores (a few documents per second are written; a full
#     document-embedding queue answers 429 + Retry-After, which the writer
#     obeys and counts in its "failed requests"), and the query encodings
#     compete with them, so its p99 reflects the encoder.
# The writer runs one second past wrk, so its connection errors after the
# SIGKILL are expected ("failed requests by status: map[0:N]").
# Run it on a quiet machine for figures; the output is wrk's latency
# distribution (p99), its non-2xx count, the writer's throughput and the
# verification after the SIGKILL.
set -euo pipefail
DURATION=${1:-30}
MODE=${2:-bm25}
DATA=${DATA:-/work/shared/data/scifact}
PORT=${PORT:-18414}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
srv=""
wpid=""
cleanup() {
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null || true
	[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null || true
	[ -n "${SERVE_LOG:-}" ] && cp "$work/serve.log" "$SERVE_LOG" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
BIN=${BIN:-}
if [ -z "$BIN" ]; then
	BIN=$work/contriever
	(cd "$root" && go build -o "$BIN" ./cmd/contriever)
fi
(cd "$here" && go build -o "$work/writer" writer.go)
if [ -n "${INDEX:-}" ]; then
	cp -r "$INDEX" "$work/idx"
	rm -f "$work/idx"/*.lock "$work/idx"/*.pid
elif [ "$MODE" = bm25 ]; then
	"$BIN" index --corpus "$DATA/corpus.jsonl.gz" --no-dense --out "$work/idx" --quiet >/dev/null
else
	model=${MODEL:-}
	cache=()
	if [ -z "$model" ]; then
		echo "building a static model of $DATA (train --recipe static)..." >&2
		"$BIN" train --recipe static --corpus "$DATA" --out "$work/static" --quiet >/dev/null
		model=$work/static
		cache=(--cache-dir off)
	fi
	# A given model's corpus embeddings come from (or go to) the usual cache.
	"$BIN" index --corpus "$DATA/corpus.jsonl.gz" --model "$model" --out "$work/idx" "${cache[@]}" --quiet >/dev/null
fi
echo "index: $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["docs"], "documents;", "model:", ("none" if not m.get("model") else m["model"].get("kind") or "transformer"), (m.get("model") or {}).get("dim", ""), "; vectors:", (m.get("vectors") or {}).get("type", "none"))' "$work/idx/manifest.json" 2>/dev/null || true)" >&2
addr=http://127.0.0.1:$PORT
start_server() {
	# shellcheck disable=SC2086
	"$BIN" serve --index "$work/idx" --addr "127.0.0.1:$PORT" --log-format json ${SERVE_ARGS:-} >>"$work/serve.log" 2>&1 &
	srv=$!
	for _ in $(seq 600); do
		curl -fs "$addr/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "serve did not become ready" >&2
	tail -20 "$work/serve.log" >&2
	exit 1
}
start_server
# Rotate through the first 200 SciFact queries.
python3 - "$DATA/queries.jsonl" "$MODE" >"$work/queries.lua" <<'PY'
import json, sys, urllib.parse
qs = [json.loads(l)["text"] for l in open(sys.argv[1])][:200]
print("paths = {")
for q in qs:
    print('  "/search?mode=%s&k=10&q=%s",' % (sys.argv[2], urllib.parse.quote(q)))
print("}")
print("n = 0")
print("request = function()\n  n = n + 1\n  return wrk.format(\"GET\", paths[(n % #paths) + 1])\nend")
PY
touch "$work/acked.txt"
if [ "${WRITE:-1}" != 0 ]; then
	"$work/writer" -addr "$addr" -corpus "$DATA/corpus.jsonl.gz" -acked "$work/acked.txt" -for "$((DURATION + 1))s" &
	wpid=$!
fi
wrk -t2 -c16 -d"${DURATION}s" --latency -s "$work/queries.lua" "$addr" | tee "$work/wrk.txt"
# SIGKILL while the writer is still posting.
kill -9 "$srv"
srv=""
[ -n "$wpid" ] && { wait "$wpid" || true; }
wpid=""
grep -q "Non-2xx" "$work/wrk.txt" && echo "FAIL: searches answered non-2xx" >&2
echo "search p99 ($MODE): $(awk '$1 == "99%" {print $2}' "$work/wrk.txt")"
start_server
"$work/writer" -addr "$addr" -acked "$work/acked.txt" -verify
echo "serve log errors: $(grep -c "\"level\":\"ERROR\"" "$work/serve.log" || true)"; grep "\"level\":\"ERROR\"" "$work/serve.log" | head -5 || true
