package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

// randTensors returns a seeded set of tensors of assorted shapes, including
// a scalar and an empty tensor.
func randTensors(seed int64) []*Tensor {
	rng := rand.New(rand.NewSource(seed))
	shapes := map[string][]int{
		"a.weight": {3, 5}, "a.bias": {5}, "scalar": {}, "empty": {0, 4}, "b.c.d": {2, 3, 4},
	}
	var ts []*Tensor
	for name, sh := range shapes {
		n, _ := numel(sh)
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		ts = append(ts, &Tensor{Name: name, Shape: sh, Data: d})
	}
	return ts
}

// rounded returns what t becomes after a trip through dtype.
func rounded(v float32, dt DType) float32 {
	switch dt {
	case F16:
		return F16ToFloat32(Float32ToF16(v))
	case BF16:
		return BF16ToFloat32(Float32ToBF16(v))
	}
	return v
}

func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func checkTensors(t *testing.T, got map[string]*Tensor, want []*Tensor, dt DType) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for _, w := range want {
		g := got[w.Name]
		if g == nil {
			t.Fatalf("tensor %q missing", w.Name)
		}
		if g.Name != w.Name || !sameShape(g.Shape, w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("tensor %q: got %q %v (%d values), want %v (%d)", w.Name, g.Name, g.Shape, len(g.Data), w.Shape, len(w.Data))
		}
		for i := range w.Data {
			if r := rounded(w.Data[i], dt); !sameBits(g.Data[i], r) {
				t.Fatalf("tensor %q[%d] = %g, want %g", w.Name, i, g.Data[i], r)
			}
		}
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dt := range []DType{F32, F16, BF16} {
		ts := randTensors(int64(dt) + 7)
		ts[0].Data = append([]float32(nil), ts[0].Data...)
		if len(ts[0].Data) > 3 {
			ts[0].Data[0], ts[0].Data[1], ts[0].Data[2] = float32(math.Inf(1)), 1e-7, -0
		}
		p := filepath.Join(dir, dt.String()+".safetensors")
		md := map[string]string{"format": "pt", "note": "<&>"}
		if err := WriteSafetensors(p, ts, dt, md); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSafetensors(p)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, ts, dt)
		gotMD, err := ReadSafetensorsMetadata(p)
		if err != nil || gotMD["format"] != "pt" || gotMD["note"] != "<&>" || len(gotMD) != 2 {
			t.Fatalf("metadata %v, %v", gotMD, err)
		}
		b, _ := os.ReadFile(p)
		n := binary.LittleEndian.Uint64(b)
		if (8+n)%8 != 0 {
			t.Errorf("%s: data section starts at %d, not 8-aligned", dt, 8+n)
		}
		// Deterministic: writing again (tensors in another order) gives the same bytes.
		rev := append([]*Tensor(nil), ts...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		p2 := p + ".2"
		if err := WriteSafetensors(p2, rev, dt, md); err != nil {
			t.Fatal(err)
		}
		if b2, _ := os.ReadFile(p2); !bytes.Equal(b, b2) {
			t.Errorf("%s: output depends on tensor order", dt)
		}
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestSafetensorsWriteErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.safetensors")
	bad := [][]*Tensor{
		{{Name: "a", Shape: []int{2}, Data: []float32{1}}},
		{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{2}}},
		{{Name: "", Shape: []int{1}, Data: []float32{1}}},
		{{Name: "__metadata__", Shape: []int{1}, Data: []float32{1}}},
	}
	for i, ts := range bad {
		if err := WriteSafetensors(p, ts, F32, nil); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("failed writes left %s behind", p)
	}
}

func TestSafetensorsFixture(t *testing.T) {
	p := fixture.Shared(t, "fixtures", "tiny-bert", "model.safetensors")
	ts, err := ReadSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 39 {
		t.Errorf("got %d tensors, want 39", len(ts))
	}
	cfg, err := ReadConfig(filepath.Join(filepath.Dir(p), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTensors(cfg, ts); err != nil {
		t.Fatal(err)
	}
	w := ts["embeddings.word_embeddings.weight"]
	if !sameShape(w.Shape, []int{1000, 32}) {
		t.Errorf("word embeddings shape %v", w.Shape)
	}
	// LayerNorm weights of a freshly initialised BERT are not all equal to
	// the bias; values must be finite and not all zero.
	var nz int
	for _, v := range w.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite embedding value %g", v)
		}
		if v != 0 {
			nz++
		}
	}
	if nz < len(w.Data)/2 {
		t.Errorf("only %d of %d embedding values are non-zero", nz, len(w.Data))
	}
	md, err := ReadSafetensorsMetadata(p)
	if err != nil || md["format"] != "pt" {
		t.Errorf("metadata %v, %v", md, err)
	}
}

// stFile builds a safetensors file from a raw header and data section.
func stFile(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestSafetensorsCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	cases := []struct {
		name string
		file []byte
		want string // substring of the error
	}{
		{"empty", nil, "too short"},
		{"short length", []byte{1, 2, 3}, "too short"},
		{"huge header", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, '{'), "exceeds"},
		{"header past end", stFile(`{}`, nil)[:9], "past the end"},
		{"not json", stFile(`{"a":`, nil), "JSON"},
		{"not object", stFile(`[1,2]   `, nil), "start with '{'"},
		{"trailing garbage", stFile(`{} x`, nil), "after the header"},
		{"duplicate", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "duplicate key \"a\""},
		{"truncated data", good[:len(good)-1], "\"a\""},
		{"extra data", append(append([]byte{}, good...), 0), "data section has 9 bytes"},
		{"bad dtype", stFile(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)), "tensor \"a\": unsupported dtype: dtype \"I64\""},
		{"size mismatch", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "needs 12 bytes"},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), "overlap"},
		{"hole", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)), "hole"},
		{"negative dim", stFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, nil), "invalid dimension"},
		{"reversed offsets", stFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, make([]byte, 4)), "invalid data_offsets"},
		{"missing field", stFile(`{"a":{"dtype":"F32","shape":[0]}}`, nil), "needs dtype, shape and data_offsets"},
		{"bad metadata", stFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"huge shape", stFile(`{"a":{"dtype":"F32","shape":[2147483647,2147483647],"data_offsets":[0,0]}}`, nil), "too large"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		os.WriteFile(p, c.file, 0o644)
		_, err := ReadSafetensors(p)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q and the file", c.name, err, c.want)
		}
		if c.name != "bad dtype" && !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %q is not ErrCorrupt", c.name, err)
		}
	}
	if _, err := ReadSafetensors(filepath.Join(dir, "missing.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestSafetensorsTruncatedEverywhere cuts a real file at every length and
// expects an error (never a panic) for each.
func TestSafetensorsTruncatedEverywhere(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	if err := WriteSafetensors(p, randTensors(3), F16, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	for n := 0; n < len(b); n++ {
		if _, err := readSafetensorsBytes(b[:n]); err == nil {
			t.Fatalf("file cut to %d of %d bytes read without error", n, len(b))
		}
	}
}

// readSafetensorsBytes is ReadSafetensors on an in-memory file.
func readSafetensorsBytes(b []byte) (map[string]*Tensor, error) {
	idx, err := parseSafetensorsHeader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range idx.entries {
		names = append(names, e.name)
	}
	return idx.load(names)
}

func FuzzReadSafetensors(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.safetensors")
	for _, dt := range []DType{F32, F16, BF16} {
		if err := WriteSafetensors(p, randTensors(1), dt, map[string]string{"format": "pt"}); err != nil {
			f.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	if fx, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "fixtures", "tiny-bert", "model.safetensors")); err == nil {
		f.Add(fx[:min(len(fx), 8+4024+512)]) // header and the first tensors
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := readSafetensorsBytes(b)
		if err != nil {
			return
		}
		for name, x := range ts {
			if n, ok := numel(x.Shape); !ok || n != len(x.Data) || name != x.Name {
				t.Fatalf("tensor %q: shape %v with %d values", name, x.Shape, len(x.Data))
			}
		}
	})
}
