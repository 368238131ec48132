package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/contriever-go/contriever/index/vector"
	"github.com/contriever-go/contriever/internal/benchstat"
	"github.com/contriever-go/contriever/internal/blas32"
)

func init() {
	registerBench(command{
		name:    "index",
		summary: "flat and IVF vector index: build, QPS, recall@k vs flat, memory, save/load (cf. anchors/faiss_bench.py)",
		run:     runBenchIndex,
	})
}

// benchIndexReport is the JSON output of `contriever bench index`.
type benchIndexReport struct {
	Commit    string  `json:"commit"`
	Gemm      string  `json:"gemm_kernel"`
	Threads   int     `json:"threads"`
	N         int     `json:"n"`
	Dim       int     `json:"dim"`
	Dist      string  `json:"dist"`
	NQ        int     `json:"nq"`
	K         int     `json:"k"`
	Seed      uint64  `json:"seed"`
	DataMB    float64 `json:"data_mb"`
	GenS      float64 `json:"gen_s"`
	OtherCPU  float64 `json:"other_processes_cores_during_timing"`
	Flat      *benchFlatReport
	IVF       *benchIVFReport
	IVFSQ8    *benchIVFReport `json:"IVFSQ8,omitempty"`
	IVFPQ     *benchIVFReport `json:"IVFPQ,omitempty"`
	TruthFrom string          `json:"truth_from"`
}

type benchFlatReport struct {
	AddS            float64   `json:"add_s"`
	BatchedS        []float64 `json:"batched_s"`
	BatchedCPU      []float64 `json:"batched_cpu_s"`
	BatchedQPS      float64   `json:"batched_qps_median"`
	BatchedGFLOPS   float64   `json:"batched_gflops_median"`
	SingleNQ        int       `json:"single_nq"`
	SingleQPS       float64   `json:"single_qps_median"`
	SingleLatencyMS float64   `json:"single_latency_ms_median"`
	IndexBytes      int64     `json:"index_bytes"`
	HeapDeltaMB     float64   `json:"heap_delta_mb"`
	SaveLoad        benchSaveLoad
}

type benchSaveLoad struct {
	FileMB float64 `json:"file_mb"`
	SaveS  float64 `json:"save_s"`
	LoadS  float64 `json:"load_s"`
	Same   bool    `json:"results_identical"`
}

type benchIVFReport struct {
	NList       int       `json:"nlist"`
	SQ8         bool      `json:"sq8,omitempty"`
	PQM         int       `json:"pq_m,omitempty"`
	CodesOnly   bool      `json:"codes_only,omitempty"`
	TrainS      []float64 `json:"train_s"`
	TrainMedian float64   `json:"train_s_median"`
	TrainCPU    []float64 `json:"train_cpu_s"`
	AddS        float64   `json:"add_s"`
	ListSizes   [3]int    `json:"list_size_min_median_max"`
	IndexBytes  int64     `json:"index_bytes"`
	HeapDeltaMB float64   `json:"heap_delta_mb"`
	NProbe      []benchProbe
	SaveLoad    benchSaveLoad
}

type benchProbe struct {
	NProbe     int       `json:"nprobe"`
	Candidates int       `json:"sq8_candidates,omitempty"` // SQ8: candidates re-scored exactly per query
	Recall     float64   `json:"recall_at_k"`
	BatchedS   []float64 `json:"batched_s"`
	BatchedCPU []float64 `json:"batched_cpu_s"`
	BatchedQPS float64   `json:"batched_qps_median"`
	SingleQPS  float64   `json:"single_qps_median"`
}

func runBenchIndex(args []string) error {
	fs := newFlagSet("bench index", "[--n 100000] [--dim 768] [--dist random|clustered] [--type flat|ivf|both|ivfpq] [--sq8] [--pq-m M] [--codes-only] [--rerank N] [--nlist 1024] [--nprobe 1,8,32,128] [--queries 1000] [--seed N] [--json]")
	n := fs.Int("n", 100000, "database vectors")
	dim := fs.Int("dim", 768, "dimension")
	dist := fs.String("dist", "random", "data: random (N(0,1) normalised) or clustered (as anchors/faiss_bench.py)")
	typ := fs.String("type", "both", "index: flat, ivf, both or ivfpq (ivf and ivfpq recall are always against flat)")
	pqM := fs.Int("pq-m", 0, "ivfpq: PQ sub-quantisers (default: dim/8 or the next divisor below)")
	codesOnly := fs.Bool("codes-only", false, "ivfpq: keep only the codes (approximate scores, no re-rank); with --sq8, also an SQ8 codes-only IVF")
	nlist := fs.Int("nlist", 1024, "IVF lists")
	nprobes := fs.String("nprobe", "1,8,32,128", "comma-separated IVF nprobe values")
	sq8 := fs.Bool("sq8", false, "also build an IVF with 8-bit scalar codes (same lists) and report it beside the float IVF")
	reranks := fs.String("rerank", "0", "SQ8: comma-separated numbers of candidates re-scored exactly per query (0: 4·k), one row each")
	nq := fs.Int("queries", 1000, "queries (fresh draws from the distribution)")
	k := fs.Int("k", 10, "results per query")
	seed := fs.Uint64("seed", 0, "data seed")
	clusters := fs.Int("clusters", 1000, "clusters of the clustered distribution")
	sigma := fs.Float64("sigma", 1.0, "noise norm of the clustered distribution")
	reps := fs.Int("reps", 5, "repetitions of each batched search (median reported)")
	singleReps := fs.Int("single-reps", 3, "repetitions of each one-query-at-a-time loop")
	flatSingle := fs.Int("flat-single-nq", 200, "queries in the one-at-a-time flat loop")
	trainReps := fs.Int("train-reps", 1, "IVF trainings (fresh index each time)")
	threads := fs.Int("threads", 0, "GOMAXPROCS (0: leave as is)")
	dir := fs.String("dir", "", "folder for the save/load files (default: a temporary folder)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed searches to FILE")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	fs.DurationVar(&benchQuietWait, "quiet-wait", benchQuietWait, "before each timed repetition, wait up to this long for other processes to go quiet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *n <= 0 || *dim <= 0 || *nq <= 0 || *k <= 0 || *reps <= 0 || *singleReps <= 0 {
		return fmt.Errorf("--n, --dim, --queries, --k and --reps must be positive")
	}
	var rerank []int
	for _, s := range strings.Split(*reranks, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || r < 0 {
			return fmt.Errorf("--rerank: bad value %q", s)
		}
		rerank = append(rerank, r)
	}
	if *dist != "random" && *dist != "clustered" {
		return fmt.Errorf("--dist %q: want random or clustered", *dist)
	}
	if *typ != "flat" && *typ != "ivf" && *typ != "both" && *typ != "ivfpq" {
		return fmt.Errorf("--type %q: want flat, ivf, both or ivfpq", *typ)
	}
	var probes []int
	for _, s := range strings.Split(*nprobes, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p <= 0 {
			return fmt.Errorf("--nprobe: bad value %q", s)
		}
		probes = append(probes, p)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	logf := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}
	tmp := *dir
	if tmp == "" {
		d, err := os.MkdirTemp("", "bench-index-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		tmp = d
	}

	rep := &benchIndexReport{Commit: benchstat.Commit(), Gemm: blas32.Implementation(), Threads: runtime.GOMAXPROCS(0),
		N: *n, Dim: *dim, Dist: *dist, NQ: *nq, K: *k, Seed: *seed, TruthFrom: "flat"}
	t0 := time.Now()
	xb, xq := benchIndexData(*dist, *n, *nq, *dim, *seed, *clusters, *sigma)
	rep.GenS = time.Since(t0).Seconds()
	rep.DataMB = float64(len(xb)*4) / (1 << 20)
	ids := make([]string, *n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	logf("data: %d × %d %s, %d queries, generated in %.1fs (gemm %s, %d threads)", *n, *dim, *dist, *nq, rep.GenS, rep.Gemm, rep.Threads)

	// Flat: always built, it is the ground truth.
	fr := &benchFlatReport{}
	h0 := benchHeap()
	flat, err := vector.NewFlat(*dim)
	if err != nil {
		return err
	}
	t0 = time.Now()
	if err := flat.Add(ids, xb); err != nil {
		return err
	}
	fr.AddS = time.Since(t0).Seconds()
	fr.HeapDeltaMB = (benchHeap() - h0) / (1 << 20)
	fr.IndexBytes = int64(len(xb))*4 + benchIDBytes(ids)
	truth, err := flat.Search(xq, *k)
	if err != nil {
		return err
	}
	if *typ != "ivf" && *typ != "ivfpq" {
		fr.BatchedS = benchTimes(*reps, func() { flat.Search(xq, *k) })
		fr.BatchedCPU = benchLastCPU
		med := benchstat.Median(fr.BatchedS)
		fr.BatchedQPS = float64(*nq) / med
		fr.BatchedGFLOPS = 2 * float64(*nq) * float64(*n) * float64(*dim) / med / 1e9
		logf("flat: batched %.0f QPS (%.1f GFLOP/s)", fr.BatchedQPS, fr.BatchedGFLOPS)
		fr.SingleNQ = min(*flatSingle, *nq)
		st := benchTimes(*singleReps, func() { benchOneByOne(flat, xq[:fr.SingleNQ**dim], *dim, *k) })
		fr.SingleQPS = float64(fr.SingleNQ) / benchstat.Median(st)
		fr.SingleLatencyMS = 1e3 / fr.SingleQPS
		logf("flat: one at a time %.1f QPS", fr.SingleQPS)
		fr.SaveLoad, err = benchSaveLoadIndex(flat, filepath.Join(tmp, "flat.idx"), xq, *k)
		if err != nil {
			return err
		}
		logf("flat: save %.2fs, load %.2fs (%.0f MB)", fr.SaveLoad.SaveS, fr.SaveLoad.LoadS, fr.SaveLoad.FileMB)
		rep.Flat = fr
	}

	if *typ != "flat" {
		flat = nil // free the flat index before measuring IVF memory
		cfg := benchIVFConfig{ids: ids, xb: xb, xq: xq, truth: truth, dim: *dim, nlist: *nlist, k: *k,
			probes: probes, reps: *reps, singleReps: *singleReps, trainReps: *trainReps, dir: tmp, logf: logf}
		if *typ == "ivfpq" {
			cfg.pqM, cfg.codesOnly = *pqM, *codesOnly
			if cfg.pqM <= 0 {
				cfg.pqM = vector.DefaultPQM(*dim)
			}
			if rep.IVFPQ, err = benchIVF(cfg, false, rerank); err != nil {
				return err
			}
		} else if rep.IVF, err = benchIVF(cfg, false, nil); err != nil {
			return err
		}
		if *sq8 {
			cfg.pqM, cfg.codesOnly = 0, *codesOnly
			if rep.IVFSQ8, err = benchIVF(cfg, true, rerank); err != nil {
				return err
			}
		}
	}

	if benchTimed > 0 {
		rep.OtherCPU = benchOther / benchTimed
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	benchIndexTable(rep)
	return nil
}

// benchIVFConfig is the input of benchIVF: the data, the flat index's
// results (the truth) and the settings of `bench index`.
type benchIVFConfig struct {
	ids                         []string
	xb, xq                      []float32
	truth                       [][]vector.Result
	dim, nlist, k               int
	probes                      []int
	reps, singleReps, trainReps int
	dir                         string
	pqM                         int  // > 0: an IVF-PQ index with pqM sub-quantisers
	codesOnly                   bool // PQ or SQ8 keeping only codes
	logf                        func(format string, a ...any)
}

// benchIVF trains, fills and times an IVF index (with 8-bit codes when sq8
// is set): train time, add time, memory, recall@k against flat, batched
// and one-at-a-time QPS at each nprobe (and, for SQ8, each re-rank depth
// of reranks), save and load. The default seed makes the float and SQ8
// indexes' lists identical, so their rows compare the codes alone.
func benchIVF(c benchIVFConfig, sq8 bool, reranks []int) (*benchIVFReport, error) {
	name := "ivf"
	var opts []vector.Option
	switch {
	case sq8:
		name = "ivf-sq8"
		opts = append(opts, vector.WithSQ8())
	case c.pqM > 0:
		name = fmt.Sprintf("ivf-pq%d", c.pqM)
		opts = append(opts, vector.WithPQ(c.pqM))
	default:
		reranks = []int{0}
	}
	if c.codesOnly && (sq8 || c.pqM > 0) {
		name += "-codes"
		opts = append(opts, vector.WithCodesOnly())
		reranks = []int{0}
	}
	ir := &benchIVFReport{NList: c.nlist, SQ8: sq8, PQM: c.pqM, CodesOnly: c.codesOnly && (sq8 || c.pqM > 0)}
	var ivf *vector.IVF
	var err error
	for r := 0; r < max(1, c.trainReps); r++ {
		ivf = nil
		runtime.GC()
		ivf, err = vector.NewIVF(c.dim, c.nlist, opts...)
		if err != nil {
			return nil, err
		}
		benchstat.WaitQuiet(benchQuietWait)
		t0, c0 := time.Now(), benchstat.CPUSeconds()
		if err := ivf.Train(c.xb); err != nil {
			return nil, err
		}
		ir.TrainS = append(ir.TrainS, time.Since(t0).Seconds())
		ir.TrainCPU = append(ir.TrainCPU, benchstat.CPUSeconds()-c0)
		c.logf("%s: trained in %.2fs", name, ir.TrainS[len(ir.TrainS)-1])
	}
	ir.TrainMedian = benchstat.Median(ir.TrainS)
	runtime.GC()
	h0 := benchHeap()
	t0 := time.Now()
	if err := ivf.Add(c.ids, c.xb); err != nil {
		return nil, err
	}
	ir.AddS = time.Since(t0).Seconds()
	ir.HeapDeltaMB = (benchHeap() - h0) / (1 << 20)
	ir.IndexBytes = int64(len(c.xb))*4 + benchIDBytes(c.ids) + int64(c.nlist*c.dim*4)
	if ir.CodesOnly {
		ir.IndexBytes -= int64(len(c.xb)) * 4 // no floats
	}
	if sq8 {
		// One byte a dimension per vector, plus the min and scale of
		// each dimension; the float vectors stay for re-ranking unless
		// codes only.
		ir.IndexBytes += int64(len(c.xb)) + int64(2*c.dim*4)
	}
	if c.pqM > 0 {
		// pqM bytes per vector plus the codebooks (256·dim floats).
		ir.IndexBytes += int64(len(c.ids)*c.pqM) + int64(256*c.dim*4)
	}
	sizes := ivf.ListSizes()
	sort.Ints(sizes)
	ir.ListSizes = [3]int{sizes[0], sizes[len(sizes)/2], sizes[len(sizes)-1]}
	c.logf("%s: add %.2fs; list sizes min/median/max %v", name, ir.AddS, ir.ListSizes)
	for _, p := range c.probes {
		ivf.SetNProbe(p)
		for _, rr := range reranks {
			ivf.SetRerank(rr)
			res, err := ivf.Search(c.xq, c.k)
			if err != nil {
				return nil, err
			}
			pr := benchProbe{NProbe: ivf.NProbe(), Recall: benchRecall(res, c.truth, c.k)}
			if (sq8 || c.pqM > 0) && !ir.CodesOnly {
				pr.Candidates = max(rr, c.k)
				if rr == 0 {
					pr.Candidates = vector.DefaultRerankFactor * c.k
				}
			}
			pr.BatchedS = benchTimes(c.reps, func() { ivf.Search(c.xq, c.k) })
			pr.BatchedCPU = benchLastCPU
			pr.BatchedQPS = float64(len(c.truth)) / benchstat.Median(pr.BatchedS)
			st := benchTimes(c.singleReps, func() { benchOneByOne(ivf, c.xq, c.dim, c.k) })
			pr.SingleQPS = float64(len(c.truth)) / benchstat.Median(st)
			ir.NProbe = append(ir.NProbe, pr)
			c.logf("%s nprobe=%d candidates=%d: recall@%d=%.3f batched %.0f QPS, one at a time %.0f QPS", name, p, pr.Candidates, c.k, pr.Recall, pr.BatchedQPS, pr.SingleQPS)
		}
	}
	ivf.SetRerank(reranks[0])
	ir.SaveLoad, err = benchSaveLoadIndex(ivf, filepath.Join(c.dir, name+".idx"), c.xq, c.k)
	if err != nil {
		return nil, err
	}
	c.logf("%s: save %.2fs, load %.2fs (%.0f MB)", name, ir.SaveLoad.SaveS, ir.SaveLoad.LoadS, ir.SaveLoad.FileMB)
	return ir, nil
}

func benchIndexTable(r *benchIndexReport) {
	fmt.Printf("bench index: n=%d dim=%d dist=%s queries=%d k=%d threads=%d gemm=%q commit=%s (other processes used %.2f cores while timing)\n",
		r.N, r.Dim, r.Dist, r.NQ, r.K, r.Threads, r.Gemm, r.Commit, r.OtherCPU)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	if f := r.Flat; f != nil {
		fmt.Fprintf(w, "flat\tadd s\tbatched QPS\tGFLOP/s\tsingle QPS\tms/query\tindex MB\theap Δ MB\tsave s\tload s\t\n")
		fmt.Fprintf(w, "\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.2f\t%.2f\t\n", f.AddS, f.BatchedQPS, f.BatchedGFLOPS,
			f.SingleQPS, f.SingleLatencyMS, float64(f.IndexBytes)/(1<<20), f.HeapDeltaMB, f.SaveLoad.SaveS, f.SaveLoad.LoadS)
	}
	w.Flush()
	for _, v := range []*benchIVFReport{r.IVF, r.IVFSQ8, r.IVFPQ} {
		if v == nil {
			continue
		}
		name := "ivf"
		if v.SQ8 {
			name = "ivf-sq8"
		}
		if v.PQM > 0 {
			name = fmt.Sprintf("ivf-pq m=%d", v.PQM)
		}
		if v.CodesOnly {
			name += " (codes only)"
		}
		fmt.Printf("%s nlist=%d: train %.2fs (median of %d), add %.2fs, lists min/median/max %v, index %.0f MB (heap Δ %.0f MB), file %.0f MB, save %.2fs, load %.2fs\n",
			name, v.NList, v.TrainMedian, len(v.TrainS), v.AddS, v.ListSizes, float64(v.IndexBytes)/(1<<20), v.HeapDeltaMB,
			v.SaveLoad.FileMB, v.SaveLoad.SaveS, v.SaveLoad.LoadS)
		fmt.Fprintf(w, "nprobe\trerank\trecall@%d\tbatched QPS\tsingle QPS\t\n", r.K)
		for _, p := range v.NProbe {
			rr := "-"
			if p.Candidates > 0 {
				rr = strconv.Itoa(p.Candidates)
			}
			fmt.Fprintf(w, "%d\t%s\t%.3f\t%.0f\t%.0f\t\n", p.NProbe, rr, p.Recall, p.BatchedQPS, p.SingleQPS)
		}
		w.Flush()
	}
	if a, b := r.IVF, r.IVFSQ8; a != nil && b != nil {
		fmt.Printf("float IVF vs SQ8 (same lists; ratio = SQ8 / float): index MB %.0f vs %.0f, heap Δ MB %.0f vs %.0f, file MB %.0f vs %.0f, load s %.2f vs %.2f\n",
			float64(a.IndexBytes)/(1<<20), float64(b.IndexBytes)/(1<<20), a.HeapDeltaMB, b.HeapDeltaMB,
			a.SaveLoad.FileMB, b.SaveLoad.FileMB, a.SaveLoad.LoadS, b.SaveLoad.LoadS)
		fmt.Fprintf(w, "nprobe\trerank\trecall float\trecall sq8\tbatched float\tbatched sq8\tratio\tsingle float\tsingle sq8\tratio\t\n")
		for _, q := range b.NProbe {
			for _, p := range a.NProbe {
				if p.NProbe != q.NProbe {
					continue
				}
				fmt.Fprintf(w, "%d\t%d\t%.3f\t%.3f\t%.0f\t%.0f\t%.2f\t%.0f\t%.0f\t%.2f\t\n", p.NProbe, q.Candidates, p.Recall, q.Recall,
					p.BatchedQPS, q.BatchedQPS, q.BatchedQPS/p.BatchedQPS, p.SingleQPS, q.SingleQPS, q.SingleQPS/p.SingleQPS)
			}
		}
		w.Flush()
	}
}

// benchIndexData draws the database and queries as anchors/faiss_bench.py
// does: random = i.i.d. N(0,1) rows, L2-normalised; clustered = `clusters`
// unit centres c, point = normalise(c + sigma·g/√d), g ~ N(0, I), centre
// uniform. Queries are fresh draws. Rows are drawn in parallel from
// per-chunk seeded generators, so the data depend only on the seed.
func benchIndexData(dist string, n, nq, d int, seed uint64, clusters int, sigma float64) ([]float32, []float32) {
	var cent []float32
	if dist == "clustered" {
		rng := rand.New(rand.NewPCG(seed, 0))
		cent = make([]float32, clusters*d)
		for i := range cent {
			cent[i] = float32(rng.NormFloat64())
		}
		benchNormalize(cent, d)
	}
	draw := func(m int, stream uint64) []float32 {
		v := make([]float32, m*d)
		const chunk = 4096
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for c0 := 0; c0 < m; c0 += chunk {
			wg.Add(1)
			sem <- struct{}{}
			go func(c0 int) {
				defer wg.Done()
				defer func() { <-sem }()
				rng := rand.New(rand.NewPCG(seed, stream<<32|uint64(c0/chunk)+1))
				s := sigma / math.Sqrt(float64(d))
				for i := c0; i < min(m, c0+chunk); i++ {
					row := v[i*d : (i+1)*d]
					if cent == nil {
						for j := range row {
							row[j] = float32(rng.NormFloat64())
						}
						continue
					}
					c := cent[rng.IntN(clusters)*d:]
					for j := range row {
						row[j] = c[j] + float32(s*rng.NormFloat64())
					}
				}
				benchNormalize(v[c0*d:min(m, c0+chunk)*d], d)
			}(c0)
		}
		wg.Wait()
		return v
	}
	return draw(n, 1), draw(nq, 2)
}

func benchNormalize(v []float32, d int) {
	for off := 0; off < len(v); off += d {
		row := v[off : off+d]
		var s float64
		for _, x := range row {
			s += float64(x) * float64(x)
		}
		if s > 0 {
			inv := float32(1 / math.Sqrt(s))
			for j := range row {
				row[j] *= inv
			}
		}
	}
}

func benchOneByOne(ix vector.Index, qs []float32, d, k int) {
	for off := 0; off < len(qs); off += d {
		ix.Search(qs[off:off+d], k)
	}
}

func benchSaveLoadIndex(ix vector.Index, path string, xq []float32, k int) (benchSaveLoad, error) {
	var r benchSaveLoad
	t0 := time.Now()
	if err := ix.Save(path); err != nil {
		return r, err
	}
	r.SaveS = time.Since(t0).Seconds()
	st, err := os.Stat(path)
	if err != nil {
		return r, err
	}
	r.FileMB = float64(st.Size()) / (1 << 20)
	runtime.GC()
	t0 = time.Now()
	back, err := vector.Load(path)
	if err != nil {
		return r, err
	}
	r.LoadS = time.Since(t0).Seconds()
	a, _ := ix.Search(xq, k)
	b, _ := back.Search(xq, k)
	r.Same = reflect.DeepEqual(a, b)
	if !r.Same {
		return r, fmt.Errorf("results differ after save/load of %s", path)
	}
	os.Remove(path)
	return r, nil
}

func benchRecall(got, truth [][]vector.Result, k int) float64 {
	hit, tot := 0, 0
	for i := range truth {
		set := map[string]bool{}
		for _, r := range truth[i][:min(k, len(truth[i]))] {
			set[r.ID] = true
		}
		for _, r := range got[i][:min(k, len(got[i]))] {
			if set[r.ID] {
				hit++
			}
		}
		tot += len(set)
	}
	return float64(hit) / float64(max(tot, 1))
}

// benchQuietWait is how long benchTimes waits, before each repetition, for
// the other processes of this shared machine to go quiet (--quiet-wait).
var benchQuietWait = 20 * time.Second

// benchOther accumulates the CPU seconds other processes used during timed
// repetitions, and benchTimed their wall seconds (for the report).
var benchOther, benchTimed float64

// benchLastCPU holds this process's CPU seconds for each repetition of the
// last benchTimes call (a measure that other processes disturb less).
var benchLastCPU []float64

// benchTimes runs fn once to warm up, then reps times, returning seconds.
// Like anchors/_common.py it first waits (at most benchQuietWait) until
// other processes use under 0.2 core.
func benchTimes(reps int, fn func()) []float64 {
	fn()
	out := make([]float64, reps)
	benchLastCPU = make([]float64, reps)
	for i := range out {
		benchstat.WaitQuiet(benchQuietWait)
		b0, c0 := benchstat.MachineBusy(), benchstat.CPUSeconds()
		t0 := time.Now()
		fn()
		out[i] = time.Since(t0).Seconds()
		benchLastCPU[i] = benchstat.CPUSeconds() - c0
		if b0 >= 0 {
			benchOther += max(0, (benchstat.MachineBusy()-b0)-(benchstat.CPUSeconds()-c0))
			benchTimed += out[i]
		}
	}
	return out
}

func benchHeap() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

// benchIDBytes estimates the memory of ids: string headers, bytes and the
// id→position map entry.
func benchIDBytes(ids []string) int64 {
	var b int64
	for _, id := range ids {
		b += int64(len(id)) + 16 + 32
	}
	return b
}
