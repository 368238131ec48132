package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/internal/benchstat"
)

// `bench scale --bm25-only`: the BM25 half of the scale benchmark alone
// (build or --reuse, open, one query at a time, batched), for the BM25
// latency acceptance without the minutes of vectors. Beside wall-clock
// p50/p99 it reports the mean and the per-query CPU time of the process
// (getrusage: all the goroutines of a split query, and the GC), which
// another job on the machine disturbs much less than the wall clock.

// scaleCorpusStamp identifies the corpus an index under --dir was built
// from, so that --reuse never times another corpus.
type scaleCorpusStamp struct {
	Docs   int    `json:"docs"`
	Source string `json:"source"`
	Seed   uint64 `json:"seed"`
}

const scaleStampFile = "bench-scale-corpus.json"

// scaleBuildBM25 builds the BM25 index of gen into bdir, or with reuse
// opens the one a previous run built there from the same corpus.
func scaleBuildBM25(ctx context.Context, bdir string, gen scaleCorpus, reuse, quiet bool, rep *benchScaleReport, logf func(string, ...any)) error {
	stamp := scaleCorpusStamp{Docs: gen.n, Source: rep.Source, Seed: gen.seed}
	spath := filepath.Join(filepath.Dir(bdir), scaleStampFile)
	if reuse {
		raw, err := os.ReadFile(spath)
		if err == nil {
			var got scaleCorpusStamp
			if err = json.Unmarshal(raw, &got); err == nil && got != stamp {
				err = fmt.Errorf("%s: built from %+v, this run asks %+v", spath, got, stamp)
			}
		}
		if err == nil {
			rep.BM25DiskMB = scaleDiskMB(bdir)
			logf("bm25: reusing %s (%.0f MB on disk)", bdir, rep.BM25DiskMB)
			return nil
		}
		if !os.IsNotExist(err) {
			return fmt.Errorf("--reuse: %w", err)
		}
		logf("bm25: nothing to reuse in %s; building", bdir)
	}
	os.Remove(spath)
	t0 := time.Now()
	bix, err := bm25.Build(ctx, bdir, gen.each, bm25.Options{Quiet: quiet, Total: gen.n})
	if err != nil {
		return err
	}
	rep.BM25BuildS = time.Since(t0).Seconds()
	if err := bix.Close(); err != nil {
		return err
	}
	rep.BM25DiskMB = scaleDiskMB(bdir)
	logf("bm25 built in %.1fs, %.0f MB on disk", rep.BM25BuildS, rep.BM25DiskMB)
	raw, _ := json.Marshal(stamp)
	return os.WriteFile(spath, raw, 0o644)
}

// scaleBM25Stats are the one-at-a-time figures of one query set.
type scaleBM25Stats struct {
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	MeanMS   float64 `json:"mean_ms"`
	CPUMean  float64 `json:"cpu_ms_mean"`
	CPUP99   float64 `json:"cpu_ms_p99"`
	CPUTotal float64 `json:"cpu_s_total"`
	// Slowest: the queries of the tail, slowest first (wall ms).
	Slowest []scaleSlowQuery `json:"slowest"`
}

type scaleSlowQuery struct {
	MS    float64 `json:"ms"`
	Query string  `json:"query"`
}

// scaleBM25OnlyReport is the JSON output of `bench scale --bm25-only`.
type scaleBM25OnlyReport struct {
	Docs        int                       `json:"docs"`
	Threads     int                       `json:"threads"`
	Source      string                    `json:"source"`
	Seed        uint64                    `json:"seed"`
	QueriesFrom string                    `json:"queries_from"`
	Queries     int                       `json:"queries"`
	K           int                       `json:"k"`
	Reps        int                       `json:"reps"`
	BM25BuildS  float64                   `json:"bm25_build_s,omitempty"`
	BM25DiskMB  float64                   `json:"bm25_disk_mb"`
	BM25OpenS   float64                   `json:"bm25_open_s"`
	PeakRSSMB   float64                   `json:"peak_rss_mb"`
	Latency     map[string]scaleBM25Stats `json:"latency"`
	BatchedQPS  map[string]float64        `json:"batched_qps"`
	Commit      string                    `json:"commit,omitempty"`
	MachineBusy float64                   `json:"machine_busy_fraction"`
	Note        string                    `json:"note"`
}

// scaleCPU returns the process's user + system CPU time.
func scaleCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scaleBM25Times runs the queries one at a time, reps times over the set
// (interleaved: all queries, then all again), and keeps per query the
// median wall and CPU time.
func scaleBM25Times(ctx context.Context, bix *bm25.Index, queries []string, k, reps int) (scaleBM25Stats, error) {
	wall := make([][]float64, len(queries))
	cpu := make([][]float64, len(queries))
	for r := 0; r < reps; r++ {
		for i, q := range queries {
			c0, t0 := scaleCPU(), time.Now()
			if _, err := bix.Search(ctx, q, k); err != nil {
				return scaleBM25Stats{}, err
			}
			wall[i] = append(wall[i], scaleMS(t0))
			cpu[i] = append(cpu[i], float64(scaleCPU()-c0)/1e6)
		}
	}
	w := make([]float64, len(queries))
	c := make([]float64, len(queries))
	var st scaleBM25Stats
	for i := range queries {
		w[i], c[i] = scalePct(wall[i], 0.5), scalePct(cpu[i], 0.5)
		st.MeanMS += w[i] / float64(len(queries))
		st.CPUMean += c[i] / float64(len(queries))
		st.CPUTotal += c[i] / 1e3
	}
	st.P50MS, st.P99MS, st.MaxMS = scalePct(w, 0.5), scalePct(w, 0.99), scalePct(w, 1)
	st.CPUP99 = scalePct(c, 0.99)
	order := make([]int, len(queries))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return w[order[a]] > w[order[b]] })
	for _, i := range order[:min(10, len(order))] {
		st.Slowest = append(st.Slowest, scaleSlowQuery{MS: w[i], Query: queries[i]})
	}
	return st, nil
}

// scaleBM25Only opens the index built in bdir and times it (see above).
func scaleBM25Only(ctx context.Context, bdir string, queries, fragments []string, k, reps int, exhaustive, asJSON bool, rep *benchScaleReport, busy0 float64, wall0 time.Time, logf func(string, ...any)) error {
	if reps <= 0 {
		return fmt.Errorf("--bm25-reps %d: want a positive count", reps)
	}
	out := scaleBM25OnlyReport{Docs: rep.Docs, Threads: rep.Threads, Source: rep.Source, Seed: rep.Seed,
		QueriesFrom: rep.QueriesFrom, Queries: len(queries), K: k, Reps: reps, BM25BuildS: rep.BM25BuildS,
		BM25DiskMB: rep.BM25DiskMB, Latency: map[string]scaleBM25Stats{}, BatchedQPS: map[string]float64{},
		Commit: rep.Commit, Note: rep.Note}
	runtime.GC()
	t0 := time.Now()
	bix, err := bm25.Open(bdir)
	if err != nil {
		return err
	}
	defer bix.Close()
	if bix.Len() != rep.Docs {
		return fmt.Errorf("%s holds %d documents, --docs is %d", bdir, bix.Len(), rep.Docs)
	}
	if _, err := bix.Search(ctx, "warm", 1); err != nil { // the view is built on first use
		return err
	}
	out.BM25OpenS = time.Since(t0).Seconds()
	logf("open: bm25 %.2fs (with its first search)", out.BM25OpenS)
	sets := []struct {
		name string
		qs   []string
	}{{"bm25", queries}}
	if rep.QueriesFrom != "fragments" {
		sets = append(sets, struct {
			name string
			qs   []string
		}{"bm25-fragments", fragments})
	}
	for _, s := range sets {
		st, err := scaleBM25Times(ctx, bix, s.qs, k, reps)
		if err != nil {
			return err
		}
		out.Latency[s.name] = st
		t := time.Now()
		if _, err := bix.SearchBatch(ctx, s.qs, k); err != nil {
			return err
		}
		out.BatchedQPS[s.name] = float64(len(s.qs)) / time.Since(t).Seconds()
		logf("%s: p50 %.2f ms, p99 %.2f ms, mean %.2f ms, cpu mean %.2f ms", s.name, st.P50MS, st.P99MS, st.MeanMS, st.CPUMean)
	}
	if exhaustive {
		bix.SetExhaustive(true)
		st, err := scaleBM25Times(ctx, bix, queries, k, 1)
		bix.SetExhaustive(false)
		if err != nil {
			return err
		}
		out.Latency["bm25-exhaustive"] = st
	}
	out.PeakRSSMB = scalePeakRSSMB()
	if busy1 := benchstat.MachineBusy(); busy0 >= 0 && busy1 >= 0 {
		out.MachineBusy = (busy1 - busy0) / (time.Since(wall0).Seconds() * float64(runtime.NumCPU()))
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Printf("bench scale --bm25-only: %d docs (sentences of %s, seed %d), %d threads, k %d, %d queries (%s), %d reps (%s)\n",
		out.Docs, out.Source, out.Seed, out.Threads, k, out.Queries, out.QueriesFrom, reps, out.Note)
	fmt.Printf("build %.1fs, disk %.0f MB, open %.2fs, peak RSS %.0f MB; machine busy %.0f%%\n",
		out.BM25BuildS, out.BM25DiskMB, out.BM25OpenS, out.PeakRSSMB, 100*out.MachineBusy)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "queries\tp50 ms\tp99 ms\tmax ms\tmean ms\tcpu mean ms\tcpu p99 ms\tbatched QPS\t\n")
	for _, m := range []string{"bm25", "bm25-fragments", "bm25-exhaustive"} {
		st, ok := out.Latency[m]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t\n", m, st.P50MS, st.P99MS, st.MaxMS, st.MeanMS, st.CPUMean, st.CPUP99, out.BatchedQPS[m])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Println("slowest bm25 queries (ms):")
	for _, s := range out.Latency["bm25"].Slowest {
		fmt.Printf("  %7.2f  %.100s\n", s.MS, s.Query)
	}
	return nil
}
