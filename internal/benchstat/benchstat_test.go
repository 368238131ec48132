package benchstat

import "testing"

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		x    []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		in := append([]float64(nil), c.x...)
		if got := Median(c.x); got != c.want {
			t.Errorf("Median(%v) = %g, want %g", c.x, got, c.want)
		}
		for i := range in {
			if in[i] != c.x[i] {
				t.Fatalf("Median modified its input: %v", c.x)
			}
		}
	}
}

func TestCPUSecondsGrows(t *testing.T) {
	c0 := CPUSeconds()
	x := 0.0
	for i := 0; i < 20_000_000; i++ {
		x += float64(i)
	}
	if c1 := CPUSeconds(); c1 < c0 || x == 0 {
		t.Fatalf("CPU time went from %g to %g", c0, c1)
	}
}
