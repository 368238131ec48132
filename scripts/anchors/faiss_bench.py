#!/usr/bin/python3
"""FAISS CPU anchors: IndexFlatIP, IndexIVFFlat, IndexIVFPQ and IndexIVFScalarQuantizer on
L2-normalised synthetic vectors.

Copied from the team's shared anchors (/work/shared/anchors/faiss_bench.py, with its helpers
_common.py, unchanged) and extended for issue 15 with IndexIVFPQ (M sub-quantisers of 8 bits,
residual encoding, FAISS's defaults: by_residual, polysemous off) and IndexIVFScalarQuantizer
(QT_8bit, by residual off as in this project's SQ8), both with the inner-product metric and the
same nlist as IVFFlat: recall@k against IndexFlatIP and QPS (batched and one query at a time)
for each nprobe. `contriever bench index --type ivfpq --pq-m M` and `--sq8 --codes-only` are the
counterparts; run both in one sitting and compare ratios.

Usage:
  /usr/bin/python3 faiss_bench.py --dim 768 --dist random    [--out FILE]
  /usr/bin/python3 faiss_bench.py --dim 384 --dist clustered [--out FILE]
Options: --n 100000 --nq 1000 --k 10 --nlist 1024 --nprobe 1,8,32,128 --threads 2
         --reps 5 (batched searches) --single-reps 3 (one-query-at-a-time loops)
         --flat-single-nq 200 (flat one-at-a-time loop uses the first 200 queries; IVF uses all)
         --train-reps 2 (IVF train, fresh index each time) --clusters 1000 --sigma 1.0 --seed 0
         --types flat,ivf,ivfpq,ivfsq (which indexes; flat always runs, it is the truth)
         --pq-m 96 (IndexIVFPQ sub-quantisers; must divide --dim) --pq-refine 0 (k_factor of an
         IndexRefineFlat around IndexIVFPQ, re-ranking with the floats as this project's ivf-pq
         does by default; 0: codes only)

         --base B.npy --queries Q.npy [--truth T.npy] (vectors written by `contriever bench scale
         --npy-out DIR`: the very vectors and queries, and the exact top k, that bench scale
         searched; --dim/--n/--nq/--dist are then taken from the files and, with --truth, the
         flat index is not built) --train-n 0 (train the IVF indexes on a seeded sample of this
         many rows; 0: all, FAISS then samples 256 a centroid itself) --single-reps 0 (skip the
         one-at-a-time loops) --pq-train-per-centroid 64 --pq-niter 10 (IndexIVFPQ's PQ training
         as this project's: at most 64·256 residuals, 10 k-means iterations; 0: FAISS's defaults,
         256 and 25)

Data: random = i.i.d. N(0,1) then L2-normalised (worst case for IVF).
      clustered = `--clusters` centres c ~ normalise(N(0,I)); point = normalise(c + sigma*g/sqrt(d)),
      g ~ N(0,I) (noise norm ~= sigma, so sigma=1 gives cos(point, centre) ~= 0.71).
Queries are fresh draws from the same distribution (not database points).
Ground truth for recall = IndexFlatIP top-k (exact). recall@k = mean |IVF top-k ∩ exact top-k| / k.
The environment variable ANCHOR_QUIET_WAIT (seconds) also caps the waits for a quiet machine.
Do NOT import torch in this process: torch sets the shared libgomp thread count to 1.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (QUIET_WAIT, blas_in_use, emit, machine_info, median, rss_mb, summarize, timeit,  # noqa: E402
                     wait_quiet)


def normalize(x):
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(dist, n, nq, d, rng, clusters, sigma):
    if dist == "random":
        xb = normalize(rng.standard_normal((n, d), dtype=np.float32))
        xq = normalize(rng.standard_normal((nq, d), dtype=np.float32))
        return xb, xq
    centres = normalize(rng.standard_normal((clusters, d), dtype=np.float32))

    def draw(m):
        a = rng.integers(0, clusters, m)
        g = rng.standard_normal((m, d), dtype=np.float32) * np.float32(sigma / np.sqrt(d))
        return normalize(centres[a] + g)
    return draw(n), draw(nq)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--dist", choices=["random", "clustered"], default="random")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", default="1,8,32,128")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--single-reps", type=int, default=3)
    ap.add_argument("--flat-single-nq", type=int, default=200,
                    help="queries in the one-at-a-time IndexFlatIP loop (each scans all n vectors)")
    ap.add_argument("--train-reps", type=int, default=2)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--sigma", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--types", default="flat,ivf,ivfpq,ivfsq")
    ap.add_argument("--pq-m", type=int, default=96)
    ap.add_argument("--pq-refine", type=int, default=0)
    ap.add_argument("--base")
    ap.add_argument("--queries")
    ap.add_argument("--truth")
    ap.add_argument("--train-n", type=int, default=0)
    ap.add_argument("--pq-train-per-centroid", type=int, default=0)
    ap.add_argument("--pq-niter", type=int, default=0)
    ap.add_argument("--out")
    a = ap.parse_args()
    types = set(a.types.split(","))

    import faiss
    faiss.omp_set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    if a.base:
        if not a.queries:
            sys.exit("--base needs --queries")
        xb = np.ascontiguousarray(np.load(a.base), dtype=np.float32)
        xq = np.ascontiguousarray(np.load(a.queries), dtype=np.float32)
        if xb.ndim != 2 or xq.ndim != 2 or xb.shape[1] != xq.shape[1]:
            sys.exit(f"--base {xb.shape} and --queries {xq.shape}: want two matrices of one width")
        a.n, a.dim, a.nq, a.dist = xb.shape[0], xb.shape[1], xq.shape[0], "file:" + a.base
    else:
        xb, xq = make_data(a.dist, a.n, a.nq, a.dim, rng, a.clusters, a.sigma)
    k = a.k
    xt = xb
    if 0 < a.train_n < a.n:
        xt = xb[np.sort(rng.choice(a.n, a.train_n, replace=False))]
    a.xt = xt
    res = {"machine": machine_info(), "faiss": faiss.__version__, "numpy": np.__version__,
           "omp_threads": faiss.omp_get_max_threads(), "dim": a.dim, "dist": a.dist, "n": a.n,
           "nq": a.nq, "k": k, "nlist": a.nlist, "clusters": a.clusters, "sigma": a.sigma,
           "data_mb": xb.nbytes / 2**20}

    def single_loop(index, nq):
        def f():
            for i in range(nq):
                index.search(xq[i:i + 1], k)
        return f

    if a.truth:
        gt = np.load(a.truth)
        if gt.shape[0] != a.nq or gt.shape[1] < k:
            sys.exit(f"--truth {gt.shape}: want {a.nq} rows of at least k = {k}")
        I_gt = gt[:, :k].astype(np.int64)
        res["truth"] = a.truth
        run_indexes(a, res, types, xb, xq, I_gt)
        return
    # ---------------- flat ----------------
    r0 = rss_mb()
    flat = faiss.IndexFlatIP(a.dim)
    add_t = timeit(lambda: (flat.reset(), flat.add(xb)), 3, warmup=0)
    r1 = rss_mb()
    busy = wait_quiet(max_wait=min(90, QUIET_WAIT))
    info = {}
    bt = timeit(lambda: flat.search(xq, k), a.reps, warmup=1, info=info)
    D_gt, I_gt = flat.search(xq, k)
    sinfo = {}
    fsn = min(a.flat_single_nq, a.nq)
    st = timeit(single_loop(flat, fsn), a.single_reps, warmup=0, info=sinfo)
    b, s1 = summarize(bt, info, a.nq), summarize(st, sinfo, fsn)
    res["flat"] = {
        "busy_before": busy, "add_s_median": median(add_t), "add_times_s": add_t,
        "batched": b, "batched_qps_median": b["rate_median"], "batched_qps_best": b["rate_best"],
        "batched_gflops_median": 2.0 * a.nq * a.n * a.dim / b["median_s"] / 1e9,
        "single": s1, "single_qps_median": s1["rate_median"], "single_qps_best": s1["rate_best"],
        "single_nq": fsn, "single_latency_ms_median": s1["median_s"] / fsn * 1e3,
        "single_scan_gbps_median": a.n * a.dim * 4 * fsn / s1["median_s"] / 1e9,
        "index_bytes": a.n * a.dim * 4, "rss_delta_mb": r1 - r0,
    }
    print(f"flat: batched {res['flat']['batched_qps_median']:.0f} qps, single "
          f"{res['flat']['single_qps_median']:.1f} qps", file=sys.stderr, flush=True)
    run_indexes(a, res, types, xb, xq, I_gt)


def run_indexes(a, res, types, xb, xq, I_gt):
    """Runs the IVF indexes named in types against the exact top k I_gt, then writes res."""
    import faiss
    k = a.k

    def single_loop(index, nq):
        def f():
            for i in range(nq):
                index.search(xq[i:i + 1], k)
        return f

    if "ivf" in types:
        ivf_flat(a, res, xb, xq, I_gt, single_loop)
    if "ivfpq" in types:
        def make_pq():
            q = faiss.IndexFlatIP(a.dim)
            ix = faiss.IndexIVFPQ(q, a.dim, a.nlist, a.pq_m, 8, faiss.METRIC_INNER_PRODUCT)
            ix.cp.seed = 1234
            if a.pq_train_per_centroid > 0:
                ix.pq.cp.max_points_per_centroid = a.pq_train_per_centroid
            if a.pq_niter > 0:
                ix.pq.cp.niter = a.pq_niter
            return ix
        ivf_quantised(a, res, "ivfpq", make_pq, xb, xq, I_gt, single_loop,
                      bytes_per_vector=a.pq_m + 8, extra_bytes=256 * a.dim * 4)
    if "ivfsq" in types:
        def make_sq():
            q = faiss.IndexFlatIP(a.dim)
            ix = faiss.IndexIVFScalarQuantizer(q, a.dim, a.nlist, faiss.ScalarQuantizer.QT_8bit,
                                               faiss.METRIC_INNER_PRODUCT, False)
            ix.cp.seed = 1234
            return ix
        ivf_quantised(a, res, "ivfsq", make_sq, xb, xq, I_gt, single_loop,
                      bytes_per_vector=a.dim + 8, extra_bytes=2 * a.dim * 4)
    res["rss_final_mb"] = rss_mb()
    res["blas_libs"] = blas_in_use()
    emit(res, a.out)


def ivf_quantised(a, res, name, make, xb, xq, I_gt, single_loop, bytes_per_vector, extra_bytes):
    """Trains, fills and searches a quantised IVF index (IndexIVFPQ or IndexIVFScalarQuantizer,
    optionally wrapped in IndexRefineFlat), reporting recall@k vs nprobe and QPS."""
    import faiss
    k = a.k
    wait_quiet(max_wait=min(90, QUIET_WAIT))
    ix = make()
    train_t = timeit(lambda: ix.train(a.xt), 1, warmup=0, max_extra=0)
    r2 = rss_mb()
    add_t = timeit(lambda: ix.add(xb), 1, warmup=0, max_extra=0)
    r3 = rss_mb()
    ivf = ix
    variants = [(name, ix, 0)]
    if name == "ivfpq" and a.pq_refine > 0:
        # The same trained IndexIVFPQ, searched plain and through an IndexRefineFlat that
        # re-ranks k_factor·k candidates with the floats, which FAISS holds in RAM (n·d·4 bytes
        # beside the codes, counted in index_bytes_est of ivfpq_refine).
        rf = faiss.IndexRefineFlat(ix, faiss.swig_ptr(xb))
        rf.k_factor = a.pq_refine
        variants.append((name + "_refine", rf, a.n * a.dim * 4))
    try:
        ser_bytes = int(faiss.serialize_index(ix).size)
    except Exception:  # noqa: BLE001 (older FAISS builds)
        ser_bytes = None
    for vname, search_ix, extra in variants:
        out = {"train_s": median(train_t), "add_s": median(add_t), "rss_delta_after_add_mb": r3 - r2,
               "index_bytes_est": a.n * bytes_per_vector + a.nlist * a.dim * 4 + extra_bytes + extra,
               "serialized_bytes": ser_bytes, "flat_float32_bytes": a.n * a.dim * 4,
               "pq_m": a.pq_m if name == "ivfpq" else None,
               "refine_k_factor": a.pq_refine if vname == "ivfpq_refine" else None,
               "nprobe": {}}
        print(f"{vname}: train {out['train_s']:.1f}s add {out['add_s']:.1f}s", file=sys.stderr, flush=True)
        sweep_quantised(a, res, vname, ivf, search_ix, out, xq, I_gt, single_loop)


def sweep_quantised(a, res, name, ivf, search_ix, out, xq, I_gt, single_loop):
    """recall@k and QPS of search_ix for each nprobe of ivf (the IVF inside it)."""
    k = a.k
    for nprobe in [int(x) for x in a.nprobe.split(",")]:
        ivf.nprobe = nprobe
        busy = wait_quiet(max_wait=min(60, QUIET_WAIT))
        info = {}
        bt = timeit(lambda: search_ix.search(xq, k), a.reps, warmup=1, info=info)
        _, I = search_ix.search(xq, k)
        recall = float(np.mean([len(set(I[i]) & set(I_gt[i])) for i in range(a.nq)]) / k)
        b = summarize(bt, info, a.nq)
        row = {"busy_before": busy, "recall_at_k": recall, "batched_qps_median": b["rate_median"], "batched": b}
        if a.single_reps > 0:
            sinfo = {}
            st = timeit(single_loop(search_ix, a.nq), a.single_reps, warmup=0, info=sinfo)
            s1 = summarize(st, sinfo, a.nq)
            row["single_qps_median"], row["single"] = s1["rate_median"], s1
        out["nprobe"][str(nprobe)] = row
        print(f"{name} nprobe={nprobe}: recall@{k}={recall:.3f} batched {b['rate_median']:.0f} qps "
              f"single {row.get('single_qps_median', 0):.0f} qps", file=sys.stderr, flush=True)
    res[name] = out


def ivf_flat(a, res, xb, xq, I_gt, single_loop):
    """IndexIVFFlat, as the original anchor script."""
    import faiss
    k = a.k
    train_t, tinfo = [], {"cpu_s": [], "other_cpu_s": []}
    wait_quiet(max_wait=min(90, QUIET_WAIT))
    for _ in range(a.train_reps):
        q = faiss.IndexFlatIP(a.dim)
        ivf = faiss.IndexIVFFlat(q, a.dim, a.nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = 1234
        ti = {}
        train_t += timeit(lambda: ivf.train(a.xt), 1, warmup=0, info=ti, max_extra=0)
        for kk in tinfo:
            tinfo[kk] += ti[kk]
    r2 = rss_mb()
    add_ivf = timeit(lambda: (ivf.reset(), ivf.add(xb)), 3, warmup=0)
    r3 = rss_mb()
    sizes = faiss.vector_to_array(ivf.invlists.get_segment_sizes()) if hasattr(
        ivf.invlists, "get_segment_sizes") else np.array(
        [ivf.invlists.list_size(i) for i in range(a.nlist)])
    res["ivf"] = {"train": summarize(train_t, tinfo), "train_times_s": train_t,
                  "train_s_median": median(train_t),
                  "kmeans_niter": ivf.cp.niter, "add_s_median": median(add_ivf), "add_times_s": add_ivf,
                  "index_bytes_est": a.n * (a.dim * 4 + 8) + a.nlist * a.dim * 4,
                  "rss_delta_after_add_mb": r3 - r2,
                  "list_size_min_median_max": [int(sizes.min()), float(np.median(sizes)), int(sizes.max())],
                  "imbalance_factor": float(ivf.invlists.imbalance_factor()),
                  "nprobe": {}}
    for nprobe in [int(x) for x in a.nprobe.split(",")]:
        ivf.nprobe = nprobe
        busy = wait_quiet(max_wait=min(60, QUIET_WAIT))
        info = {}
        bt = timeit(lambda: ivf.search(xq, k), a.reps, warmup=1, info=info)
        _, I = ivf.search(xq, k)
        recall = float(np.mean([len(set(I[i]) & set(I_gt[i])) for i in range(a.nq)]) / k)
        r1_at1 = float(np.mean(I[:, 0] == I_gt[:, 0]))
        sinfo = {}
        st = timeit(single_loop(ivf, a.nq), a.single_reps, warmup=0, info=sinfo)
        b, s1 = summarize(bt, info, a.nq), summarize(st, sinfo, a.nq)
        res["ivf"]["nprobe"][str(nprobe)] = {
            "busy_before": busy, "recall_at_k": recall, "top1_match": r1_at1,
            "batched": b, "batched_qps_median": b["rate_median"], "batched_qps_best": b["rate_best"],
            "single": s1, "single_qps_median": s1["rate_median"], "single_qps_best": s1["rate_best"],
            "fraction_scanned": nprobe / a.nlist,
        }
        print(f"ivf nprobe={nprobe}: recall@{k}={recall:.3f} batched "
              f"{b['rate_median']:.0f} qps single {s1['rate_median']:.0f} qps", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
