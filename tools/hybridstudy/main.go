// Command hybridstudy measures retrieval-time changes to the dense side of
// hybrid search on one split of a BEIR dataset, each judged by dense
// nDCG@10 and by hybrid nDCG@10 at the best α of the grid 0.2, 0.25, …,
// 0.8 (linear fusion of the dense and BM25 top 1000):
//
//   - vector pseudo-relevance feedback (Rocchio on the query vector: the
//     query plus β times the mean of the top k documents' vectors, from the
//     dense list or from the fused list at α 0.45), for k 3, 5, 10 and
//     β 0.3, 0.6, 1;
//   - normalisations: min-max (the engine's), TM2C2 (score over the list's
//     maximum, 0 as the theoretical minimum; Bruch et al. 2023) and
//     reciprocal ranks, over the top 1000 and the top 100;
//   - multi-vector documents: the cosine with the whole document plus λ
//     times the best cosine with a window of --win sentences (title
//     prepended), λ 0.5, 1, 2, and the best window alone (MaxP);
//   - with --model2, an ensemble: both models' normalised vectors
//     concatenated (the dense score is the sum of the two cosines);
//   - with --combo, multi-vector documents (λ 0, 1, 2) and vector PRF
//     from their fused list together;
//   - with --maxsim DIR, soft term matching over the token rows of the
//     static model in DIR (each query token's best cosine with a token of
//     the document, weighted by idf), alone, fused with BM25, and in a
//     three-way fusion with the dense run and BM25;
//   - with --smooth, neighbour smoothing over the dense model's corpus
//     graph (smooth.go): each document's vector plus λ times the mean of
//     its k nearest documents', and BM25's scores regularised over the
//     same graph.
//
// Choose on the train split; never on test.
//
//	go run ./tools/hybridstudy --data DIR --split train --model DIR [--model2 DIR | --combo | --maxsim DIR | --smooth]
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
	"github.com/contriever-go/contriever/internal/blas32"
	studyutil "github.com/contriever-go/contriever/tools/internal/study"
)

const depth = 1000

// study holds one split's lists and vectors.
type study struct {
	ds        *beir.Dataset
	ids       []string
	row       map[string]int
	qids      []string
	docs, qv  []float32 // normalised vectors, row-major
	dim       int
	bmRun     beir.Run
	dRun      beir.Run
	embedText func(texts []string) []float32
}

func main() {
	data := flag.String("data", "", "BEIR dataset folder")
	split := flag.String("split", "train", "qrels split (choose on train)")
	model := flag.String("model", "", "model folder")
	model2 := flag.String("model2", "", "second model folder: measure the two-model ensemble instead")
	win := flag.Int("win", 2, "sentences a window (multi-vector documents)")
	combo := flag.Bool("combo", false, "measure multi-vector documents (λ 0, 1, 2) combined with vector PRF from the fused list instead")
	maxsim := flag.String("maxsim", "", "static model folder whose token rows give soft term matching: measure it instead")
	title := flag.Bool("title", false, "measure documents scored by the whole-document cosine plus λ times the title's instead")
	smooth := flag.Bool("smooth", false, "measure neighbour smoothing over the dense corpus graph instead")
	flag.Parse()
	s, err := load(*data, *split, *model, *model2)
	if err != nil {
		log.Fatal(err)
	}
	if *maxsim != "" {
		s.maxSim(*maxsim, 510)
		return
	}
	if *combo {
		s.combo(*win)
		return
	}
	if *title {
		s.titles()
		return
	}
	if *smooth {
		s.smooth()
		return
	}
	s.report("no change", s.dRun)
	if *model2 != "" {
		return
	}
	for _, k := range []int{3, 5, 10} {
		for _, beta := range []float64{0.3, 0.6, 1} {
			s.report(fmt.Sprintf("prf from dense, k %d β %.1f", k, beta), s.prf(s.dRun, k, beta))
			fused, err := engine.FuseRuns(s.ds.Queries, s.dRun, s.bmRun, engine.HybridOptions{Fusion: "linear", Alpha: 0.45, Norm: fusion.MinMax}, depth)
			if err != nil {
				log.Fatal(err)
			}
			s.report(fmt.Sprintf("prf from hybrid, k %d β %.1f", k, beta), s.prf(fused, k, beta))
		}
	}
	for _, d := range []int{depth, 100} {
		for _, n := range []struct {
			name string
			f    func(hs []beir.Hit) []float64
		}{{"min-max", minMax}, {"tm2c2", tm2c2}, {"1/(60+rank), min-max", rrfMinMax}} {
			s.grid(fmt.Sprintf("%s, top %d", n.name, d), s.dRun, s.bmRun, d, n.f)
		}
	}
	s.multiVector(*win)
}

func load(data, split, model, model2 string) (*study, error) {
	ctx := context.Background()
	ds, err := beir.Load(data, split)
	if err != nil {
		return nil, err
	}
	s := &study{ds: ds, row: map[string]int{}}
	if s.bmRun, err = studyutil.BM25Run(ctx, ds, depth); err != nil {
		return nil, err
	}
	var texts []string
	if err := ds.Corpus(func(d beir.Doc) error {
		s.row[d.ID] = len(s.ids)
		s.ids = append(s.ids, d.ID)
		texts = append(texts, d.Passage())
		return nil
	}); err != nil {
		return nil, err
	}
	for _, q := range ds.Queries {
		s.qids = append(s.qids, q.ID)
	}
	var pools []engine.Embedder
	for _, m := range []string{model, model2} {
		if m == "" {
			continue
		}
		p, err := engine.OpenModelAt(m, engine.ModelSettings{}, 32, 1, 0)
		if err != nil {
			return nil, err
		}
		pools = append(pools, p)
		s.dim += p.Dim()
	}
	// Each model's normalised vectors side by side: inner products are
	// the sum of the models' cosines.
	embed := func(texts []string, queries bool) []float32 {
		out := make([]float32, len(texts)*s.dim)
		off := 0
		for _, p := range pools {
			v, err := engine.Embed(ctx, p, texts, nil, "embed", true)
			if queries { // an asymmetric model's query vectors
				v, err = engine.EmbedQueries(ctx, p, texts, "embed", true)
			}
			if err != nil {
				log.Fatal(err)
			}
			d := p.Dim()
			for i := range texts {
				copy(out[i*s.dim+off:i*s.dim+off+d], v[i*d:(i+1)*d])
			}
			off += d
		}
		return out
	}
	s.embedText = func(texts []string) []float32 { return embed(texts, false) }
	s.docs = s.embedText(texts)
	s.qv = embed(beir.Texts(ds.Queries), true)
	if s.dRun, err = engine.ExactRun(s.dim, s.ids, s.docs, s.qids, s.qv, depth); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *study) eval(run beir.Run) float64 { return studyutil.NDCG10(s.ds, run) }

// report prints dense nDCG@10 of dRun and the α grid of its min-max fusion
// with BM25.
func (s *study) report(name string, dRun beir.Run) {
	fmt.Printf("%-36s dense %.4f  ", name, s.eval(dRun))
	s.grid("", dRun, s.bmRun, depth, minMax)
}

// grid prints hybrid nDCG@10 over α for the top d of the dense list dRun
// and the lexical list bmRun under normalisation norm (a document missing
// from a list takes its minimum).
func (s *study) grid(name string, dRun, bmRun beir.Run, d int, norm func([]beir.Hit) []float64) {
	var cells []string
	best, bestA := -1.0, 0.0
	for _, a := range fusion.AlphaGrid(20) {
		if a < 0.2-1e-9 || a > 0.8+1e-9 {
			continue
		}
		run := beir.Run{}
		for _, q := range s.qids {
			run[q] = fuse(dRun[q][:min(d, len(dRun[q]))], bmRun[q][:min(d, len(bmRun[q]))], a, norm)
		}
		v := s.eval(run)
		if v > best {
			best, bestA = v, a
		}
		cells = append(cells, fmt.Sprintf("%.2f:%.4f", a, v))
	}
	if name != "" {
		fmt.Printf("%-36s ", name)
	}
	fmt.Printf("hybrid: best α %.2f %.4f | %s\n", bestA, best, strings.Join(cells, " "))
}

func fuse(dh, bh []beir.Hit, a float64, norm func([]beir.Hit) []float64) []beir.Hit {
	return fuseN([][]beir.Hit{dh, bh}, []float64{a, 1 - a}, norm)
}

// fuseN fuses lists by their weighted normalised scores (a document
// missing from a list takes that list's lowest).
func fuseN(lists [][]beir.Hit, wts []float64, norm func([]beir.Hit) []float64) []beir.Hit {
	sc := map[string]float64{}
	var base float64
	norms := make([][]float64, len(lists))
	for i, l := range lists {
		norms[i] = norm(l)
		base += wts[i] * lowest(norms[i])
	}
	for i, l := range lists {
		lo := lowest(norms[i])
		for j, h := range l {
			v, ok := sc[h.DocID]
			if !ok {
				v = base
			}
			sc[h.DocID] = v + wts[i]*(norms[i][j]-lo)
		}
	}
	out := make([]beir.Hit, 0, len(sc))
	for id, v := range sc {
		out = append(out, beir.Hit{DocID: id, Score: v})
	}
	beir.SortHits(out)
	return out[:min(len(out), depth)]
}

func lowest(xs []float64) float64 {
	m := 0.0
	for i, x := range xs {
		if i == 0 || x < m {
			m = x
		}
	}
	return m
}

func minMax(hs []beir.Hit) []float64 {
	out := make([]float64, len(hs))
	if len(hs) == 0 {
		return out
	}
	lo, hi := hs[0].Score, hs[0].Score
	for _, h := range hs {
		lo, hi = math.Min(lo, h.Score), math.Max(hi, h.Score)
	}
	for i, h := range hs {
		out[i] = 1
		if hi > lo {
			out[i] = (h.Score - lo) / (hi - lo)
		}
	}
	return out
}

func tm2c2(hs []beir.Hit) []float64 {
	out := make([]float64, len(hs))
	hi := 0.0
	for _, h := range hs {
		hi = math.Max(hi, h.Score)
	}
	for i, h := range hs {
		if hi > 0 {
			out[i] = h.Score / hi
		}
	}
	return out
}

func rrfMinMax(hs []beir.Hit) []float64 {
	r := make([]beir.Hit, len(hs))
	for i, h := range hs {
		r[i] = beir.Hit{DocID: h.DocID, Score: 1 / (60 + float64(i+1))}
	}
	return minMax(r)
}

// prf returns the dense run of the queries moved towards the mean of the
// top k documents of fb (Rocchio: q + β·mean, renormalised).
func (s *study) prf(fb beir.Run, k int, beta float64) beir.Run {
	run, err := engine.ExactRun(s.dim, s.ids, s.docs, s.qids, s.prfQueries(fb, k, beta), depth)
	if err != nil {
		log.Fatal(err)
	}
	return run
}

// prfQueries returns the query vectors moved towards the mean of the top k
// documents of fb (Rocchio: q + β·mean, renormalised).
func (s *study) prfQueries(fb beir.Run, k int, beta float64) []float32 {
	d := s.dim
	nq := make([]float32, len(s.qv))
	for i, qid := range s.qids {
		q := nq[i*d : (i+1)*d]
		copy(q, s.qv[i*d:(i+1)*d])
		hs := fb[qid][:min(k, len(fb[qid]))]
		for _, h := range hs {
			blas32.Axpy(float32(beta/float64(len(hs))), s.docs[s.row[h.DocID]*d:(s.row[h.DocID]+1)*d], q)
		}
		if n := blas32.Dot(q, q); n > 0 {
			blas32.Scale(1/float32(math.Sqrt(float64(n))), q)
		}
	}
	return nq
}

// sentences splits t after '.', '?' or '!' followed by a space.
func sentences(t string) []string {
	var out []string
	start := 0
	for i := 0; i+1 < len(t); i++ {
		if (t[i] == '.' || t[i] == '?' || t[i] == '!') && t[i+1] == ' ' {
			out = append(out, strings.TrimSpace(t[start:i+1]))
			start = i + 2
		}
	}
	if r := strings.TrimSpace(t[start:]); r != "" {
		out = append(out, r)
	}
	return out
}

// windows embeds every document's windows of win sentences (title
// prepended) and returns their vectors and owning document rows.
func (s *study) windows(win int) ([]float32, []int) {
	var wtexts []string
	var owner []int
	if err := s.ds.Corpus(func(d beir.Doc) error {
		ss := sentences(d.Text)
		for i := 0; i < len(ss); i++ {
			e := min(len(ss), i+win)
			wtexts = append(wtexts, d.Title+" "+strings.Join(ss[i:e], " "))
			owner = append(owner, s.row[d.ID])
			if e == len(ss) {
				break
			}
		}
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	return s.embedText(wtexts), owner
}

// windowRun scores every document for the queries qv by the whole-document
// cosine plus λ times the best window's (λ < 0: the best window alone).
func (s *study) windowRun(qv, wv []float32, owner []int, lam float64) beir.Run {
	nq, N, P, d := len(s.qids), len(s.ids), len(owner), s.dim
	full := make([]float32, nq*N)
	blas32.Sgemm(false, true, nq, N, d, 1, qv, d, s.docs, d, 0, full, N)
	best := make([]float32, nq*N)
	for i := range best {
		best[i] = -2
	}
	ws := make([]float32, P)
	for q := 0; q < nq; q++ {
		blas32.Sgemm(false, true, 1, P, d, 1, qv[q*d:(q+1)*d], d, wv, d, 0, ws, P)
		for p, v := range ws {
			best[q*N+owner[p]] = max(best[q*N+owner[p]], v)
		}
	}
	run := beir.Run{}
	for qi, q := range s.qids {
		hs := make([]beir.Hit, N)
		for j := range hs {
			v := float64(full[qi*N+j]) + lam*float64(best[qi*N+j])
			if lam < 0 {
				v = float64(best[qi*N+j])
			}
			hs[j] = beir.Hit{DocID: s.ids[j], Score: v}
		}
		beir.SortHits(hs)
		run[q] = hs[:min(depth, N)]
	}
	return run
}

// multiVector reports documents scored by the whole-document cosine plus
// λ times the best window's, and by the best window alone.
func (s *study) multiVector(win int) {
	wv, owner := s.windows(win)
	for _, lam := range []float64{0.5, 1, 2, -1} {
		name := fmt.Sprintf("windows of %d sentences, λ %g", win, lam)
		if lam < 0 {
			name = fmt.Sprintf("windows of %d sentences, MaxP", win)
		}
		s.report(name, s.windowRun(s.qv, wv, owner, lam))
	}
}

// combo reports multi-vector documents (λ 0, 1, 2) with vector PRF from
// the fused list (α 0.45) of the same scoring, for k 3, 5, 10 and β 0.3,
// 0.6, 1.
func (s *study) combo(win int) {
	wv, owner := s.windows(win)
	for _, lam := range []float64{0, 1, 2} {
		base := s.windowRun(s.qv, wv, owner, lam)
		s.report(fmt.Sprintf("λ %g", lam), base)
		fused, err := engine.FuseRuns(s.ds.Queries, base, s.bmRun, engine.HybridOptions{Fusion: "linear", Alpha: 0.45, Norm: fusion.MinMax}, depth)
		if err != nil {
			log.Fatal(err)
		}
		for _, k := range []int{3, 5, 10} {
			for _, beta := range []float64{0.3, 0.6, 1} {
				s.report(fmt.Sprintf("λ %g, prf k %d β %.1f", lam, k, beta), s.windowRun(s.prfQueries(fused, k, beta), wv, owner, lam))
			}
		}
	}
}

// titles reports documents scored by the whole-document cosine plus λ
// times the title's (a document without a title scores its whole cosine).
func (s *study) titles() {
	var tt []string
	var owner []int
	if err := s.ds.Corpus(func(d beir.Doc) error {
		if strings.TrimSpace(d.Title) != "" {
			tt = append(tt, d.Title)
			owner = append(owner, s.row[d.ID])
		}
		return nil
	}); err != nil {
		log.Fatal(err)
	}
	tv := s.embedText(tt)
	s.report("no change", s.dRun)
	for _, lam := range []float64{0.25, 0.5, 1} {
		s.report(fmt.Sprintf("title, λ %g", lam), s.windowRun(s.qv, tv, owner, lam))
	}
}
