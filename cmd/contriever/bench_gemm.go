package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/contriever-go/contriever/internal/benchstat"
	"github.com/contriever-go/contriever/internal/blas32"
)

func init() {
	registerBench(command{
		name:    "gemm",
		summary: "sgemm GFLOP/s at the project's shapes, 1 and 2 threads (internal/blas32)",
		run:     runBenchGemm,
	})
}

// gemmShape is one product of `bench gemm`: C(m×n) = A(m×k)·B(k×n), or a
// named workload (attention, search).
type gemmShape struct {
	name    string
	m, k, n int
}

const defaultGemmShapes = "2048x2048x2048,4096x768x768,4096x768x3072,4096x3072x768,attention,search"

// parseGemmShapes reads a comma-separated list of MxKxN products (as in
// "4096x768x3072": a 4096×768 matrix times a 768×3072 one) and the named
// workloads "attention" (batched 128×64×128 heads) and "search" (1000
// queries against 100k vectors of 768).
func parseGemmShapes(s string) ([]gemmShape, error) {
	var out []gemmShape
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case "":
			continue
		case "attention", "search":
			out = append(out, gemmShape{name: f})
			continue
		}
		parts := strings.Split(f, "x")
		if len(parts) != 3 {
			return nil, fmt.Errorf("--shapes: %q is not MxKxN, attention or search", f)
		}
		var d [3]int
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil || v <= 0 || v > 1<<16 {
				return nil, fmt.Errorf("--shapes: %q: bad dimension %q", f, p)
			}
			d[i] = v
		}
		out = append(out, gemmShape{name: f, m: d[0], k: d[1], n: d[2]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--shapes: no shape given")
	}
	return out, nil
}

func parseThreads(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || v > 1024 {
			return nil, fmt.Errorf("--threads: bad thread count %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// gemmWorkload is a prepared benchmark: run does one repetition with the
// given number of threads; flops is the work of one repetition.
type gemmWorkload struct {
	run   func(threads int)
	flops float64
}

func randFloats(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = rng.Float32()*2 - 1
	}
	return s
}

func prepareGemm(s gemmShape) gemmWorkload {
	rng := rand.New(rand.NewPCG(1, uint64(s.m+s.n+s.k)))
	switch s.name {
	case "attention":
		// 32 sequences × 12 heads, seq 128, head 64: S = Q·Kᵀ/8 then O = S·V,
		// one SgemmSerial per head, heads spread over the threads.
		const seq, dh, heads = 128, 64, 32 * 12
		q, k, v := randFloats(rng, heads*seq*dh), randFloats(rng, heads*seq*dh), randFloats(rng, heads*seq*dh)
		sc, o := make([]float32, heads*seq*seq), make([]float32, heads*seq*dh)
		return gemmWorkload{flops: 4 * float64(seq*seq*dh) * heads, run: func(threads int) {
			var next atomic.Int64
			var wg sync.WaitGroup
			for w := 0; w < threads; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for h := int(next.Add(1) - 1); h < heads; h = int(next.Add(1) - 1) {
						qh, kh, vh := q[h*seq*dh:(h+1)*seq*dh], k[h*seq*dh:(h+1)*seq*dh], v[h*seq*dh:(h+1)*seq*dh]
						sh, oh := sc[h*seq*seq:(h+1)*seq*seq], o[h*seq*dh:(h+1)*seq*dh]
						blas32.SgemmSerial(false, true, seq, seq, dh, 0.125, qh, dh, kh, dh, 0, sh, seq)
						blas32.SgemmSerial(false, false, seq, dh, seq, 1, sh, seq, vh, dh, 0, oh, dh)
					}
				}()
			}
			wg.Wait()
		}}
	case "search":
		// 1000 queries × 100k vectors of 768 through blas32.Scores, keeping
		// the best score per query.
		const nq, nx, dim = 1000, 100000, 768
		q, x := randFloats(rng, nq*dim), randFloats(rng, nx*dim)
		return gemmWorkload{flops: 2 * float64(nq) * nx * dim, run: func(threads int) {
			best := make([][]float32, threads)
			for w := range best {
				best[w] = make([]float32, nq)
			}
			blas32.Scores(q, nq, x, nx, dim, threads, func(w, x0, nb int, s []float32) {
				bw := best[w]
				for i := 0; i < nq; i++ {
					for _, v := range s[i*nb : (i+1)*nb] {
						bw[i] = max(bw[i], v)
					}
				}
			})
		}}
	}
	a, b, c := randFloats(rng, s.m*s.k), randFloats(rng, s.k*s.n), make([]float32, s.m*s.n)
	return gemmWorkload{flops: 2 * float64(s.m) * float64(s.n) * float64(s.k), run: func(threads int) {
		blas32.SgemmThreads(threads, false, false, s.m, s.n, s.k, 1, a, s.k, b, s.n, 0, c, s.n)
	}}
}

// gemmResult is one row of the report.
type gemmResult struct {
	Shape       string    `json:"shape"`
	Threads     int       `json:"threads"`
	Reps        int       `json:"reps"`
	MedianS     float64   `json:"median_s"`
	RateMedian  float64   `json:"rate_median"`
	RateBest    float64   `json:"rate_best"`
	Times       []float64 `json:"times_s"`
	CPUTimes    []float64 `json:"cpu_s"`
	RateCPU     float64   `json:"rate_per_cpu_s"`
	Kernel      string    `json:"kernel"`
	flopsPerRep float64
}

func runBenchGemm(args []string) error {
	fs := newFlagSet("bench gemm", "[flags]")
	shapesFlag := fs.String("shapes", defaultGemmShapes, "comma-separated MxKxN products (A is M×K, B is K×N) and the workloads attention, search")
	threadsFlag := fs.String("threads", "1,2", "comma-separated goroutine counts to measure")
	reps := fs.Int("reps", 5, "timed repetitions per shape and thread count (after one warm-up)")
	jsonOut := fs.Bool("json", false, "print JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *reps < 1 {
		return fmt.Errorf("--reps must be at least 1, got %d", *reps)
	}
	shapes, err := parseGemmShapes(*shapesFlag)
	if err != nil {
		return err
	}
	threads, err := parseThreads(*threadsFlag)
	if err != nil {
		return err
	}

	var results []gemmResult
	for _, s := range shapes {
		w := prepareGemm(s)
		rs := make([]gemmResult, len(threads))
		for i, t := range threads {
			w.run(t) // warm-up: page faults, packing buffers
			rs[i] = gemmResult{Shape: s.name, Threads: t, Reps: *reps, Kernel: blas32.Implementation(), flopsPerRep: w.flops}
		}
		// Alternate the thread counts rep by rep so that noise from other
		// processes falls on all of them alike.
		for r := 0; r < *reps; r++ {
			for i, t := range threads {
				c0 := benchstat.CPUSeconds()
				t0 := time.Now()
				w.run(t)
				rs[i].Times = append(rs[i].Times, time.Since(t0).Seconds())
				rs[i].CPUTimes = append(rs[i].CPUTimes, benchstat.CPUSeconds()-c0)
			}
		}
		for i := range rs {
			ts := slices.Clone(rs[i].Times)
			slices.Sort(ts)
			med := ts[len(ts)/2]
			if len(ts)%2 == 0 {
				med = (ts[len(ts)/2-1] + ts[len(ts)/2]) / 2
			}
			rs[i].MedianS = med
			rs[i].RateMedian = w.flops / med / 1e9
			rs[i].RateBest = w.flops / ts[0] / 1e9
			cs := slices.Clone(rs[i].CPUTimes)
			slices.Sort(cs)
			if cs[len(cs)/2] > 0 {
				rs[i].RateCPU = w.flops * float64(rs[i].Threads) / cs[len(cs)/2] / 1e9
			}
		}
		results = append(results, rs...)
	}

	if *jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(map[string]any{"kernel": blas32.Implementation(), "results": results})
	}
	fmt.Printf("kernel: %s; GFLOP/s = 2·M·N·K / time; median and best of %d reps\n\n", blas32.Implementation(), *reps)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape (MxKxN)\tthreads\tGFLOP/s median\tGFLOP/s best\tms median\tGFLOP/s per CPU\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.2f\t%.1f\t\n", r.Shape, r.Threads, r.RateMedian, r.RateBest, r.MedianS*1e3, r.RateCPU)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println("\nGFLOP/s per CPU: work / (process CPU seconds / threads), the rate the threads reach while they run;\nit tells the kernel's speed apart from other processes sharing the cores.")
	return nil
}
