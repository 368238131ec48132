#!/usr/bin/env bash
# bench/precision.sh: the encoder's throughput at each precision side by side
# with ONNX Runtime fp32, in one sitting (issue 16's acceptance table).
#
#   bench/precision.sh                       # BERT-base, 32×128, 2 threads, 5 reps
#   CONFIG=small BATCH=4 SEQ=32 REPS=2 bench/precision.sh   # a quick check of the script
#
# Environment (defaults in brackets): CONFIG [base] BATCH [32] SEQ [128]
# THREADS [2] REPS [5] ANCHORS [/work/shared/anchors] ORTENV [~/ortenv]
# ONNX [~/bert_$CONFIG.onnx, exported first when missing] OUT [a temporary
# folder: every JSON result is kept there].
#
# ONNX Runtime runs first, between the AVX-512 and the AVX2 rows, and last
# (its drift tells how quiet the machine was); each row's ratio is against
# the mean of the two ONNX Runtime runs around it, the table's ONNX Runtime
# line the mean of all three. The encoder runs f32,
# bf16 and int8 with the kernels the CPU picks (AVX-512 here), then f32,
# bf16 and int8 with BLAS32_KERNEL=avx2 (int8 then takes 6-bit weights and
# 7-bit activations, eight products per int16 lane), and for contrast int8
# with the older AVX2 kernels: BLAS32_KERNEL=avx2w6 (6-bit weights, u8
# activations, four products per lane) and avx2w7 (7-bit weights, ONNX
# Runtime's reduce_range). Run it on a quiet machine: nothing else may
# share the cores. It takes about 5 minutes (BERT-base; ONNX Runtime
# three times, eight encoder runs).
set -euo pipefail

CONFIG=${CONFIG:-base}
BATCH=${BATCH:-32}
SEQ=${SEQ:-128}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
ANCHORS=${ANCHORS:-/work/shared/anchors}
ORTENV=${ORTENV:-$HOME/ortenv}
ONNX=${ONNX:-$HOME/bert_${CONFIG}.onnx}
PY=${PY:-/usr/bin/python3}
OUT=${OUT:-$(mktemp -d -t contriever-precision-XXXXXX)}
mkdir -p "$OUT"

cd "$(dirname "$0")/.."
bin="$OUT/contriever"
go build -o "$bin" ./cmd/contriever

if [ ! -s "$ONNX" ]; then
	echo "exporting $CONFIG to $ONNX" >&2
	"$PY" "$ANCHORS/export_bert.py" "$ONNX" "$CONFIG" "$BATCH" "$SEQ" >&2
fi

ort() { # ort NAME: one ONNX Runtime run, JSON in $OUT/NAME.json
	ORTENV="$ORTENV" node "$ANCHORS/ort_bench.mjs" "$ONNX" "$BATCH" "$SEQ" "$THREADS" "$REPS" >"$OUT/$1.json"
	jq -r .seq_per_s "$OUT/$1.json"
}

ours() { # ours NAME KERNEL PRECISION: one encoder run (KERNEL "" = the CPU's)
	local name=$1 kernel=$2 prec=$3
	if [ -n "$kernel" ]; then
		BLAS32_KERNEL=$kernel "$bin" bench encoder --config "$CONFIG" --batch "$BATCH" --seq "$SEQ" --threads "$THREADS" --reps "$REPS" --precision "$prec" --json >"$OUT/$name.json"
	else
		"$bin" bench encoder --config "$CONFIG" --batch "$BATCH" --seq "$SEQ" --threads "$THREADS" --reps "$REPS" --precision "$prec" --json >"$OUT/$name.json"
	fi
	jq -r .seq_per_s "$OUT/$name.json"
}

echo "BERT $CONFIG, ${BATCH}×${SEQ}, $THREADS threads, $REPS reps; results in $OUT" >&2
ort0=$(ort ort-first)
echo "onnxruntime fp32 (first): $ort0 seq/s" >&2
runs=(
	"f32 | - f32 -"
	"bf16 | - bf16 1.6"
	"int8 | - int8 2.5"
	"f32 (avx2) | avx2 f32 -"
	"bf16 (avx2) | avx2 bf16 -"
	"int8 (avx2, w6a7) | avx2 int8 1.5"
	"int8 (avx2w6, 6-bit weights) | avx2w6 int8 -"
	"int8 (avx2w7, 7-bit weights) | avx2w7 int8 -"
)
declare -a names rates targets kernels half
i=0
ortm=""
for r in "${runs[@]}"; do
	if [ "$i" -eq 4 ]; then # ONNX Runtime again between the AVX-512 and the AVX2 rows
		ortm=$(ort ort-middle)
		echo "onnxruntime fp32 (middle): $ortm seq/s" >&2
	fi
	half[i]=$((i < 4 ? 0 : 1))
	label=${r%% | *}
	read -r kernel prec target <<<"${r#* | }"
	[ "$kernel" = - ] && kernel=""
	rate=$(ours "run$i" "$kernel" "$prec")
	names[i]=$label rates[i]=$rate targets[i]=$target
	kernels[i]=$(jq -r 'if .precision == "f32" then "sgemm " + .sgemm else .precision + " " + .kernels end' "$OUT/run$i.json")
	echo "$label: $rate seq/s" >&2
	i=$((i + 1))
done
ort1=$(ort ort-last)
echo "onnxruntime fp32 (last): $ort1 seq/s" >&2

ortv=$(jq -r .ort "$OUT/ort-first.json")
ref=$(awk -v a="$ort0" -v m="$ortm" -v b="$ort1" 'BEGIN { printf "%.6f", (a + m + b) / 3 }')
# each row is compared with the mean of the two ONNX Runtime runs around it
refs=("$(awk -v a="$ort0" -v b="$ortm" 'BEGIN { printf "%.6f", (a + b) / 2 }')" "$(awk -v a="$ortm" -v b="$ort1" 'BEGIN { printf "%.6f", (a + b) / 2 }')")
echo
echo "BERT $CONFIG, ${BATCH}×${SEQ}, $THREADS threads, median of $REPS; $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf "%-40s %8s %6s %8s %4s  %s\n" "engine" "seq/s" "/ORT" "must" "met" "kernel"
printf "%-40s %8.2f %6s %8s %4s  %s\n" "onnxruntime $ortv fp32" "$ref" "1.00" "" "" "$(awk -v a="$ort0" -v m="$ortm" -v b="$ort1" 'BEGIN { printf "mean of first %.2f, middle %.2f, last %.2f", a, m, b }')"
for j in "${!names[@]}"; do
	ref=${refs[half[j]]}
	ratio=$(awk -v a="${rates[j]}" -v b="$ref" 'BEGIN { printf "%.3f", a / b }')
	must="" met=""
	if [ "${targets[j]}" != - ]; then
		must="≥ ${targets[j]}"
		# met compares the unrounded ratio: 1.4997 is not 1.5
		met=$(awk -v a="${rates[j]}" -v b="$ref" -v t="${targets[j]}" 'BEGIN { print (a / b >= t ? "yes" : "NO") }')
	fi
	printf "%-40s %8.2f %6s %8s %4s  %s\n" "contriever ${names[j]}" "${rates[j]}" "$ratio" "$must" "$met" "${kernels[j]}"
done
