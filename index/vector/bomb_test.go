package vector

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestHeaderBomb: a header alone (64 bytes, valid checksum) declaring
// huge sections is refused before anything is allocated from it.
func TestHeaderBomb(t *testing.T) {
	cases := []struct {
		name string
		h    header
	}{
		// 2^24 lists of an untrained IVF: used to allocate 1.2 GB of list
		// headers before reading the LSIZ section.
		{"ivf-nlist", header{version: 1, kind: kindIVF, metric: uint8(InnerProduct), dim: 768, nlist: maxNList, nprobe: 1, nsec: 3}},
		{"ivf-trained", header{version: 1, kind: kindIVF, flags: flagTrained, metric: uint8(InnerProduct), dim: maxDim, nlist: maxNList, nprobe: 1, nsec: 4}},
		{"sq8", header{version: 2, kind: kindIVF, flags: flagTrained | flagSQ8, metric: uint8(Cosine), dim: maxDim, nlist: 1, nprobe: 1, nsec: 5}},
		{"flat-count", header{version: 1, kind: kindFlat, metric: uint8(InnerProduct), dim: 1, count: 1 << 40, nsec: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.h.encode()
			if len(b) != headerSize {
				t.Fatalf("header of %d bytes", len(b))
			}
			p := filepath.Join(t.TempDir(), "bomb.cvec")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Load(p)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want ErrCorrupt naming the file", err)
			}
			if alloc > 4<<20 {
				t.Errorf("allocated %d bytes before refusing: %v", alloc, err)
			}
			t.Logf("%d bytes allocated: %v", alloc, err)
		})
	}
}
