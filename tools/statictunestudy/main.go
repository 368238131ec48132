// Command statictunestudy measures contrastive tuning of a static model
// (package contrastive/statictune) on one split of a BEIR dataset: it
// starts from a static model folder (train --recipe static), trains for
// --steps steps on a linear schedule (5% warmup) and prints dense nDCG@10
// and Recall@100 on the split's queries every --every steps, step 0 being
// the static model itself. Choose on the train split; never on test.
//
//	go run ./tools/statictunestudy --data DIR --split train --model STATIC --steps 300 [--batch 1024 ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/contrastive/statictune"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/tools/internal/study"
)

func main() {
	data := flag.String("data", "", "BEIR dataset folder")
	split := flag.String("split", "train", "qrels split (choose on train)")
	model := flag.String("model", "", "static model folder to start from")
	steps := flag.Int("steps", 300, "optimiser steps")
	every := flag.Int("every", 100, "evaluate every N steps")
	lr := flag.Float64("lr", 0.01, "peak learning rate, in units of the initial rows' rms entry")
	d := statictune.DefaultOptions()
	o := statictune.Options{}
	flag.IntVar(&o.Batch, "batch", d.Batch, "pairs per step")
	flag.Float64Var(&o.Temperature, "temperature", d.Temperature, "τ")
	flag.IntVar(&o.QueryMin, "qmin", d.QueryMin, "shortest query crop")
	flag.IntVar(&o.QueryMax, "qmax", d.QueryMax, "longest query crop")
	flag.IntVar(&o.KeyMin, "kmin", d.KeyMin, "shortest key crop")
	flag.IntVar(&o.KeyMax, "kmax", d.KeyMax, "longest key crop")
	flag.Float64Var(&o.Deletion, "deletion", d.Deletion, "token deletion (negative: none)")
	flag.BoolVar(&o.Symmetric, "symmetric", d.Symmetric, "add the key→query loss")
	flag.BoolVar(&o.Disjoint, "disjoint", d.Disjoint, "cut the key crop outside the query crop")
	flag.Float64Var(&o.Anchor, "anchor", d.Anchor, "pull towards the initial rows")
	flag.IntVar(&o.Group, "group", d.Group, "topical batches: groups of this many documents from one cluster (0: uniform)")
	flag.Float64Var(&o.Lexical, "lexical", d.Lexical, "residual training against BM25: weight of the crops' normalised BM25 in the logits (0: none)")
	flag.Float64Var(&o.Distill, "distill", d.Distill, "BM25 as a teacher over the batch (SPAR's Λ): weight of its in-batch softmax in each query's target, in [0, 1] (0: none)")
	flag.Float64Var(&o.Curriculum, "curriculum", d.Curriculum, "crop-length curriculum: scale of the query crops at step 0, moving to 1 at --curriculum-steps (0: none)")
	flag.IntVar(&o.CurriculumSteps, "curriculum-steps", d.CurriculumSteps, "steps of the curriculum")
	flag.IntVar(&o.Queue, "queue", d.Queue, "MoCo: keys of past pairs kept as extra negatives (0: none)")
	flag.Float64Var(&o.Momentum, "momentum", d.Momentum, "MoCo: embed keys with momentum rows, updated with this momentum (0: the current rows)")
	flag.IntVar(&o.DisjointBelow, "disjoint-below", d.DisjointBelow, "disjoint crops for documents shorter than this many tokens (0: none)")
	flag.Float64Var(&o.TitleRate, "title-rate", d.TitleRate, "probability of the title as the query crop (documents with a title)")
	flag.BoolVar(&o.SeparateQueries, "separate-queries", d.SeparateQueries, "embed queries with their own rows, started as the key rows")
	flag.Uint64Var(&o.Seed, "seed", d.Seed, "seed")
	hybrid := flag.Bool("hybrid", false, "also fuse each evaluation's dense top 1000 with BM25's (linear min-max) and print the best α on the grid and nDCG@10 at the label-free α of tuned models")
	maxTokens := flag.Int("max-tokens", 510, "cut documents at this many tokens for evaluation (as a 512-token model)")
	holdout := flag.Int("holdout", 0, "hold out every Nth document from training and print the loss on fixed pairs of them at each evaluation (0: none)")
	save := flag.String("save", "", "write the tuned model to this folder at the end (a static model folder)")
	flag.Parse()
	tz, err := study.LoadTokenized(*data, *split, *model)
	if err != nil {
		log.Fatal(err)
	}
	ds, m, docIDs, docs, titles, queries := tz.DS, tz.Model, tz.DocIDs, tz.Docs, tz.Titles, tz.Queries
	tok := m.Tokenizer()
	var bmRun beir.Run
	if *hybrid {
		if bmRun, err = study.BM25Run(context.Background(), ds, 1000); err != nil {
			log.Fatal(err)
		}
	}
	w := slices.Clone(m.Weight())
	trainDocs, trainTitles := docs, titles
	var heldLoss func() float64
	if *holdout > 0 {
		var held [][]int32
		trainDocs, trainTitles = nil, nil
		for i, d := range docs {
			if i%*holdout == *holdout-1 {
				held = append(held, d)
			} else {
				trainDocs, trainTitles = append(trainDocs, d), append(trainTitles, titles[i])
			}
		}
		ho := o
		ho.Batch, ho.Seed = min(o.Batch, statictune.Drawable(held)), o.Seed+1
		hv, err := statictune.New(w, m.Dim(), held, ho)
		if err != nil {
			log.Fatal(err)
		}
		var fixed []statictune.Batch
		for range 4 {
			fixed = append(fixed, hv.Sample())
		}
		heldLoss = func() float64 {
			var l float64
			for _, b := range fixed {
				l += hv.Loss(b, false)
			}
			return l / float64(len(fixed))
		}
	}
	tr, err := statictune.New(w, m.Dim(), trainDocs, o)
	if err != nil {
		log.Fatal(err)
	}
	if err := tr.SetTitles(trainTitles); err != nil {
		log.Fatal(err)
	}
	metrics := []beir.Metric{{Measure: beir.NDCG, K: 10}, {Measure: beir.Recall, K: 100}}
	eval := func() (float64, float64) {
		sm, _ := static.New(tok, w, m.Dim())
		sm.MaxTokens = *maxTokens
		dim := m.Dim()
		de := make([]float32, len(docs)*dim)
		for i, ids := range docs {
			sm.EmbedIDs(ids, de[i*dim:(i+1)*dim])
		}
		qe := make([]float32, len(queries)*dim)
		qm, _ := static.NewAsymmetric(tok, w, tr.QueryWeight(), m.Dim())
		qm.MaxTokens = *maxTokens
		for i, ids := range queries {
			qm.EmbedQueryIDs(ids, qe[i*dim:(i+1)*dim])
		}
		run, err := engine.ExactRun(dim, docIDs, de, study.QueryIDs(ds), qe, 1000)
		if err != nil {
			log.Fatal(err)
		}
		res := beir.Evaluate(ds.Qrels, run, metrics, beir.EvalOptions{})
		if bmRun != nil {
			printHybrid(ds, run, bmRun)
		}
		return res.Mean[0], res.Mean[1]
	}
	fmt.Printf("# %+v lr %g steps %d; %.4g passes over the corpus's tokens per step (100 passes: %d steps)\n", tr.Options(), *lr, *steps, tr.PassesPerStep(), tr.StepsForPasses(100))
	if heldLoss != nil {
		fmt.Printf("  held-out loss %.4f\n", heldLoss())
	}
	n0, r0 := eval()
	fmt.Printf("step %d ndcg@10 %.4f recall@100 %.4f\n", 0, n0, r0)
	warm := max(1, *steps/20)
	start := time.Now()
	var lsum float64
	for s := 1; s <= *steps; s++ {
		f := float64(s) / float64(warm)
		if s > warm {
			f = float64(*steps-s+1) / float64(*steps-warm+1)
		}
		lsum += tr.Step(*lr * min(1, f))
		if s%*every == 0 || s == *steps {
			if heldLoss != nil {
				fmt.Printf("  held-out loss %.4f\n", heldLoss())
			}
			n, r := eval()
			fmt.Printf("step %d loss %.4f ndcg@10 %.4f recall@100 %.4f (%.1f s/step, noisy)\n", s, lsum/float64(*every), n, r, time.Since(start).Seconds()/float64(s))
			lsum = 0
		}
	}
	if *save != "" {
		sm, err := static.New(tok, w, m.Dim())
		if o.SeparateQueries {
			sm, err = static.NewAsymmetric(tok, w, tr.QueryWeight(), m.Dim())
		}
		if err != nil {
			log.Fatal(err)
		}
		if err := static.Save(*save, sm, "statictunestudy: "+strings.Join(os.Args[1:], " ")); err != nil {
			log.Fatal(err)
		}
	}
	os.Stdout.Sync()
}

// printHybrid prints nDCG@10 of BM25 and of linear min-max fusion of the
// two runs over fusion.AlphaGrid(20): the best α, and the label-free
// fusion.TunedAlpha.
func printHybrid(ds *beir.Dataset, dRun, bmRun beir.Run) {
	ps, err := study.Grid(ds, dRun, bmRun, 1000)
	if err != nil {
		log.Fatal(err)
	}
	b := study.Best(ps)
	fmt.Printf("  hybrid: bm25 %.4f, best α %.2f %.4f, α %.2f %.4f | %s\n", study.NDCG10(ds, bmRun), b.Alpha, b.NDCG, fusion.TunedAlpha, study.At(ps, fusion.TunedAlpha), study.Cells(ps, 0.3, 0.7))
}
