// Command fusionstudy measures label-free fusion rules on one split of a
// BEIR dataset: BM25 alone, linear min-max fusion at fixed α, RRF, and the
// agreement rule (engine/fusion AgreementAlpha), each as nDCG@10 with its
// difference from BM25 and that difference's standard error over queries.
// Choose on the train split; report test once.
//
//	go run ./tools/fusionstudy --data DIR --split train --model DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"strings"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/tools/internal/study"
)

func main() {
	data := flag.String("data", "", "BEIR dataset folder")
	split := flag.String("split", "train", "qrels split")
	model := flag.String("model", "", "model folder (transformer or static)")
	k := flag.Int("k", 1000, "depth of each list")
	grid := flag.Bool("grid", false, "print nDCG@10 over the α grid 0, 0.05, …, 1 for min-max and z-score normalisation of the top 1000, 100 and 20 of each list, instead of the rules")
	chosen := flag.Bool("chosen", false, "evaluate only BM25, dense and the label-free rule for this model (engine.LabelFreeAlpha): for the test split, reported once")
	flag.Parse()
	ctx := context.Background()
	ds, err := beir.Load(*data, *split)
	if err != nil {
		log.Fatal(err)
	}
	bmRun, err := study.BM25Run(ctx, ds, *k)
	if err != nil {
		log.Fatal(err)
	}
	dense, err := engine.NewDense(ctx, ds, engine.DenseOptions{Model: *model, CacheDir: engine.DefaultCacheDir(), Quiet: true})
	if err != nil {
		log.Fatal(err)
	}
	dRun, err := dense.Retrieve(ctx, ds.Queries, *k)
	if err != nil {
		log.Fatal(err)
	}
	metric := []beir.Metric{{Measure: beir.NDCG, K: 10}}
	eval := func(run beir.Run) *beir.Result { return beir.Evaluate(ds.Qrels, run, metric, beir.EvalOptions{}) }
	base := eval(bmRun)
	if *grid {
		alphaGrid(ds, bmRun, dRun, *k, func(run beir.Run) float64 { return eval(run).Mean[0] }, base.Mean[0])
		return
	}
	type rule struct {
		name string
		fuse func(d, b []fusion.Hit) ([]fusion.Result, error)
	}
	lin := func(a float64) func(d, b []fusion.Hit) ([]fusion.Result, error) {
		return func(d, b []fusion.Hit) ([]fusion.Result, error) { return fusion.Linear(d, b, a, fusion.MinMax) }
	}
	agree := func(lo, hi float64) func(d, b []fusion.Hit) ([]fusion.Result, error) {
		return func(d, b []fusion.Hit) ([]fusion.Result, error) {
			a, err := agreementAlpha(d, b, agreeDepth, lo, hi)
			if err != nil {
				return nil, err
			}
			return fusion.Linear(d, b, a, fusion.MinMax)
		}
	}
	rules := []rule{{"dense", nil}, {"linear α 0.1", lin(0.1)}, {"linear α 0.2", lin(0.2)}, {"linear α 0.3", lin(0.3)}, {"linear α 0.5", lin(0.5)},
		{"rrf k 60", func(d, b []fusion.Hit) ([]fusion.Result, error) { return fusion.RRF(d, b, 60) }},
		{"agree 0.5·o", agree(0, 0.5)}, {"agree 0.1+0.4·o", agree(0.1, 0.5)}, {"agree 0.1+0.6·o", agree(0.1, 0.7)}}
	if *chosen {
		a, name := engine.LabelFreeAlpha(dense.Embedder())
		rules = []rule{{"dense", nil}, {name, lin(a)}}
	}
	fmt.Printf("%s %s (%d queries), model %s, lists of %d\n", *data, *split, len(ds.Queries), *model, *k)
	fmt.Printf("| rule | nDCG@10 | Δ vs BM25 | s.e. of Δ | queries below BM25 |\n|---|---|---|---|---|\n")
	fmt.Printf("| bm25 | %.4f | | | |\n", base.Mean[0])
	var overlapSum float64
	for _, q := range ds.Queries {
		rd, _ := fusion.Rank(toHits(dRun[q.ID]))
		rb, _ := fusion.Rank(toHits(bmRun[q.ID]))
		overlapSum += overlap(rd, rb, agreeDepth)
	}
	for _, r := range rules {
		run := dRun
		if r.fuse != nil {
			run = fuseRun(ds, dRun, bmRun, *k, *k, r.fuse)
		}
		res := eval(run)
		var diffs []float64
		below := 0
		for qid, v := range res.PerQuery {
			d := v[0] - base.PerQuery[qid][0]
			diffs = append(diffs, d)
			if d < 0 {
				below++
			}
		}
		fmt.Printf("| %s | %.4f | %+.4f | %.4f | %d |\n", r.name, res.Mean[0], res.Mean[0]-base.Mean[0], se(diffs), below)
	}
	fmt.Printf("mean top-%d overlap of dense and BM25: %.3f\n", agreeDepth, overlapSum/float64(len(ds.Queries)))
}

func toHits(hs []beir.Hit) []fusion.Hit {
	out := make([]fusion.Hit, len(hs))
	for i, h := range hs {
		out[i] = fusion.Hit{ID: h.DocID, Score: h.Score}
	}
	return out
}

// se is the standard error of the mean of xs.
func se(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss / float64(len(xs)-1) / float64(len(xs)))
}

// The agreement rules: α = lo + (hi − lo)·overlap, the overlap being the
// fraction of shared documents in the two lists' top agreeDepth. When the
// lists agree the model behaves like a retriever on this query and is
// trusted more. Measured, not adopted (see the README).
// agreeDepth is the depth at which the agreement rules compare the lists.
const (
	agreeDepth = 10
)

// Overlap returns the fraction of the top depth documents of the dense
// list that are also in the top depth of the BM25 list (both in canonical
// order, as Rank returns them), over depth: 0 when either list is empty.
func overlap(dense, bm25 []fusion.Hit, depth int) float64 {
	if depth < 1 || len(dense) == 0 || len(bm25) == 0 {
		return 0
	}
	top := make(map[string]struct{}, depth)
	for _, h := range bm25[:min(depth, len(bm25))] {
		top[h.ID] = struct{}{}
	}
	n := 0
	for _, h := range dense[:min(depth, len(dense))] {
		if _, ok := top[h.ID]; ok {
			n++
		}
	}
	return float64(n) / float64(depth)
}

// AgreementAlpha returns lo + (hi − lo)·Overlap(dense, bm25, depth) for
// two lists in any order (they are ranked first).
func agreementAlpha(dense, bm25 []fusion.Hit, depth int, lo, hi float64) (float64, error) {
	if !(lo >= 0 && lo <= hi && hi <= 1) {
		return 0, fmt.Errorf("%w: agreement bounds [%v, %v]", fusion.ErrAlpha, lo, hi)
	}
	rd, err := fusion.Rank(dense)
	if err != nil {
		return 0, fmt.Errorf("dense list: %w", err)
	}
	rb, err := fusion.Rank(bm25)
	if err != nil {
		return 0, fmt.Errorf("bm25 list: %w", err)
	}
	return lo + (hi-lo)*overlap(rd, rb, depth), nil
}

// alphaGrid prints, for each normalisation and list depth, nDCG@10 of
// linear fusion at every α of fusion.AlphaGrid(20) and the best α.
func alphaGrid(ds *beir.Dataset, bmRun, dRun beir.Run, k int, eval func(beir.Run) float64, bm25 float64) {
	fmt.Printf("bm25 %.4f, dense %.4f\n", bm25, eval(dRun))
	for _, norm := range []fusion.Normalization{fusion.MinMax, fusion.ZScore} {
		for _, depth := range []int{k, 100, 20} {
			var cells []string
			best, bestA := math.Inf(-1), 0.0
			for _, a := range fusion.AlphaGrid(20) {
				v := eval(fuseRun(ds, dRun, bmRun, depth, k, func(d, b []fusion.Hit) ([]fusion.Result, error) {
					return fusion.Linear(d, b, a, norm)
				}))
				if v > best {
					best, bestA = v, a
				}
				cells = append(cells, fmt.Sprintf("%.2f:%.4f", a, v))
			}
			fmt.Printf("%s, top %d: best α %.2f (%.4f) | %s\n", norm, depth, bestA, best, strings.Join(cells, " "))
		}
	}
}

// fuseRun fuses, for every query, the top depth of the dense and BM25
// lists with fuse and keeps the first k results.
func fuseRun(ds *beir.Dataset, dRun, bmRun beir.Run, depth, k int, fuse func(d, b []fusion.Hit) ([]fusion.Result, error)) beir.Run {
	run := make(beir.Run, len(ds.Queries))
	for _, q := range ds.Queries {
		d, b := dRun[q.ID], bmRun[q.ID]
		res, err := fuse(toHits(d[:min(depth, len(d))]), toHits(b[:min(depth, len(b))]))
		if err != nil {
			log.Fatal(err)
		}
		hs := make([]beir.Hit, min(len(res), k))
		for i := range hs {
			hs[i] = beir.Hit{DocID: res[i].ID, Score: res[i].Score}
		}
		run[q.ID] = hs
	}
	return run
}
