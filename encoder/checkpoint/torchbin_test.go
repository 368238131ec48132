package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/internal/fixture"
)

// golden describes testdata/torch_state.json, written by
// testdata/gen_torch_golden.py beside the torch.save files.
type golden map[string]struct {
	Dtype         string   `json:"dtype"`
	Shape         []int    `json:"shape"`
	StorageOffset int      `json:"storage_offset"`
	Contiguous    bool     `json:"contiguous"`
	Values        []string `json:"values"` // Python repr of each float
}

func readGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "torch_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func pyFloat(t *testing.T, s string) float32 {
	t.Helper()
	switch s {
	case "inf":
		return float32(math.Inf(1))
	case "-inf":
		return float32(math.Inf(-1))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad golden value %q", s)
	}
	return float32(f)
}

// TestTorchGolden reads files torch.save wrote (torch 1.13): a Linear's state
// dict with its _metadata (BUILD), tensors sharing one storage at non-zero
// offsets, a transposed (non-contiguous) view, F16 and BF16 tensors (also at
// an offset), a scalar, an empty tensor, an nn.Parameter, and an int64
// buffer, which is listed but cannot be loaded as float32.
func TestTorchGolden(t *testing.T) {
	g := readGolden(t)
	var sawOffset, sawStrided, sawHalf, sawBF16 bool
	for _, file := range []string{"torch_state.bin", "torch_buffer.bin"} {
		p := filepath.Join("testdata", file)
		_, err := ReadTorchBin(p)
		if err == nil || !errors.Is(err, ErrUnsupportedDType) || !strings.Contains(err.Error(), `"embeddings.position_ids"`) || !strings.Contains(err.Error(), "LongStorage") {
			t.Fatalf("%s: reading the int64 buffer gave %v", file, err)
		}
		idx, err := openTorchBin(p)
		if err != nil {
			t.Fatal(err)
		}
		defer idx.close()
		if len(idx.entries) != len(g)+1 {
			t.Errorf("%s: %d tensors listed, want %d", file, len(idx.entries), len(g)+1)
		}
		var names []string
		for name := range g {
			names = append(names, name)
		}
		ts, err := idx.load(names)
		if err != nil {
			t.Fatal(err)
		}
		for name, w := range g {
			got := ts[name]
			if got == nil {
				t.Fatalf("%s: %q missing", file, name)
			}
			if !sameShape(got.Shape, w.Shape) || len(got.Data) != len(w.Values) {
				t.Fatalf("%s: %q shape %v (%d values), want %v (%d)", file, name, got.Shape, len(got.Data), w.Shape, len(w.Values))
			}
			for i, s := range w.Values {
				if v := pyFloat(t, s); !sameBits(got.Data[i], v) {
					t.Errorf("%s: %q[%d] = %g, want %g", file, name, i, got.Data[i], v)
				}
			}
			sawOffset = sawOffset || w.StorageOffset > 0
			sawStrided = sawStrided || !w.Contiguous
			sawHalf = sawHalf || w.Dtype == "float16"
			sawBF16 = sawBF16 || w.Dtype == "bfloat16"
		}
	}
	if !sawOffset || !sawStrided || !sawHalf || !sawBF16 {
		t.Errorf("golden file lacks a case: offset %v strided %v half %v bf16 %v", sawOffset, sawStrided, sawHalf, sawBF16)
	}
}

func TestTorchBinRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dt := range []DType{F32, F16, BF16} {
		ts := randTensors(int64(dt) + 11)
		p := filepath.Join(dir, dt.String()+".bin")
		if err := WriteTorchBinDType(p, ts, dt); err != nil {
			t.Fatal(err)
		}
		got, err := ReadTorchBin(p)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, ts, dt)
		// Data records start on 64-byte boundaries, as torch writes them.
		b, _ := os.ReadFile(p)
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, zf := range zr.File {
			off, err := zf.DataOffset()
			if err != nil || off%64 != 0 {
				t.Errorf("%s: record %s at offset %d (%v)", dt, zf.Name, off, err)
			}
			if !strings.HasPrefix(zf.Name, "archive/") || zf.Method != zip.Store {
				t.Errorf("%s: record %s method %d", dt, zf.Name, zf.Method)
			}
		}
	}
}

// TestTorchBinFixture writes tiny-bert as pytorch_model.bin and reads it
// back identically.
func TestTorchBinFixture(t *testing.T) {
	src, err := ReadSafetensors(fixture.Shared(t, "fixtures", "tiny-bert", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var list []*Tensor
	for _, x := range src {
		list = append(list, x)
	}
	p := filepath.Join(t.TempDir(), "pytorch_model.bin")
	if err := WriteTorchBin(p, list); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTorchBin(p)
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, list, F32)
}

// torchZip builds a torch-style zip from records.
func torchZip(t *testing.T, records ...[2]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, r := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: r[0], Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(r[1]))
	}
	zw.Close()
	return b.Bytes()
}

func TestTorchBinCorrupt(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join("testdata", "torch_buffer.bin"))
	if err != nil {
		t.Fatal(err)
	}
	ts := []*Tensor{{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}}
	okPkl := string(torchPickle(ts, F32))
	data8 := string(make([]byte, 8))
	// A pickle with an os.system call: must be refused, not run.
	evil := "\x80\x02cos\nsystem\nX\x05\x00\x00\x00touch\x85R."
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/3] ^= 0x55 // inside a storage record
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"legacy", []byte("\x80\x02\x8a\x0a"), "legacy"},
		{"not zip", []byte("hello world"), "not a zip"},
		{"truncated zip", good[:len(good)/2], "zip"},
		{"crc", flipped, "checksum"},
		{"no pickle", torchZip(t, [2]string{"archive/version", "3\n"}), "no archive/data.pkl"},
		{"two prefixes", torchZip(t, [2]string{"a/data.pkl", okPkl}, [2]string{"b/data/0", data8}), "both"},
		{"missing storage", torchZip(t, [2]string{"archive/data.pkl", okPkl}), "no record archive/data/0"},
		{"short storage", torchZip(t, [2]string{"archive/data.pkl", okPkl}, [2]string{"archive/data/0", "1234"}), "has 4 bytes"},
		{"big endian", torchZip(t, [2]string{"archive/data.pkl", okPkl}, [2]string{"archive/byteorder", "big"}, [2]string{"archive/data/0", data8}), "byteorder"},
		{"version", torchZip(t, [2]string{"archive/data.pkl", okPkl}, [2]string{"archive/version", "9\n"}, [2]string{"archive/data/0", data8}), "version"},
		{"evil global", torchZip(t, [2]string{"archive/data.pkl", evil}), "global os.system"},
		{"truncated pickle", torchZip(t, [2]string{"archive/data.pkl", okPkl[:len(okPkl)-5]}, [2]string{"archive/data/0", data8}), "truncated"},
		{"unknown opcode", torchZip(t, [2]string{"archive/data.pkl", "\x80\x02}I1\n."}), "opcode"},
		{"not a dict", torchZip(t, [2]string{"archive/data.pkl", "\x80\x02K\x01."}), "not a state dict"},
		{"cyclic dict", torchZip(t, [2]string{"archive/data.pkl", "\x80\x02}q\x00(X\x01\x00\x00\x00ah\x00X\x01\x00\x00\x00bh\x00u."}), "reachable twice"},
		{"no tensors", torchZip(t, [2]string{"archive/data.pkl", "\x80\x02}."}), "no tensors"},
		{"view past storage", torchZip(t, [2]string{"archive/data.pkl", strings.Replace(okPkl, "K\x00(K\x02t", "K\x01(K\x02t", 1)}, [2]string{"archive/data/0", data8}), "runs past"},
	}
	// A flipped byte in a whole-storage F32 record (read straight into the
	// tensor) is caught by the CRC too.
	ours := filepath.Join(dir, "ours.bin")
	big := []*Tensor{{Name: "w", Shape: []int{64, 64}, Data: make([]float32, 4096)}}
	if err := WriteTorchBin(ours, big); err != nil {
		t.Fatal(err)
	}
	ob, _ := os.ReadFile(ours)
	ob[len(ob)/2] ^= 1
	cases = append(cases, struct {
		name string
		file []byte
		want string
	}{"crc f32", ob, "checksum"})
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".bin")
		os.WriteFile(p, c.file, 0o644)
		_, err := ReadTorchBin(p)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q and the file", c.name, err, c.want)
		}
	}
	if _, err := os.Stat("touch"); err == nil {
		t.Fatal("the evil pickle ran")
	}
}

func TestTorchBinTruncatedEverywhere(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "torch_state.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(good); n++ {
		if _, err := parseTorchBin(bytes.NewReader(good[:n]), int64(n)); err == nil {
			t.Fatalf("file cut to %d of %d bytes opened without error", n, len(good))
		}
	}
}

func FuzzReadTorchBin(f *testing.F) {
	for _, name := range []string{"torch_state.bin", "torch_buffer.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	p := filepath.Join(f.TempDir(), "ours.bin")
	if err := WriteTorchBinDType(p, randTensors(5)[:3], F16); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := parseTorchBin(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, e := range idx.entries {
			ts, err := idx.load([]string{e.name})
			if err != nil {
				continue
			}
			x := ts[e.name]
			if n, ok := numel(x.Shape); !ok || n != len(x.Data) {
				t.Fatalf("tensor %q: shape %v with %d values", e.name, x.Shape, len(x.Data))
			}
		}
	})
}

// FuzzUnpickle fuzzes the restricted pickle VM directly (the zip CRC keeps
// FuzzReadTorchBin's mutations from reaching it), seeded with the data.pkl
// records torch wrote.
func FuzzUnpickle(f *testing.F) {
	for _, name := range []string{"torch_state.bin", "moco/pytorch_model.bin", "hf_mlm/pytorch_model.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "/data.pkl") {
				pkl, err := readRecord(zf)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(pkl)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := unpickle(b)
		if err != nil {
			return
		}
		if d, ok := v.(*pyDict); ok {
			idx := &tbIndex{}
			idx.flatten("", d, map[string]bool{}, map[*pyDict]bool{}, 0)
		}
	})
}
