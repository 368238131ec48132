package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/contriever-go/contriever/encoder"
)

func init() {
	registerBench(command{
		name:    "encoder",
		summary: "BERT forward throughput (random weights): seq/s, tok/s, GFLOP/s",
		run:     runBenchEncoder,
	})
}

func runBenchEncoder(args []string) error {
	fs := newFlagSet("bench encoder", "[--config base|small|tiny] [--batch 32] [--seq 128] [--threads N] [--reps 5]")
	cfgName := fs.String("config", "base", "model configuration: base (BERT-base), small or tiny")
	batch := fs.Int("batch", 32, "sequences per forward pass")
	seq := fs.Int("seq", 128, "tokens per sequence (no padding)")
	threads := fs.Int("threads", 0, "threads (GOMAXPROCS); 0 keeps the current value")
	reps := fs.Int("reps", 5, "timed repetitions (the median is reported)")
	warmup := fs.Int("warmup", 1, "untimed repetitions first")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *batch <= 0 || *seq <= 0 || *reps <= 0 || *warmup < 0 {
		return fmt.Errorf("--batch, --seq and --reps must be positive")
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	cfg, err := encoder.NamedConfig(*cfgName)
	if err != nil {
		return err
	}
	if *seq > cfg.MaxPositionEmbeddings {
		return fmt.Errorf("--seq %d exceeds the model's %d positions", *seq, cfg.MaxPositionEmbeddings)
	}
	m, err := encoder.NewRandom(cfg, 0, false)
	if err != nil {
		return err
	}
	b := encoder.RandomBatch(cfg, *batch, *seq, 1)
	acts := m.NewActivations(*batch, *seq, false, false)
	pooled := make([]float32, *batch*cfg.HiddenSize)
	step := func() (float64, error) {
		t0 := time.Now()
		last, err := m.Forward(acts, b, encoder.ForwardOptions{})
		if err != nil {
			return 0, err
		}
		encoder.Pool(pooled, last, b.Mask, *batch, *seq, cfg.HiddenSize, encoder.PoolMean, false)
		return time.Since(t0).Seconds(), nil
	}
	for i := 0; i < *warmup; i++ {
		if _, err := step(); err != nil {
			return err
		}
	}
	times := make([]float64, *reps)
	for i := range times {
		if times[i], err = step(); err != nil {
			return err
		}
	}
	sorted := append([]float64(nil), times...)
	sort.Float64s(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	best := sorted[0]
	flop := encoder.ForwardFLOPs(cfg, *batch, *seq)
	res := map[string]any{
		"config": *cfgName, "batch": *batch, "seq": *seq, "threads": runtime.GOMAXPROCS(0),
		"times_s": times, "median_s": med, "best_s": best,
		"seq_per_s": float64(*batch) / med, "tokens_per_s": float64(*batch**seq) / med,
		"best_seq_per_s":         float64(*batch) / best,
		"achieved_gflops_median": flop / med / 1e9, "approx_gflop_per_step": flop / 1e9,
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(res)
	}
	fmt.Printf("%-7s %5s %5s %7s %9s %8s %9s %8s %9s\n", "config", "batch", "seq", "threads", "median_s", "seq/s", "tok/s", "GFLOP/s", "best seq/s")
	fmt.Printf("%-7s %5d %5d %7d %9.3f %8.2f %9.0f %8.1f %9.2f\n", *cfgName, *batch, *seq, runtime.GOMAXPROCS(0), med,
		float64(*batch)/med, float64(*batch**seq)/med, flop/med/1e9, float64(*batch)/best)
	return nil
}
