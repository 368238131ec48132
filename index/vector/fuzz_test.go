package vector

import (
	"errors"
	"testing"
)

// FuzzLoad feeds arbitrary bytes (seeded with small valid files of every
// kind of the conformance suite: flat, IVF, SQ8 IVF) to the loader: it
// must return an index or an error, never panic, and anything it accepts
// must be searchable and consistent.
func FuzzLoad(f *testing.F) {
	for _, kd := range kinds {
		good := smallSaved(f, kd)
		f.Add(good)
		f.Add(good[:len(good)/2])
	}
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := Decode(data)
		if err != nil {
			if ix != nil {
				t.Fatal("index returned with an error")
			}
			return
		}
		q := make([]float32, ix.Dim())
		q[0] = 1
		res, err := ix.Search(q, 3)
		if err != nil && !errors.Is(err, ErrNotTrained) {
			t.Fatal(err)
		}
		if err == nil && len(res[0]) > min(3, ix.Len()) {
			t.Fatalf("%d results from %d vectors", len(res[0]), ix.Len())
		}
	})
}
