package main

// `contriever train --recipe static`: the training-free static model of
// package contrastive/ppmi, saved as a sentence-transformers
// StaticEmbedding folder (encoder/static).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/contrastive/ppmi"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/encoder/wordpiece"
)

// The recipes of `contriever train --recipe`.
const (
	recipeValidated = "validated"
	recipePaper     = "paper"
	recipeStatic    = "static"
	recipeBundled   = "bundled"
)

// staticTrainFlags are the flags of the static recipe.
type staticTrainFlags struct {
	dim, window, powerIters, oversample *int
	alpha                               *float64
}

func registerStaticTrainFlags(fs *flag.FlagSet) *staticTrainFlags {
	d := ppmi.DefaultOptions()
	return &staticTrainFlags{
		dim:        fs.Int("static-dim", d.Dim, "--recipe static: vector dimensions"),
		window:     fs.Int("static-window", d.Window, "--recipe static: co-occurrence window ±N tokens within a document"),
		alpha:      fs.Float64("static-alpha", d.Alpha, "--recipe static: context-distribution smoothing"),
		powerIters: fs.Int("static-power-iters", d.PowerIters, "--recipe static: power iterations of the randomized SVD"),
		oversample: fs.Int("static-oversample", d.Oversample, "--recipe static: extra columns of the randomized SVD"),
	}
}

// trainUseBudget puts the trainer on a.budget's time schedule (linear
// warmup over the first 5% of the budget, then linear decay to 0 at its
// end, peak --lr), when --time is given.
func trainUseBudget(tr *contrastive.Trainer, a trainArgs) error {
	if a.budget <= 0 {
		return nil
	}
	c, err := contrastive.NewBudgetClock(contrastive.Budget{Total: a.budget, Warmup: 0.05, Kind: optim.Linear, Base: a.lr}, nil)
	if err != nil {
		return err
	}
	tr.UseBudget(c)
	return nil
}

// checkRecipe validates --recipe.
func checkRecipe(r string) error {
	switch r {
	case recipeValidated, recipePaper, recipeStatic, recipeStaticTuned, recipeBundled:
		return nil
	}
	return fmt.Errorf("--recipe %q: want %s, %s, %s, %s or %s", r, recipeValidated, recipeStaticTuned, recipeStatic, recipeBundled, recipePaper)
}

// trainStatic builds the static model of a.corpus and saves it in a.out.
func trainStatic(a trainArgs, sf *staticTrainFlags) error {
	if a.corpus == "" || a.out == "" {
		return errors.New("--corpus and --out are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tok, err := wordpiece.Load(a.vocab)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	var logw io.Writer = os.Stderr
	if a.quiet {
		logw = nil
	}
	o := ppmi.Options{Dim: *sf.dim, Window: *sf.window, Alpha: *sf.alpha, PowerIters: *sf.powerIters, Oversample: *sf.oversample, Seed: a.seed, Log: logw}
	if !a.quiet {
		if files, err := data.SourceFiles(a.corpus); err == nil && len(files) == 1 {
			o.TotalDocs, _ = beir.CountLines(files[0]) // for the ETA; blank lines make it an upper bound
		}
	}
	start := time.Now()
	cpu0 := cpuTime()
	m, err := ppmi.Build(ctx, func(fn func(string) error) error { return data.ReadDocuments(a.corpus, fn) }, tok, o)
	if err != nil {
		return err
	}
	sm, err := static.New(tok, m.Weight, m.Dim)
	if err != nil {
		return err
	}
	sm.Provenance = &static.Provenance{Recipe: static.RecipeStatic, Corpus: a.corpus}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	card := staticCard(a, o, m, wall, cpu)
	if err := static.Save(a.out, sm, card); err != nil {
		return err
	}
	if !a.quiet {
		fmt.Fprintf(os.Stderr, "train: static model (%d dims, window ±%d) built in %s (CPU %s), saved in %s\n",
			m.Dim, o.Window, wall.Round(time.Millisecond), cpu.Round(time.Millisecond), a.out)
	}
	return nil
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func staticCard(a trainArgs, o ppmi.Options, m *ppmi.Model, wall, cpu time.Duration) string {
	var b strings.Builder
	st := m.Stats
	fmt.Fprintf(&b, "# Static embedding model (PPMI + truncated SVD)\n\n")
	fmt.Fprintf(&b, "Built by `contriever train --recipe static` from the corpus alone, with no training loop (package contrastive/ppmi).\n\n")
	fmt.Fprintf(&b, "- Token vectors: randomized truncated SVD of the corpus's PPMI co-occurrence matrix over WordPiece ids, vectors U·√S.\n")
	fmt.Fprintf(&b, "- Each token's vector is multiplied by its IDF, ln(1 + (D − df + 0.5)/(df + 0.5)); a text is the normalised mean of its token vectors ([CLS]/[SEP] not added), compared by cosine.\n")
	fmt.Fprintf(&b, "- Layout: sentence-transformers StaticEmbedding (0_StaticEmbedding/model.safetensors `embedding.weight`, tokenizer.json) then Normalize; `SentenceTransformer(folder)` loads it.\n\n")
	fmt.Fprintf(&b, "| setting | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| corpus | %s |\n| tokenizer | %s |\n", a.corpus, a.vocab)
	fmt.Fprintf(&b, "| dimensions | %d |\n| window | ±%d tokens within a document |\n| context smoothing α | %g |\n", o.Dim, o.Window, o.Alpha)
	fmt.Fprintf(&b, "| SVD | randomized, %d power iterations, oversampling %d, seed %d |\n", o.PowerIters, o.Oversample, o.Seed)
	fmt.Fprintf(&b, "| documents / tokens | %d / %d |\n| co-occurring tokens | %d of %d |\n", st.Docs, st.Tokens, st.Active, st.Vocab)
	fmt.Fprintf(&b, "| distinct pairs / positive PPMI entries | %d / %d |\n", st.Pairs, st.PPMINonZero)
	fmt.Fprintf(&b, "| build time | %s wall, %s CPU, %d threads |\n\n", wall.Round(100*time.Millisecond), cpu.Round(100*time.Millisecond), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "The default dimensions and window (768, ±15) were chosen on SciFact **train** queries (see the project README); test figures are reported once for that setting.\n")
	return b.String()
}
