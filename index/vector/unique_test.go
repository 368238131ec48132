package vector

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
)

func TestCheckUniqueIDs(t *testing.T) {
	ids := make([]string, 5000)
	for i := range ids {
		ids[i] = "d" + strconv.Itoa(i)
	}
	if dup, ok := checkUniqueIDs(ids); !ok {
		t.Fatalf("unique ids reported duplicate %q", dup)
	}
	if _, ok := checkUniqueIDs(nil); !ok {
		t.Fatal("no ids reported a duplicate")
	}
	ids[4321] = "d17"
	if dup, ok := checkUniqueIDs(ids); ok || dup != "d17" {
		t.Fatalf("got %q, %v; want d17, false", dup, ok)
	}
}

// TestIVFLoadDuplicateIDs: a file whose checksums hold but whose ids repeat
// (only a crafted file can) is refused at Load, though Load builds no id
// map; a loaded index still refuses to Add an id it holds, and Remove
// finds ids (the map is built on first use).
func TestIVFLoadDuplicateIDs(t *testing.T) {
	const d = 8
	vecs := make([]float32, 40*d)
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = "v" + strconv.Itoa(i)
		for j := 0; j < d; j++ {
			vecs[i*d+j] = float32((i*7+j*3)%11) - 5
		}
	}
	x, err := NewIVF(d, 4, WithPQ(2), WithCodesOnly())
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Train(vecs); err != nil {
		t.Fatal(err)
	}
	if err := x.Add(ids, vecs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.idx")
	if err := x.Save(good); err != nil {
		t.Fatal(err)
	}
	back, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	y := back.(*IVF)
	if y.pos != nil {
		t.Fatal("Load built the id map")
	}
	if err := y.Add(ids[3:4], vecs[3*d:4*d]); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("Add of a held id after Load: %v", err)
	}
	if n, err := y.Remove([]string{"v5", "nope"}); err != nil || n != 1 || y.Len() != 39 {
		t.Fatalf("Remove: %d, %v, len %d", n, err, y.Len())
	}
	// Repeat an id inside the lists, then save: the checksums are right.
	for l := range x.lists {
		if len(x.lists[l].ids) >= 2 {
			x.lists[l].ids[1] = x.lists[l].ids[0]
			break
		}
	}
	bad := filepath.Join(dir, "bad.idx")
	if err := x.Save(bad); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load of duplicate ids: %v, want ErrCorrupt", err)
	}
}
