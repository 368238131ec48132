package contrastive

import (
	"fmt"
	"math"

	"github.com/contriever-go/contriever/internal/blas32"
)

// Output is the result of one InfoNCE evaluation.
type Output struct {
	// Loss is the cross-entropy averaged over the batch.
	Loss float64
	// Accuracy is the fraction of rows whose largest logit (first on ties)
	// is the label's, as Contriever logs it (but as a fraction, not ×100).
	Accuracy float64
	// Logits holds Rows×Cols scores, row-major, already divided by the
	// temperature.
	Logits []float32
	// Rows is the batch size; Cols the number of candidates per row.
	Rows, Cols int
}

// InBatch is InfoNCE with in-batch negatives, as Contriever's InBatch
// model computes it: logits[i][j] = q_i·k_j / tau for the n queries q and n
// keys k (both n×d), the label of row i is i, and the loss is the
// cross-entropy averaged over the batch.
//
// When dq (dk) is not nil it must hold n*d elements and is overwritten with
// dLoss/dq (dLoss/dk). Both views get gradients because one encoder embeds
// both.
func InBatch(q, k []float32, n, d int, tau float32, dq, dk []float32) Output {
	return Supervised(q, k, nil, n, 0, d, tau, dq, dk, nil)
}

// Supervised is InfoNCE for fine-tuning with in-batch negatives plus extra
// negative passages: each of the n queries (n×d) is scored against all n
// positives pos (n×d) and then all nneg negatives neg (nneg×d, usually one
// per query, nneg = n), so logits are n×(n+nneg) and the label of row i is
// i. Contriever's fine-tuning concatenates the passages the same way
// (positives first). nneg may be 0, which is InBatch.
//
// Non-nil dq, dpos and dneg must hold n*d, n*d and nneg*d elements and are
// overwritten with the gradients of the loss.
func Supervised(q, pos, neg []float32, n, nneg, d int, tau float32, dq, dpos, dneg []float32) Output {
	checkLen("q", q, n*d)
	checkLen("pos", pos, n*d)
	checkLen("neg", neg, nneg*d)
	m := n + nneg
	logits := make([]float32, n*m)
	if n > 0 && d > 0 {
		blas32.Sgemm(false, true, n, n, d, 1, q, d, pos, d, 0, logits, m)
		if nneg > 0 {
			blas32.Sgemm(false, true, n, nneg, d, 1, q, d, neg, d, 0, logits[n:], m)
		}
	}
	for i := range logits {
		logits[i] /= tau
	}
	out := Output{Logits: logits, Rows: n, Cols: m}
	g := make([]float32, n*m)
	out.Loss, out.Accuracy = crossEntropy(logits, n, m, func(i int) int { return i }, g)
	if n == 0 || d == 0 {
		zero(dq)
		zero(dpos)
		zero(dneg)
		return out
	}
	inv := 1 / tau
	if dq != nil {
		checkLen("dq", dq, n*d)
		// dq = G · [pos; neg] / tau
		blas32.Sgemm(false, false, n, d, n, inv, g, m, pos, d, 0, dq, d)
		if nneg > 0 {
			blas32.Sgemm(false, false, n, d, nneg, inv, g[n:], m, neg, d, 1, dq, d)
		}
	}
	if dpos != nil {
		checkLen("dpos", dpos, n*d)
		// dpos = G[:, :n]ᵀ · q / tau
		blas32.Sgemm(true, false, n, d, n, inv, g, m, q, d, 0, dpos, d)
	}
	if dneg != nil && nneg > 0 {
		checkLen("dneg", dneg, nneg*d)
		blas32.Sgemm(true, false, nneg, d, n, inv, g[n:], m, q, d, 0, dneg, d)
	}
	return out
}

// MoCo is InfoNCE against a queue, as Contriever's MoCo model computes it:
// row i of the logits is [q_i·k_i, q_i·queue_0, …, q_i·queue_{nq-1}] / tau
// with label 0, for queries q and keys k (both n×d) and the queue (nq×d,
// one key per row). The keys come from the momentum encoder under no-grad,
// so only dLoss/dq is returned: when dq is not nil (n*d elements) it is
// overwritten with it.
func MoCo(q, k, queue []float32, n, nq, d int, tau float32, dq []float32) Output {
	checkLen("q", q, n*d)
	checkLen("k", k, n*d)
	checkLen("queue", queue, nq*d)
	m := 1 + nq
	logits := make([]float32, n*m)
	for i := 0; i < n; i++ {
		logits[i*m] = blas32.Dot(q[i*d:(i+1)*d], k[i*d:(i+1)*d])
	}
	if n > 0 && nq > 0 && d > 0 {
		blas32.Sgemm(false, true, n, nq, d, 1, q, d, queue, d, 0, logits[1:], m)
	}
	for i := range logits {
		logits[i] /= tau
	}
	out := Output{Logits: logits, Rows: n, Cols: m}
	g := make([]float32, n*m)
	out.Loss, out.Accuracy = crossEntropy(logits, n, m, func(int) int { return 0 }, g)
	if dq == nil {
		return out
	}
	checkLen("dq", dq, n*d)
	inv := 1 / tau
	for i := 0; i < n; i++ {
		row := dq[i*d : (i+1)*d]
		gi := g[i*m] * inv
		for j, v := range k[i*d : (i+1)*d] {
			row[j] = gi * v
		}
	}
	if n > 0 && nq > 0 && d > 0 {
		blas32.Sgemm(false, false, n, d, nq, inv, g[1:], m, queue, d, 1, dq, d)
	}
	return out
}

// crossEntropy computes the mean over n rows of -log softmax(logits_i)[label(i)]
// and writes dLoss/dlogits into g (n×m). The softmax of each row is taken in
// float64 after subtracting the row maximum.
func crossEntropy(logits []float32, n, m int, label func(int) int, g []float32) (loss, acc float64) {
	if n == 0 {
		return 0, 0
	}
	correct := 0
	invN := 1 / float64(n)
	for i := 0; i < n; i++ {
		row := logits[i*m : (i+1)*m]
		lab := label(i)
		best := 0
		mx := float64(row[0])
		for j, v := range row {
			if float64(v) > mx {
				mx, best = float64(v), j
			}
		}
		if best == lab {
			correct++
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(s)
		loss += lse - float64(row[lab])
		gr := g[i*m : (i+1)*m]
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			if j == lab {
				p--
			}
			gr[j] = float32(p * invN)
		}
	}
	return loss * invN, float64(correct) * invN
}

func checkLen(name string, x []float32, want int) {
	if len(x) != want && !(x == nil && want == 0) {
		panic(fmt.Sprintf("contrastive: len(%s) = %d, want %d", name, len(x), want))
	}
}

func zero(x []float32) {
	for i := range x {
		x[i] = 0
	}
}
