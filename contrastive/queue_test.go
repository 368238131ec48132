package contrastive

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestQueueInitUnitNorm(t *testing.T) {
	q := NewQueue(50, 16, rand.New(rand.NewPCG(7, 8)))
	keys := q.Keys()
	var mean float64
	for i := 0; i < q.Size(); i++ {
		var ss float64
		for _, v := range keys[i*16 : (i+1)*16] {
			ss += float64(v) * float64(v)
			mean += float64(v)
		}
		if math.Abs(math.Sqrt(ss)-1) > 1e-6 {
			t.Fatalf("key %d has norm %g", i, math.Sqrt(ss))
		}
	}
	if mean /= 50 * 16; math.Abs(mean) > 0.05 {
		t.Fatalf("mean entry %g, want about 0", mean)
	}
	// Seeded: the same seed gives the same queue, another seed another.
	if a, b := NewQueue(4, 3, rand.New(rand.NewPCG(1, 1))).Keys(), NewQueue(4, 3, rand.New(rand.NewPCG(1, 1))).Keys(); a[5] != b[5] {
		t.Fatal("same seed, different queue")
	}
	if a, b := NewQueue(4, 3, rand.New(rand.NewPCG(1, 1))).Keys(), NewQueue(4, 3, rand.New(rand.NewPCG(1, 2))).Keys(); a[5] == b[5] {
		t.Fatal("different seeds, same queue")
	}
}

func TestQueueEnqueueWraps(t *testing.T) {
	q := NewQueue(5, 2, rand.New(rand.NewPCG(1, 1)))
	batch := func(start, n int) []float32 {
		var k []float32
		for i := 0; i < n; i++ {
			k = append(k, float32(start+i), -float32(start+i))
		}
		return k
	}
	q.Enqueue(batch(10, 3)) // rows 0..2
	q.Enqueue(batch(20, 3)) // rows 3,4,0
	if q.Ptr() != 1 {
		t.Fatalf("ptr %d, want 1", q.Ptr())
	}
	want := []float32{22, 11, 12, 20, 21}
	for i, w := range want {
		if k := q.Keys()[2*i : 2*i+2]; k[0] != w || k[1] != -w {
			t.Fatalf("row %d = %v, want [%g %g]", i, k, w, -w)
		}
	}
	q.Enqueue(batch(30, 7)) // only the last 5 (32..36) stay, starting at row 1
	want = []float32{36, 32, 33, 34, 35}
	for i, w := range want {
		if k := q.Keys()[2*i]; k != w {
			t.Fatalf("after overflow row %d = %g, want %g", i, k, w)
		}
	}
	if q.Ptr() != 1 {
		t.Fatalf("ptr %d after overflow, want 1", q.Ptr())
	}
}

func TestQueueMarshalRoundTrip(t *testing.T) {
	q := NewQueue(6, 3, rand.New(rand.NewPCG(9, 9)))
	q.Enqueue([]float32{1, 2, 3, 4, 5, 6})
	b, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var r Queue
	if err := r.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if r.Ptr() != q.Ptr() || r.Size() != 6 || r.Dim() != 3 {
		t.Fatalf("restored ptr/size/dim %d/%d/%d", r.Ptr(), r.Size(), r.Dim())
	}
	for i, v := range q.Keys() {
		if math.Float32bits(r.Keys()[i]) != math.Float32bits(v) {
			t.Fatalf("key value %d differs", i)
		}
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append([]byte("XQUEUE01"), b[8:]...)} {
		if err := new(Queue).UnmarshalBinary(bad); err == nil {
			t.Fatalf("corrupt encoding of %d bytes accepted", len(bad))
		}
	}
}

func TestMomentum(t *testing.T) {
	key := [][]float32{{1, 2}, {3}}
	query := [][]float32{{3, 4}, {5}}
	Momentum(key, query, 0.75)
	want := [][]float32{{1.5, 2.5}, {3.5}}
	for i := range want {
		for j := range want[i] {
			if key[i][j] != want[i][j] {
				t.Fatalf("key[%d][%d] = %g, want %g", i, j, key[i][j], want[i][j])
			}
		}
	}
	// m = 1 keeps the key encoder; m = 0 copies the query encoder.
	Momentum(key, query, 1)
	if key[0][0] != 1.5 {
		t.Fatal("m = 1 changed the key encoder")
	}
	Momentum(key, query, 0)
	if key[1][0] != 5 {
		t.Fatal("m = 0 did not copy the query encoder")
	}
}
