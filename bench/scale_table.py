#!/usr/bin/python3
"""Side-by-side table of `contriever bench scale --json` and scripts/anchors/faiss_bench.py --out
(issue 15's acceptance, run by bench/scale1m.sh on the same vectors and queries).

Usage: scale_table.py GO.json FAISS.json [--target 0.90]

Prints recall@k and batched QPS per nprobe for this project's IVF-PQ and each FAISS index in
FAISS.json (ivfpq: codes only; ivfpq_refine: IndexRefineFlat re-ranking from floats in RAM;
ivfsq: IndexIVFScalarQuantizer), then, for each, the first nprobe whose recall reaches the target
and the QPS ratio (ours / FAISS) there, and the other acceptance lines (BM25 build and p99,
index memory, open time). Standard library only.
"""
import json
import sys


def first_at(rows, target):
    """The first (nprobe, recall, qps) of rows (sorted by nprobe) whose recall >= target."""
    for r in rows:
        if r[1] >= target:
            return r
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    target = 0.90
    if "--target" in sys.argv:
        target = float(sys.argv[sys.argv.index("--target") + 1])
    if len(args) != 2:
        sys.exit(__doc__)
    go = json.load(open(args[0]))
    fa = json.load(open(args[1]))
    k = go["k"]
    ours = sorted((r["nprobe"], r["recall"], r["batched_qps"]) for r in go.get("nprobe_sweep", []))
    cols = [("ours", dict((r[0], r) for r in ours))]
    for name in ("ivfpq", "ivfpq_refine", "ivfsq"):
        if name in fa:
            rows = sorted((int(p), v["recall_at_k"], v["batched_qps_median"]) for p, v in fa[name]["nprobe"].items())
            cols.append(("faiss " + name, dict((r[0], r) for r in rows)))
    nprobes = sorted(set(p for _, c in cols for p in c))
    print(f"{go['docs']} docs x {go['dim']} dims ({go.get('dist')}, model {go.get('model', '-')}), "
          f"{go['queries']} queries ({go.get('queries_from')}), k {k}, nlist {go.get('nlist')}, "
          f"M {go.get('pq_m')}, re-rank {go.get('rerank', '?')} (ours: from the mapped float file), "
          f"FAISS {fa.get('faiss')} with {fa.get('omp_threads')} threads, ours {go['threads']}")
    head = ["nprobe"] + [f"{n} R@{k}" for n, _ in cols] + [f"{n} QPS" for n, _ in cols]
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for p in nprobes:
        cells = [str(p)]
        cells += [f"{c[p][1]:.4f}" if p in c else "" for _, c in cols]
        cells += [f"{c[p][2]:.0f}" if p in c else "" for _, c in cols]
        print(" | ".join(cells))
    print()
    mine = first_at(ours, target)
    print(f"first nprobe reaching recall@{k} >= {target}:")
    for name, c in cols:
        f = first_at(sorted(c.values()), target)
        if f is None:
            print(f"  {name}: not reached (best {max((r[1] for r in c.values()), default=0):.4f})")
            continue
        line = f"  {name}: nprobe {f[0]}, recall {f[1]:.4f}, {f[2]:.0f} QPS"
        if name != "ours" and mine is not None:
            line += f"; QPS ratio ours/FAISS {mine[2] / f[2]:.2f}x"
        print(line)
    print()
    lat = go.get("latency_ms_p50_p99", {})
    bm = lat.get("bm25", [0, 0])
    print(f"BM25 build {go['bm25_build_s']:.0f} s (<= 300 asked), BM25 p50/p99 {bm[0]:.1f}/{bm[1]:.1f} ms "
          f"(p99 <= 50 asked), batched BM25 {go['batched_qps'].get('bm25', 0):.0f} QPS")
    if "bm25-fragments" in lat:
        bf = lat["bm25-fragments"]
        print(f"BM25 p50/p99 on 4-10-word fragments of corpus sentences (the default queries): {bf[0]:.1f}/{bf[1]:.1f} ms")
    for m in ("dense", "hybrid"):
        if m in lat:
            print(f"{m} p50/p99 (nprobe {go.get('nprobe')}): {lat[m][0]:.1f}/{lat[m][1]:.1f} ms")
    print(f"open: bm25 {go['bm25_open_s']:.2f} s, vectors {go['vector_open_s']:.2f} s, together "
          f"{go['bm25_open_s'] + go['vector_open_s']:.2f} s (<= 2 asked)")
    print(f"vector index heap {go['vector_heap_mb']:.0f} MB = {100 * go['vector_heap_fraction_of_flat']:.1f}% of the "
          f"float32 flat index ({go['flat_float32_mb']:.0f} MB; <= 10% asked); mapped float-file pages resident "
          f"after all searches {go.get('mapped_rss_mb', 0):.0f} MB (clean page cache, droppable): heap + resident "
          f"= {100 * go.get('vector_memory_fraction_of_flat', 0):.1f}%")
    for name in ("ivfpq", "ivfpq_refine", "ivfsq"):
        if name in fa:
            b = fa[name].get("serialized_bytes") or fa[name]["index_bytes_est"]
            if name == "ivfpq_refine":
                b = fa[name]["index_bytes_est"]
            print(f"faiss {name}: {b / 2**20:.0f} MB = {100 * b / fa[name]['flat_float32_bytes']:.1f}% of flat"
                  f"{' (codes + the floats it re-ranks from, in RAM)' if name == 'ivfpq_refine' else ''}, "
                  f"train {fa[name]['train_s']:.0f} s, add {fa[name]['add_s']:.0f} s")
    print(f"ours: embed {go.get('embed_s', 0):.0f} s ({go.get('embed_docs_per_s', 0):.0f}/s), vector build "
          f"{go['vector_build_s']:.0f} s (train {go['vector_train_s']:.0f} s), exact top k {go.get('exact_s', 0):.0f} s, "
          f"peak RSS {go['peak_rss_mb']:.0f} MB, machine busy {100 * go.get('machine_busy_fraction', 0):.0f}%")


if __name__ == "__main__":
    main()
