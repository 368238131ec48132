package contrastive

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

// ref64 is an independent float64 InfoNCE: logits[i][j] = q_i·c_{col(i,j)}/tau
// where cands(i) lists the candidate rows of query i, label lab(i).
func ref64(q []float64, d int, cands func(i int) [][]float64, lab func(int) int, tau float64) (loss float64, logits [][]float64) {
	n := len(q) / d
	for i := 0; i < n; i++ {
		var row []float64
		for _, c := range cands(i) {
			var s float64
			for t := 0; t < d; t++ {
				s += q[i*d+t] * c[t]
			}
			row = append(row, s/tau)
		}
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		loss += mx + math.Log(s) - row[lab(i)]
		logits = append(logits, row)
	}
	return loss / float64(n), logits
}

func rows(x []float64, d int) [][]float64 {
	var r [][]float64
	for i := 0; i+d <= len(x); i += d {
		r = append(r, x[i:i+d])
	}
	return r
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func randVec(r *rand.Rand, n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64() * scale
	}
	return x
}

// fdCheck compares grad (float32, from the code under test) with central
// finite differences of f (float64) around x, relative to the largest
// gradient entry.
func fdCheck(t *testing.T, name string, x []float64, f func() float64, grad []float32) {
	t.Helper()
	const h = 1e-6
	var maxAbs float64
	for _, g := range grad {
		maxAbs = math.Max(maxAbs, math.Abs(float64(g)))
	}
	if maxAbs == 0 {
		t.Fatalf("%s: gradient is all zero", name)
	}
	for i := range x {
		old := x[i]
		x[i] = old + h
		fp := f()
		x[i] = old - h
		fm := f()
		x[i] = old
		fd := (fp - fm) / (2 * h)
		if diff := math.Abs(fd - float64(grad[i])); diff > 1e-4*maxAbs {
			t.Errorf("%s[%d]: analytic %g, finite difference %g", name, i, grad[i], fd)
		}
	}
}

func TestInBatchFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, d, tau = 5, 7, 0.5
	q, k := randVec(r, n*d, 1), randVec(r, n*d, 1)
	f := func() float64 {
		l, _ := ref64(q, d, func(int) [][]float64 { return rows(k, d) }, func(i int) int { return i }, tau)
		return l
	}
	dq, dk := make([]float32, n*d), make([]float32, n*d)
	out := InBatch(to32(q), to32(k), n, d, tau, dq, dk)
	if want := f(); math.Abs(out.Loss-want) > 1e-5*math.Abs(want) {
		t.Fatalf("loss %g, float64 reference %g", out.Loss, want)
	}
	fdCheck(t, "dq", q, f, dq)
	fdCheck(t, "dk", k, f, dk)
}

func TestSupervisedFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, nneg, d, tau = 4, 4, 6, 0.25
	q, p, ng := randVec(r, n*d, 0.5), randVec(r, n*d, 0.5), randVec(r, nneg*d, 0.5)
	f := func() float64 {
		l, _ := ref64(q, d, func(int) [][]float64 { return append(rows(p, d), rows(ng, d)...) }, func(i int) int { return i }, tau)
		return l
	}
	dq, dp, dn := make([]float32, n*d), make([]float32, n*d), make([]float32, nneg*d)
	out := Supervised(to32(q), to32(p), to32(ng), n, nneg, d, tau, dq, dp, dn)
	if out.Cols != n+nneg {
		t.Fatalf("Cols = %d", out.Cols)
	}
	if want := f(); math.Abs(out.Loss-want) > 1e-5*math.Abs(want) {
		t.Fatalf("loss %g, float64 reference %g", out.Loss, want)
	}
	fdCheck(t, "dq", q, f, dq)
	fdCheck(t, "dpos", p, f, dp)
	fdCheck(t, "dneg", ng, f, dn)
}

func TestMoCoFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n, nq, d, tau = 3, 6, 5, 0.2
	q, k, queue := randVec(r, n*d, 0.5), randVec(r, n*d, 0.5), randVec(r, nq*d, 0.5)
	f := func() float64 {
		l, _ := ref64(q, d, func(i int) [][]float64 {
			return append([][]float64{k[i*d : (i+1)*d]}, rows(queue, d)...)
		}, func(int) int { return 0 }, tau)
		return l
	}
	dq := make([]float32, n*d)
	out := MoCo(to32(q), to32(k), to32(queue), n, nq, d, tau, dq)
	if want := f(); math.Abs(out.Loss-want) > 1e-5*math.Abs(want) {
		t.Fatalf("loss %g, float64 reference %g", out.Loss, want)
	}
	fdCheck(t, "dq", q, f, dq)
}

// TestAccuracy checks the accuracy on a batch whose answer is known: with
// q = k = identity rows every query's best key is its own.
func TestAccuracy(t *testing.T) {
	const n = 4
	q := make([]float32, n*n)
	for i := 0; i < n; i++ {
		q[i*n+i] = 1
	}
	k := append([]float32(nil), q...)
	if out := InBatch(q, k, n, n, 0.05, nil, nil); out.Accuracy != 1 {
		t.Fatalf("accuracy %g, want 1", out.Accuracy)
	}
	// Swap keys 0 and 1: rows 0 and 1 are now wrong.
	copy(k[0:n], q[n:2*n])
	copy(k[n:2*n], q[0:n])
	if out := InBatch(q, k, n, n, 0.05, nil, nil); out.Accuracy != 0.5 {
		t.Fatalf("accuracy %g, want 0.5", out.Accuracy)
	}
}

type gradFixture struct {
	Temperature float64     `json:"temperature"`
	Queue       [][]float64 `json:"queue"`
	LossInBatch float64     `json:"loss_inbatch"`
	LogitsIn    [][]float64 `json:"logits_inbatch"`
	LossMoCo    float64     `json:"loss_moco"`
	LogitsMoCo  [][]float64 `json:"logits_moco"`
	Q           [][]float64 `json:"query_embeddings"`
	K           [][]float64 `json:"key_embeddings"`
}

func loadGradFixture(t *testing.T) gradFixture {
	t.Helper()
	dir := fixture.Shared(t, "fixtures", "tiny-bert")
	var f gradFixture
	for _, name := range []string{"grad_inputs.json", "grad_reference.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if len(f.Q) == 0 || len(f.K) != len(f.Q) || len(f.Queue) == 0 {
		t.Fatalf("fixture incomplete: %d queries, %d keys, %d queued", len(f.Q), len(f.K), len(f.Queue))
	}
	return f
}

func flat32(x [][]float64) []float32 {
	var y []float32
	for _, r := range x {
		for _, v := range r {
			y = append(y, float32(v))
		}
	}
	return y
}

func compareLogits(t *testing.T, name string, got []float32, want [][]float64) {
	t.Helper()
	m := len(want[0])
	if len(got) != len(want)*m {
		t.Fatalf("%s: %d logits, want %d", name, len(got), len(want)*m)
	}
	for i, row := range want {
		for j, w := range row {
			if g := float64(got[i*m+j]); math.Abs(g-w) > 1e-5*math.Abs(w) {
				t.Errorf("%s[%d][%d] = %g, PyTorch %g", name, i, j, g, w)
			}
		}
	}
}

// TestPyTorchReference checks loss and logits against the tiny-bert
// fixture's PyTorch values (temperature 1.0).
func TestPyTorchReference(t *testing.T) {
	f := loadGradFixture(t)
	n, d := len(f.Q), len(f.Q[0])
	q, k, queue := flat32(f.Q), flat32(f.K), flat32(f.Queue)
	tau := float32(f.Temperature)

	in := InBatch(q, k, n, d, tau, nil, nil)
	compareLogits(t, "logits_inbatch", in.Logits, f.LogitsIn)
	if math.Abs(in.Loss-f.LossInBatch) > 1e-5*f.LossInBatch {
		t.Errorf("loss_inbatch %g, PyTorch %g", in.Loss, f.LossInBatch)
	}
	mo := MoCo(q, k, queue, n, len(f.Queue), d, tau, nil)
	compareLogits(t, "logits_moco", mo.Logits, f.LogitsMoCo)
	if math.Abs(mo.Loss-f.LossMoCo) > 1e-5*f.LossMoCo {
		t.Errorf("loss_moco %g, PyTorch %g", mo.Loss, f.LossMoCo)
	}
}

// TestSupervisedFixture is issue 8's check: the fine-tuning loss (in-batch
// plus one hard negative per query) on the fixture's embeddings against an
// independent float64 computation, with gradients by finite differences.
// The queue's first n rows serve as the negatives.
func TestSupervisedFixture(t *testing.T) {
	f := loadGradFixture(t)
	n, d := len(f.Q), len(f.Q[0])
	if len(f.Queue) < n {
		t.Fatalf("queue has %d rows, need %d", len(f.Queue), n)
	}
	q, p, ng := to64(flat32(f.Q)), to64(flat32(f.K)), to64(flat32(f.Queue[:n]))
	for _, tau := range []float64{1, 0.05} {
		fn := func() float64 {
			l, _ := ref64(q, d, func(int) [][]float64 { return append(rows(p, d), rows(ng, d)...) }, func(i int) int { return i }, tau)
			return l
		}
		want, wantLogits := ref64(q, d, func(int) [][]float64 { return append(rows(p, d), rows(ng, d)...) }, func(i int) int { return i }, tau)
		dq, dp, dn := make([]float32, n*d), make([]float32, n*d), make([]float32, n*d)
		out := Supervised(to32(q), to32(p), to32(ng), n, n, d, float32(tau), dq, dp, dn)
		compareLogits(t, "supervised logits", out.Logits, wantLogits)
		if math.Abs(out.Loss-want) > 1e-5*math.Max(want, 1e-3) {
			t.Errorf("tau %g: loss %g, float64 %g", tau, out.Loss, want)
		}
		if tau == 1 {
			fdCheck(t, "dq", q, fn, dq)
			fdCheck(t, "dpos", p, fn, dp)
			fdCheck(t, "dneg", ng, fn, dn)
		}
	}
}
