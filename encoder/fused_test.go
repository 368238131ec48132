package encoder

import (
	"fmt"
	"math"
	"testing"
)

// TestInt8FusedRowsMatchUnfused checks that the int8 forward pass without
// kept activations, where the residual and layer norm before the FFN and
// the GELU inside it run row by row in the quantiser of the next product
// (qgemm.LinearInt8Rows), gives the last hidden states of the unfused pass
// (activations kept) bit for bit: on padded batches, and on one of more
// than ffnChunkRows tokens, whose FFN runs in two row chunks.
func TestInt8FusedRowsMatchUnfused(t *testing.T) {
	cfg, err := NamedConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(cfg, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range [][2]int{{3, 20}, {33, 128}} {
		B, T := s[0], s[1]
		b := RandomBatch(cfg, B, T, 7)
		for i := 1; i < B; i += 2 { // pad every other sequence
			for t := T - 1 - i%T; t < T; t++ {
				b.Mask[i*T+t] = 0
				b.IDs[i*T+t] = 0
			}
		}
		run := func(keep bool) []float32 {
			a := m.NewActivations(B, T, keep, false)
			out, err := m.Forward(a, b, ForwardOptions{Precision: Int8})
			if err != nil {
				t.Fatal(err)
			}
			return append([]float32(nil), out...)
		}
		fused, plain := run(false), run(true)
		name := fmt.Sprintf("%d×%d", B, T)
		for i := range plain {
			if math.Float32bits(fused[i]) != math.Float32bits(plain[i]) {
				t.Fatalf("%s: hidden[%d] = %v fused, %v unfused", name, i, fused[i], plain[i])
			}
		}
	}
}
