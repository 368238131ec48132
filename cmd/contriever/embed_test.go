package main

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/fixture"
)

// readNpyF32 reads a 2-D little-endian float32 .npy written by
// contriever embed (internal/npy), checking its header by hand.
func readNpyF32(t *testing.T, path string) ([]float32, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "\x93NUMPY\x01\x00" {
		t.Fatalf("bad npy magic %q", b[:8])
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if (10+hl)%64 != 0 {
		t.Fatalf("header length %d not 64-aligned", 10+hl)
	}
	hdr := string(b[10 : 10+hl])
	data := b[10+hl:]
	v := make([]float32, len(data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return v, hdr
}

func TestEmbedCommand(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	lines := `{"_id": "d1", "title": "Dense retrieval", "text": "contrastive learning of an encoder"}
{"_id": "d2", "title": "", "text": "no title here, just text"}

{"_id": "q1", "text": "what is a query"}
{"_id": "d3", "title": "Long", "text": "` + strings.Repeat("many words again ", 200) + `"}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npy")
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", out, "--quiet", "--batch-size", "2", "--max-length", "64"}); err != nil {
		t.Fatal(err)
	}
	got, hdr := readNpyF32(t, out)
	if !strings.Contains(hdr, "'shape': (4, 32)") || !strings.Contains(hdr, "'<f4'") {
		t.Fatalf("header %q", hdr)
	}
	enc, err := encoder.Open(model, encoder.Options{MaxLength: 64})
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"Dense retrieval contrastive learning of an encoder", "no title here, just text", "what is a query", "Long " + strings.Repeat("many words again ", 200)}
	for i, s := range texts {
		want, err := enc.Encode(context.Background(), []string{s})
		if err != nil {
			t.Fatal(err)
		}
		for j, w := range want {
			if d := math.Abs(float64(got[i*32+j] - w)); d > 1e-5 {
				t.Fatalf("row %d col %d: %g, want %g", i, j, got[i*32+j], w)
			}
		}
	}

	// --normalize --pooling cls gives unit vectors.
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", out, "--quiet", "--pooling", "cls", "--normalize"}); err != nil {
		t.Fatal(err)
	}
	got, _ = readNpyF32(t, out)
	for i := 0; i < 4; i++ {
		var s float64
		for _, v := range got[i*32 : i*32+32] {
			s += float64(v) * float64(v)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Fatalf("row %d squared norm %g", i, s)
		}
	}

	for _, tc := range []struct{ name, content, want string }{
		{"bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n", "bad.jsonl:2: bad JSON"},
		{"missing.jsonl", "{\"text\": \"ok\"}\n\n{\"title\": \"t\"}\n", "missing.jsonl:3: missing \"text\""},
		{"nonstring.jsonl", "{\"text\": 5}\n", "nonstring.jsonl:1: bad JSON"},
		{"empty.jsonl", "", "empty file"},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		o := filepath.Join(dir, tc.name+".npy")
		err := runEmbed([]string{"--model", model, "--input", p, "--out", o, "--quiet"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(o); !os.IsNotExist(err) {
			t.Errorf("%s: output written despite the error", tc.name)
		}
	}
	if err := runEmbed([]string{"--model", filepath.Join(dir, "nope"), "--input", in, "--out", out, "--quiet"}); err == nil {
		t.Error("missing model folder accepted")
	}
	if err := runEmbed([]string{"--model", model, "--input", in, "--out", out, "--pooling", "weightedmean"}); err == nil {
		t.Error("--pooling weightedmean accepted")
	}
}

func FuzzParseEmbedJSONL(f *testing.F) {
	f.Add([]byte("{\"title\": \"a\", \"text\": \"b\"}\n{\"text\": \"c\"}\n"))
	f.Add([]byte("{\"text\": null}"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		texts, err := parseEmbedJSONL(strings.NewReader(string(data)), "fuzz")
		if err == nil && len(texts) == 0 {
			t.Fatal("no texts and no error")
		}
	})
}
