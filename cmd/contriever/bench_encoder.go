package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/internal/benchstat"
	"github.com/contriever-go/contriever/internal/blas32"
)

func init() {
	registerBench(command{
		name:    "encoder",
		summary: "BERT forward throughput (random weights): seq/s, tok/s, GFLOP/s",
		run:     runBenchEncoder,
	})
}

func runBenchEncoder(args []string) error {
	fs := newFlagSet("bench encoder", "[--config base|small|tiny] [--batch 32] [--seq 128] [--threads N] [--reps 5] [--split 1] [--precision f32|bf16|int8] [--check] [--model DIR] [--save-model DIR]")
	cfgName := fs.String("config", "base", "model configuration: base (BERT-base), small or tiny")
	batch := fs.Int("batch", 32, "sequences per forward pass")
	seq := fs.Int("seq", 128, "tokens per sequence (no padding)")
	threads := fs.Int("threads", 0, "threads (GOMAXPROCS); 0 keeps the current value")
	reps := fs.Int("reps", 5, "timed repetitions (the median is reported)")
	warmup := fs.Int("warmup", 1, "untimed repetitions first")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	split := fs.Int("split", 1, "run the batch as this many concurrent sub-batches (each with its own buffers) instead of one parallel pass")
	saveModel := fs.String("save-model", "", "also write the random model as an HF folder DIR (config.json, model.safetensors, vocab.txt from --vocab), for embed tests")
	vocab := fs.String("vocab", defaultVocab, "vocab.txt copied into --save-model (when the default is not found here, the copy built into the binary)")
	precName := fs.String("precision", "f32", "arithmetic of the linear layers: f32, bf16 or int8")
	modelDir := fs.String("model", "", "time (and --check) the model in this HF folder instead of random weights of --config")
	check := fs.Bool("check", false, "print the error of each layer's output and of the pooled vectors against f32, then time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prec, err := encoder.ParsePrecision(*precName)
	if err != nil {
		return err
	}
	if *batch <= 0 || *seq <= 0 || *reps <= 0 || *warmup < 0 {
		return fmt.Errorf("--batch, --seq and --reps must be positive")
	}
	if *split <= 0 || *batch%*split != 0 {
		return fmt.Errorf("--split %d must divide --batch %d", *split, *batch)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}
	cfg, err := encoder.NamedConfig(*cfgName)
	if err != nil {
		return err
	}
	var m *encoder.Model
	if *modelDir != "" {
		m, err = encoder.Load(*modelDir)
		*cfgName = "model"
	} else {
		m, err = encoder.NewRandom(cfg, 0, false)
	}
	if err != nil {
		return err
	}
	cfg = m.Config
	if *seq > cfg.MaxPositionEmbeddings {
		return fmt.Errorf("--seq %d exceeds the model's %d positions", *seq, cfg.MaxPositionEmbeddings)
	}
	if *saveModel != "" {
		vp, err := resolveVocab(*vocab)
		if err != nil {
			return err
		}
		if err := checkpoint.WriteHFDir(*saveModel, cfg, m.Tensors(), checkpoint.F32, vp); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench encoder: random %s model written to %s\n", *cfgName, *saveModel)
	}
	if err := m.Prepare(prec); err != nil {
		return err
	}
	if *check {
		if err := benchEncoderCheck(m, prec, encoder.RandomBatch(cfg, *batch, *seq, 1)); err != nil {
			return err
		}
	}
	sub := *batch / *split
	type part struct {
		b      *encoder.Batch
		acts   *encoder.Activations
		pooled []float32
	}
	parts := make([]part, *split)
	for i := range parts {
		parts[i] = part{encoder.RandomBatch(cfg, sub, *seq, uint64(i+1)), m.NewActivations(sub, *seq, false, false), make([]float32, sub*cfg.HiddenSize)}
	}
	forward := func(p part) error {
		last, err := m.Forward(p.acts, p.b, encoder.ForwardOptions{Precision: prec})
		if err != nil {
			return err
		}
		encoder.Pool(p.pooled, last, p.b.Mask, sub, *seq, cfg.HiddenSize, encoder.PoolMean, false)
		return nil
	}
	var cpuS []float64
	step := func() (float64, error) {
		c0 := benchstat.CPUSeconds()
		t0 := time.Now()
		errs := make([]error, len(parts))
		var wg sync.WaitGroup
		for i := range parts {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = forward(parts[i])
			}(i)
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return 0, err
		}
		cpuS = append(cpuS, benchstat.CPUSeconds()-c0)
		return time.Since(t0).Seconds(), nil
	}
	for i := 0; i < *warmup; i++ {
		if _, err := step(); err != nil {
			return err
		}
	}
	cpuS = cpuS[:0]
	times := make([]float64, *reps)
	for i := range times {
		if times[i], err = step(); err != nil {
			return err
		}
	}
	med := benchstat.Median(times)
	best := slices.Min(times)
	flop := encoder.ForwardFLOPs(cfg, *batch, *seq)
	res := map[string]any{
		"config": *cfgName, "batch": *batch, "split": *split, "seq": *seq, "threads": runtime.GOMAXPROCS(0),
		"times_s": times, "median_s": med, "best_s": best,
		"seq_per_s": float64(*batch) / med, "tokens_per_s": float64(*batch**seq) / med,
		"best_seq_per_s":         float64(*batch) / best,
		"achieved_gflops_median": flop / med / 1e9, "approx_gflop_per_step": flop / 1e9,
		"cpu_s": cpuS, "median_cpu_s": benchstat.Median(cpuS), "sgemm": blas32.Implementation(),
		"precision": prec.String(),
	}
	if prec != encoder.F32 {
		res["kernels"] = encoder.PrecisionKernels()
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", " ")
		return enc.Encode(res)
	}
	fmt.Printf("%-7s %5s %5s %7s %9s %8s %9s %8s %10s %9s\n", "config", "batch", "seq", "threads", "median_s", "seq/s", "tok/s", "GFLOP/s", "best seq/s", "cpu_s")
	fmt.Printf("%-7s %5d %5d %7d %9.3f %8.2f %9.0f %8.1f %10.2f %9.2f\n", *cfgName, *batch, *seq, runtime.GOMAXPROCS(0), med,
		float64(*batch)/med, float64(*batch**seq)/med, flop/med/1e9, float64(*batch)/best, benchstat.Median(cpuS))
	kern := "sgemm " + blas32.Implementation()
	if prec != encoder.F32 {
		kern = prec.String() + " " + encoder.PrecisionKernels()
	}
	fmt.Printf("precision %s (%s); times_s %.3f\n", prec, kern, times)
	return nil
}

// benchEncoderCheck prints the error of the forward pass at prec against
// f32 on batch b: each layer's output and the mean-pooled vectors.
func benchEncoderCheck(m *encoder.Model, prec encoder.Precision, b *encoder.Batch) error {
	diffs, err := encoder.ComparePrecision(m, prec, b, encoder.PoolMean)
	if err != nil {
		return err
	}
	fmt.Printf("%s vs f32 (%d×%d batch of random tokens)\n", prec, b.B, b.T)
	fmt.Printf("%-9s %10s %10s %10s %10s\n", "output", "max_abs", "rel_l2", "mean_cos", "min_cos")
	for _, d := range diffs {
		fmt.Printf("%-9s %10.3g %10.3g %10.6f %10.6f\n", d.Name, d.MaxAbs, d.RelL2, d.MeanCos, d.MinCos)
	}
	return nil
}
