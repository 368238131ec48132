package statictune

import (
	"slices"
	"testing"
)

// FuzzState: UnmarshalBinary and StateSteps never panic on any bytes, and
// a state they accept restores a trainer, with or without a MoCo queue
// and separate query rows,
// that can step.
func FuzzState(f *testing.F) {
	w, docs := toy(30, 4, 12, 8)
	plain := Options{Batch: 4, QueryMin: 1, QueryMax: 3, KeyMin: 2, KeyMax: 6, Seed: 3}
	queued := plain
	queued.Queue = 6
	sep := queued
	sep.SeparateQueries = true
	opts := []Options{plain, queued, sep}
	for _, o := range opts {
		tr, err := New(slices.Clone(w), 4, docs, o)
		if err != nil {
			f.Fatal(err)
		}
		tr.Step(0.1)
		st, _ := tr.MarshalBinary()
		f.Add(st)
		f.Add(st[:40])
	}
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		StateSteps(b)
		for _, o := range opts {
			fresh, _ := New(slices.Clone(w), 4, docs, o)
			if fresh.UnmarshalBinary(b) == nil {
				fresh.Step(0.1)
			}
		}
	})
}
