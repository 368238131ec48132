package checkpoint

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/contriever-go/contriever/internal/fixture"
)

// hostileDeepPickle returns a pickle of n nested TUPLE1 opcodes around an
// int: ((((0,),),),...), the shape of a file that used to overflow the
// stack of the unpickler's error formatting.
func hostileDeepPickle(n int) []byte {
	b := make([]byte, 0, n+8)
	b = append(b, 0x80, 2, 'K', 0)
	b = append(b, bytes.Repeat([]byte{0x85}, n)...)
	return append(b, '.')
}

// nestedLists returns a pickle of n lists, each appended into the one
// before it.
func nestedLists(n int) []byte {
	b := []byte{0x80, 2, ']'}
	for range n {
		b = append(b, '(', ']')
	}
	b = append(b, bytes.Repeat([]byte{'e'}, n)...)
	return append(b, '.')
}

// hostileDir writes a model folder: config.json from the tiny-bert fixture
// with the given replacements applied, and the given pytorch_model.bin.
func hostileDir(t *testing.T, cfgReplace []string, bin []byte) string {
	t.Helper()
	src := fixture.Shared(t, "fixtures", "tiny-bert")
	cfg, err := os.ReadFile(filepath.Join(src, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(cfgReplace...).Replace(string(cfg))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if bin != nil {
		if err := os.WriteFile(filepath.Join(dir, TorchBinFile), bin, 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		b, err := os.ReadFile(filepath.Join(src, SafetensorsFile))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, SafetensorsFile), b, 0o644)
	}
	return dir
}

// loadBounded runs LoadDir and reports the error, the time taken and the
// bytes allocated (the bounds asserted are loose: a hostile file must be
// refused in a fraction of them).
func loadBounded(t *testing.T, dir string) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, _, err := LoadDir(dir)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("refused in %v, %d MB allocated: %v", took, alloc>>20, err)
	if took > 5*time.Second {
		t.Errorf("took %v, want well under 5 s", took)
	}
	if alloc > 300<<20 {
		t.Errorf("allocated %d MB, want well under 300 MB", alloc>>20)
	}
	return err
}

func TestHostileDeepPickle(t *testing.T) {
	for _, c := range []struct {
		name string
		pkl  []byte
	}{
		{"tuple1", hostileDeepPickle(3_000_000)},
		// MARK ... TUPLE nesting: (((((...)))))
		{"mark-tuple", append(append(append([]byte{0x80, 2}, bytes.Repeat([]byte{'('}, 500_000)...), bytes.Repeat([]byte{'t'}, 500_000)...), '.')},
		// [ [ [ ... ] ] ]: ] ( ] ( ] ... then e e e, each APPENDS putting
		// the list above a MARK into the list below it.
		{"lists", nestedLists(200_000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkl := c.pkl
			bin := torchZip(t, [2]string{"archive/data.pkl", string(pkl)}, [2]string{"archive/version", "3\n"})
			dir := hostileDir(t, nil, bin)
			err := loadBounded(t, dir)
			if err == nil || !errors.Is(err, ErrUnsupportedPickle) || !strings.Contains(err.Error(), "nested more than") || !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %v, want ErrUnsupportedPickle naming the nesting and the file", err)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error message of %d bytes", len(err.Error()))
			}
		})
	}
}

// TestPickleErrorsDoNotRecurse: values in error messages are shown without
// walking nested tuples (a storage size given as a nested tuple).
func TestPickleErrorsDoNotRecurse(t *testing.T) {
	nested := func(d int) []byte { // (((7,),),) d deep
		return append([]byte{'K', 7}, bytes.Repeat([]byte{0x85}, d)...)
	}
	pkl := []byte{0x80, 2, '('}
	pkl = append(pkl, 0x8c, 7)
	pkl = append(pkl, "storage"...)
	pkl = append(pkl, 'c')
	pkl = append(pkl, "torch\nFloatStorage\n"...)
	pkl = append(pkl, 0x8c, 1, '0', 0x8c, 3)
	pkl = append(pkl, "cpu"...)
	pkl = append(pkl, nested(maxPickleDepth-1)...)
	pkl = append(pkl, 't', 'Q', '.')
	_, err := unpickle(pkl)
	if err == nil || !strings.Contains(err.Error(), "storage size (tuple)") {
		t.Fatalf("error %v, want the size shown as a tuple, not walked", err)
	}
	if _, err := unpickle(append(append([]byte{0x80, 2}, nested(maxPickleDepth)...), '.')); err != nil {
		t.Errorf("a tuple %d deep: %v", maxPickleDepth-1, err)
	}
	if _, err := unpickle(append(append([]byte{0x80, 2}, nested(maxPickleDepth+1)...), '.')); err == nil {
		t.Errorf("a tuple %d deep was accepted", maxPickleDepth+1)
	}
}

func TestHostileManyLayers(t *testing.T) {
	layers := `"num_hidden_layers": 2,`
	for _, c := range []struct {
		name, layers, want string
		err                error
	}{
		{"262144", `"num_hidden_layers": 262144,`, "num_hidden_layers 262144 is larger than the supported maximum", ErrInvalidConfig},
		{"16777216", `"num_hidden_layers": 16777216,`, "supported maximum", ErrInvalidConfig},
		{"200", `"num_hidden_layers": 200,`, "declares 200 layers", ErrTensorMismatch},
		{"3", `"num_hidden_layers": 3,`, "declares 3 layers", ErrTensorMismatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, torch := range []bool{false, true} {
				var bin []byte
				if torch {
					_, _, ts := tinyBert(t)
					p := filepath.Join(t.TempDir(), TorchBinFile)
					if err := WriteTorchBin(p, ts); err != nil {
						t.Fatal(err)
					}
					bin, _ = os.ReadFile(p)
				}
				dir := hostileDir(t, []string{layers, c.layers}, bin)
				err := loadBounded(t, dir)
				if err == nil || !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("torch %v: error %v, want %v naming %q and the folder", torch, err, c.err, c.want)
				}
			}
		})
	}
	// Sizes larger than the weights are refused before the data is read.
	for _, r := range [][]string{
		{`"vocab_size": 1000`, `"vocab_size": 4000000`},
		{`"intermediate_size": 64`, `"intermediate_size": 65536`},
		{`"max_position_embeddings": 64`, `"max_position_embeddings": 131072`},
	} {
		dir := hostileDir(t, r, nil)
		if err := loadBounded(t, dir); !errors.Is(err, ErrTensorMismatch) || !strings.Contains(err.Error(), "wants") {
			t.Errorf("%s: error %v, want a shape mismatch", r[1], err)
		}
	}
}

// TestConfigTooLarge: a config.json over 1 MiB is refused without being
// read whole (a sparse 4 GiB file).
func TestConfigTooLarge(t *testing.T) {
	dir := hostileDir(t, nil, nil)
	p := filepath.Join(dir, ConfigFile)
	if err := os.Truncate(p, 4<<30); err != nil {
		t.Skip("no sparse files here:", err)
	}
	err := loadBounded(t, dir)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "larger than") || !strings.Contains(err.Error(), p) {
		t.Fatalf("error %v", err)
	}
}

// TestOverlappingViews: a pytorch_model.bin whose tensors are all views of
// one storage (which would copy that storage once per tensor) is refused
// before any tensor is read.
func TestOverlappingViews(t *testing.T) {
	_, _, ts := tinyBert(t)
	big := 0
	for i, x := range ts {
		if len(x.Data) > len(ts[big].Data) {
			big = i
		}
	}
	numel := int64(len(ts[big].Data))
	var p pickleWriter
	p.op(0x80, 2)
	p.global("collections", "OrderedDict")
	p.op(')', 'R', '(')
	for _, x := range ts {
		p.str(x.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op('(', '(')
		p.str("storage")
		p.global("torch", "FloatStorage")
		p.str("0")
		p.str("cpu")
		p.int(numel)
		p.op('t', 'Q')
		p.int(0)
		shape := make([]int64, len(x.Shape))
		stride := make([]int64, len(x.Shape))
		s := int64(1)
		for d := len(x.Shape) - 1; d >= 0; d-- {
			shape[d], stride[d] = int64(x.Shape[d]), s
			s *= int64(x.Shape[d])
		}
		p.intTuple(shape)
		p.intTuple(stride)
		p.op(0x89)
		p.global("collections", "OrderedDict")
		p.op(')', 'R', 't', 'R')
	}
	p.op('u', '.')
	data := make([]byte, 4*numel)
	bin := torchZip(t, [2]string{"archive/data.pkl", p.String()}, [2]string{"archive/data/0", string(data)})
	dir := hostileDir(t, nil, bin)
	err := loadBounded(t, dir)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "overlapping views") {
		t.Fatalf("error %v, want ErrCorrupt naming overlapping views", err)
	}
}

// TestPickleItemsBound: a pickle growing one list by 2 bytes per item is
// stopped at maxPickleItems.
func TestPickleItemsBound(t *testing.T) {
	n := maxPickleItems + 10
	pkl := make([]byte, 0, 2*n+8)
	pkl = append(pkl, 0x80, 2, ']')
	for range n {
		pkl = append(pkl, 'N', 'a')
	}
	pkl = append(pkl, '.')
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := unpickle(pkl)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrUnsupportedPickle) || !strings.Contains(err.Error(), "items in containers") {
		t.Fatalf("error %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 300<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
}
