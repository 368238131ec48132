// Command ctxstudy measures whether reading context adds to a tuned static
// model, on one split of a BEIR dataset. It trains a contextual branch on
// top of the model's token rows, which stay fixed: a text's vector is
//
//	u = Σ_i x_i + W2 · Σ_i relu(W1 · [x_{i−1}; x_i; x_{i+1}] / rms + b1)
//
// (x_i the rows of its tokens, rms their root mean square entry), compared
// by cosine. W2 starts at zero, so step 0 is the static model. With --attn
// the branch is a one-layer transformer instead (attn.go: its own token
// embeddings, learned positions, self-attention and a feed-forward layer,
// mean-pooled, through an output layer that starts at zero). The loss is
// InfoNCE (τ 0.05) on the recipe's crop pairs (package
// contrastive/statictune's sampler; --disjoint cuts the key outside the
// query), Adam with linear warmup (5%) and decay. Every --every steps it
// prints dense nDCG@10 and hybrid nDCG@10 at the best α of the grid 0,
// 0.05, …, 1 (linear min-max fusion of both top 1000 lists with BM25's;
// the cells from 0.25 to 0.7 are printed). --check compares the branch's
// gradients with central finite differences along each parameter's
// gradient direction and exits. Choose on the train split; never on test.
//
//	go run ./tools/ctxstudy --data DIR --split train --model TUNED [--hidden 64 --steps 300 --disjoint] [--attn --heads 4]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/statictune"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/blas32"
	"github.com/contriever-go/contriever/tools/internal/study"
)

// net is a contextual branch over the fixed rows: forward returns the
// unnormalised vectors U (n×d) of texts and what backward needs, backward
// adds the parameters' gradients given dL/dU, and params lists each
// parameter with its gradient.
type net interface {
	forward(texts [][]int32) (U []float32, c any)
	backward(c any, gU []float32)
	params() []param
}

// param is one parameter tensor and its gradient.
type param struct {
	name string
	p, g []float32
}

// branch is the convolutional branch: its parameters and their gradients,
// over the fixed rows w.
type branch struct {
	d, h          int
	w             []float32 // frozen rows V×d
	rms           float32
	W1, b1, W2    []float32 // h×3d, h, d×h
	gW1, gb1, gW2 []float32
}

func (b *branch) params() []param {
	return []param{{"W1", b.W1, b.gW1}, {"b1", b.b1, b.gb1}, {"W2", b.W2, b.gW2}}
}

// cache holds a forward pass's activations for backward.
type cache struct {
	Z, A  []float32 // T×3d, T×h (A after relu is H; mask from A>0)
	owner []int
	P     []float32 // n×h
	U     []float32
	n, T  int
}

// forward computes the unnormalised vectors U (n×d) of texts.
func (b *branch) forward(texts [][]int32) ([]float32, any) {
	d, h := b.d, b.h
	T := 0
	for _, t := range texts {
		T += len(t)
	}
	c := &cache{n: len(texts), T: T, Z: make([]float32, T*3*d), A: make([]float32, T*h), owner: make([]int, T), P: make([]float32, len(texts)*h), U: make([]float32, len(texts)*d)}
	inv := 1 / b.rms
	r := 0
	for i, t := range texts {
		u := c.U[i*d : (i+1)*d]
		for j, id := range t {
			blas32.Axpy(1, b.w[int(id)*d:(int(id)+1)*d], u)
			z := c.Z[r*3*d : (r+1)*3*d]
			if j > 0 {
				blas32.Axpy(inv, b.w[int(t[j-1])*d:(int(t[j-1])+1)*d], z[:d])
			}
			blas32.Axpy(inv, b.w[int(id)*d:(int(id)+1)*d], z[d:2*d])
			if j+1 < len(t) {
				blas32.Axpy(inv, b.w[int(t[j+1])*d:(int(t[j+1])+1)*d], z[2*d:])
			}
			c.owner[r] = i
			r++
		}
	}
	if T > 0 {
		blas32.Sgemm(false, true, T, h, 3*d, 1, c.Z, 3*d, b.W1, 3*d, 0, c.A, h)
	}
	for r := 0; r < T; r++ {
		a := c.A[r*h : (r+1)*h]
		p := c.P[c.owner[r]*h : (c.owner[r]+1)*h]
		for k := range a {
			a[k] += b.b1[k]
			if a[k] > 0 {
				p[k] += a[k]
			}
		}
	}
	blas32.Sgemm(false, true, c.n, d, h, 1, c.P, h, b.W2, h, 1, c.U, d)
	return c.U, c
}

// normalize returns the rows of U scaled to unit length, and their norms.
func normalize(U []float32, d int) ([]float32, []float64) {
	n := len(U) / d
	E := slices.Clone(U)
	norms := make([]float64, n)
	for i := 0; i < n; i++ {
		e := E[i*d : (i+1)*d]
		norms[i] = math.Sqrt(float64(blas32.Dot(e, e)))
		if norms[i] > 0 {
			blas32.Scale(float32(1/norms[i]), e)
		}
	}
	return E, norms
}

// backward accumulates parameter gradients from gU (n×d, dL/dU).
func (b *branch) backward(cc any, gU []float32) {
	c := cc.(*cache)
	d, h := b.d, b.h
	blas32.Sgemm(true, false, d, h, c.n, 1, gU, d, c.P, h, 1, b.gW2, h) // dW2 = gUᵀ·P
	gP := make([]float32, c.n*h)
	blas32.Sgemm(false, false, c.n, h, d, 1, gU, d, b.W2, h, 0, gP, h) // gP = gU·W2
	gA := make([]float32, c.T*h)
	for r := 0; r < c.T; r++ {
		a, g, p := c.A[r*h:(r+1)*h], gA[r*h:(r+1)*h], gP[c.owner[r]*h:(c.owner[r]+1)*h]
		for k := range a {
			if a[k] > 0 {
				g[k] = p[k]
				b.gb1[k] += p[k]
			}
		}
	}
	if c.T > 0 {
		blas32.Sgemm(true, false, h, 3*d, c.T, 1, gA, h, c.Z, 3*d, 1, b.gW1, 3*d) // dW1 = gAᵀ·Z
	}
}

// normBackward returns dL/dU from gE = dL/dE, E = U/‖U‖ (rows of d):
// (g − e(e·g))/‖u‖, zero for a zero row.
func normBackward(E []float32, norms []float64, gE []float32, d int) []float32 {
	gU := slices.Clone(gE)
	for i := range norms {
		g, e := gU[i*d:(i+1)*d], E[i*d:(i+1)*d]
		if norms[i] == 0 {
			clear(g)
			continue
		}
		blas32.Axpy(-blas32.Dot(e, g), e, g)
		blas32.Scale(float32(1/norms[i]), g)
	}
	return gU
}

// loss returns the batch's InfoNCE loss and, with grad, adds the
// parameters' gradients.
func loss(n net, d int, qs, ks [][]int32, tau float64, grad bool) float64 {
	Uq, cq := n.forward(qs)
	Uk, ck := n.forward(ks)
	Eq, nq := normalize(Uq, d)
	Ek, nk := normalize(Uk, d)
	gq := make([]float32, len(Eq))
	gk := make([]float32, len(Ek))
	l := contrastive.InBatch(Eq, Ek, len(qs), d, float32(tau), gq, gk).Loss
	if grad {
		n.backward(cq, normBackward(Eq, nq, gq, d))
		n.backward(ck, normBackward(Ek, nk, gk, d))
	}
	return l
}

// adam holds the Adam moments of a net's parameters.
type adam struct {
	m, v [][]float32
	step int
}

// update takes one Adam step at rate lr over ps and clears the gradients.
func (a *adam) update(ps []param, lr float64) {
	if a.m == nil {
		for _, p := range ps {
			a.m = append(a.m, make([]float32, len(p.p)))
			a.v = append(a.v, make([]float32, len(p.p)))
		}
	}
	a.step++
	const b1, b2, eps = 0.9, 0.999, 1e-8
	bc1 := 1 - math.Pow(b1, float64(a.step))
	bc2 := 1 - math.Pow(b2, float64(a.step))
	for pi, pg := range ps {
		p, g, m, v := pg.p, pg.g, a.m[pi], a.v[pi]
		for j := range p {
			m[j] = b1*m[j] + (1-b1)*g[j]
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			p[j] -= float32(lr) * (m[j] / float32(bc1)) / (float32(math.Sqrt(float64(v[j]/float32(bc2)))) + eps)
		}
		clear(g)
	}
}

func main() {
	data := flag.String("data", "", "BEIR dataset folder")
	split := flag.String("split", "train", "qrels split (choose on train)")
	model := flag.String("model", "", "static model folder (its rows stay fixed)")
	steps := flag.Int("steps", 300, "optimiser steps")
	every := flag.Int("every", 100, "evaluate every N steps")
	hid := flag.Int("hidden", 64, "width of the branch's hidden layer")
	lr := flag.Float64("lr", 1e-3, "peak Adam learning rate")
	batch := flag.Int("batch", 256, "pairs per step")
	disjoint := flag.Bool("disjoint", false, "cut the key crop outside the query crop")
	attn := flag.Bool("attn", false, "a transformer layer as the branch instead of the convolution (see attn.go; --hidden is its width)")
	heads := flag.Int("heads", 4, "--attn: attention heads (dividing --hidden)")
	check := flag.Bool("check", false, "finite-difference check and exit")
	flag.Parse()
	tz, err := study.LoadTokenized(*data, *split, *model)
	if err != nil {
		log.Fatal(err)
	}
	ds, m, docIDs, docs, queries := tz.DS, tz.Model, tz.DocIDs, tz.Docs, tz.Queries
	d := m.Dim()
	w := m.Weight() // fixed: the trainer below only samples crops, it takes no step
	tr, err := statictune.New(w, d, docs, statictune.Options{Batch: *batch, Temperature: 0.05, QueryMin: 4, QueryMax: 32, KeyMin: 32, KeyMax: 256, Deletion: -1, Disjoint: *disjoint, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	h := *hid
	if *steps < 1 || *every < 1 || *hid < 1 || *batch < 2 || *heads < 1 || *hid%*heads != 0 {
		log.Fatal("--steps, --every, --hidden and --heads must be positive, --heads dividing --hidden, --batch at least 2")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var b net
	var out []float32 // the output layer, zero at the start
	if *attn {
		a := newAttnBranch(w, d, float32(tr.RMS()), h, *heads, rng)
		b, out = a, a.Wout
	} else {
		c := &branch{d: d, h: h, w: w, rms: float32(tr.RMS()), W1: make([]float32, h*3*d), b1: make([]float32, h), W2: make([]float32, d*h),
			gW1: make([]float32, h*3*d), gb1: make([]float32, h), gW2: make([]float32, d*h)}
		std := math.Sqrt(2 / float64(3*d))
		for i := range c.W1 {
			c.W1[i] = float32(rng.NormFloat64() * std)
		}
		b, out = c, c.W2
	}
	opt := &adam{}
	if *check {
		for i := range out {
			out[i] = float32(rng.NormFloat64() * 0.01)
		}
		bt := tr.Sample()
		qs, ks := bt.Queries[:8], bt.Keys[:8]
		loss(b, d, qs, ks, 0.05, true)
		for _, t := range b.params() {
			for _, scale := range []float64{1e-2, 1e-3} {
				// Along the gradient itself: the analytic slope is ‖g‖.
				var gn, pn float64
				for j := range t.g {
					gn += float64(t.g[j] * t.g[j])
					pn += float64(t.p[j] * t.p[j])
				}
				r := make([]float32, len(t.p))
				for j := range r {
					r[j] = float32(float64(t.g[j]) / math.Sqrt(gn))
				}
				eps := float32(scale * max(math.Sqrt(pn), 1))
				var an float64
				for j := range r {
					an += float64(t.g[j] * r[j])
				}
				old := slices.Clone(t.p)
				for j := range r {
					t.p[j] = old[j] + eps*r[j]
				}
				lp := loss(b, d, qs, ks, 0.05, false)
				for j := range r {
					t.p[j] = old[j] - eps*r[j]
				}
				lm := loss(b, d, qs, ks, 0.05, false)
				copy(t.p, old)
				fmt.Printf("%s eps %.3g analytic %.6g numeric %.6g\n", t.name, eps, an, (lp-lm)/(2*float64(eps)))
			}
		}
		return
	}
	bmRun, err := study.BM25Run(context.Background(), ds, 1000)
	if err != nil {
		log.Fatal(err)
	}
	embed := func(texts [][]int32) []float32 {
		out := make([]float32, len(texts)*d)
		for s := 0; s < len(texts); s += 32 {
			e := min(len(texts), s+32)
			chunk := make([][]int32, e-s)
			for i := range chunk {
				chunk[i] = texts[s+i][:min(510, len(texts[s+i]))]
			}
			U, _ := b.forward(chunk)
			E, _ := normalize(U, d)
			copy(out[s*d:], E)
		}
		return out
	}
	eval := func() {
		t0 := time.Now()
		de, qe := embed(docs), embed(queries)
		run, err := engine.ExactRun(d, docIDs, de, study.QueryIDs(ds), qe, 1000)
		if err != nil {
			log.Fatal(err)
		}
		ps, err := study.Grid(ds, run, bmRun, 1000)
		if err != nil {
			log.Fatal(err)
		}
		bst := study.Best(ps)
		fmt.Printf("step %d dense %.4f hybrid best α %.2f %.4f | %s (eval %s)\n", opt.step, study.NDCG10(ds, run), bst.Alpha, bst.NDCG, study.Cells(ps, 0.25, 0.7), time.Since(t0).Round(time.Second))
	}
	eval()
	t0 := time.Now()
	for s := 1; s <= *steps; s++ {
		bt := tr.Sample()
		l := loss(b, d, bt.Queries, bt.Keys, 0.05, true)
		warm := max(1, *steps/20)
		f := float64(s) / float64(warm)
		if s > warm {
			f = float64(*steps-s) / float64(*steps-warm)
		}
		opt.update(b.params(), *lr*f)
		if s%*every == 0 {
			var w2 float64
			for _, x := range out {
				w2 += float64(x * x)
			}
			fmt.Printf("step %d loss %.4f |out| %.4g (%.2f s/step)\n", s, l, math.Sqrt(w2), time.Since(t0).Seconds()/float64(s))
			eval()
		}
	}
}
