package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/contriever-go/contriever/encoder"
)

// The embedding cache key names the precision, and for int8 the weight
// width of the kernel (w8 on VNNI, w6a7 on AVX2, w6 and w7 on the avx2w6 and avx2w7 kernels); f32 keeps the key of caches
// written before precisions existed.
func TestCacheKeyPrecision(t *testing.T) {
	c := encoder.DefaultConventions()
	keys := map[string]string{}
	for _, a := range []string{"f32", "bf16", "int8/w8", "int8/w7", "int8/w6", "int8/w6a7"} {
		k := CacheKeyAt("m", "d", c, c.DocPrompt, a)
		for b, kb := range keys {
			if kb == k {
				t.Errorf("arithmetics %s and %s share the cache key %s", a, b, k)
			}
		}
		keys[a] = k
	}
	legacy := sha256.Sum256([]byte("model=m\ndata=d\nconventions=" + vectorConventions(c, c.DocPrompt).String() + "\n"))
	if want := "emb-" + hex.EncodeToString(legacy[:16]) + ".npy"; keys["f32"] != want || CacheKey("m", "d", c, c.DocPrompt) != want {
		t.Errorf("f32 key %s, want the pre-precision key %s", keys["f32"], want)
	}

	// Through CachedEmbed: vectors cached at f32 are not read back at int8.
	ctx := context.Background()
	model, cache := tinyModel(t), t.TempDir()
	texts, ids := []string{"alpha beta", "gamma delta"}, []string{"a", "b"}
	paths := map[string]bool{}
	for _, p := range encoder.Precisions {
		pool, err := OpenEncoderPool(model, encoder.Options{Precision: p}, 1)
		if err != nil {
			t.Fatal(err)
		}
		_, path, hit, err := CachedEmbed(ctx, pool, "h", ids, texts, cache, "embed", true)
		if err != nil || hit || paths[path] {
			t.Fatalf("%v: err %v, hit %v, path %s already used", p, err, hit, path)
		}
		paths[path] = true
		if _, _, hit, _ := CachedEmbed(ctx, pool, "h", ids, texts, cache, "embed", true); !hit {
			t.Fatalf("%v: second call missed the cache", p)
		}
	}
}

// An index built at int8 records it in its manifest, reopens at int8 (its
// queries are embedded as its vectors were) unless Open overrides it, and a
// manifest without the field (older indexes) reads as f32.
func TestIndexPrecision(t *testing.T) {
	ctx := context.Background()
	model := tinyModel(t)
	dir, cache := filepath.Join(t.TempDir(), "idx"), t.TempDir()
	m, err := Build(ctx, dir, corpusOf(testDocs), BuildOptions{Model: model, CacheDir: cache, Quiet: true, Precision: encoder.Int8})
	if err != nil {
		t.Fatal(err)
	}
	if m.Model.Precision != "int8" || m.Model.Arithmetic != encoder.Int8.Arithmetic() {
		t.Fatalf("built manifest model %+v", m.Model)
	}
	rm, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rm.Model.Precision != "int8" || rm.Model.Arithmetic != m.Model.Arithmetic {
		t.Fatalf("read back: precision %q arithmetic %q", rm.Model.Precision, rm.Model.Arithmetic)
	}

	// The corpus vectors (from the cache Build filled) against the
	// reopened index's query embeddings of the same passages.
	var texts, docIDs []string
	for _, d := range testDocs {
		texts, docIDs = append(texts, d.Passage()), append(docIDs, d.ID)
	}
	pool32, err := OpenEncoderPool(model, encoder.Options{Pooling: encoder.PoolMean, MaxLength: m.Model.MaxLength}, 1)
	if err != nil {
		t.Fatal(err)
	}
	conv := *m.Model.Conventions
	built, err := ReadNpy(filepath.Join(cache, CacheKeyAt(m.Model.Hash, DataHash(docIDs, texts), conv, conv.DocPrompt, encoder.Int8.Arithmetic())), len(texts), m.Model.Dim)
	if err != nil {
		t.Fatalf("int8 corpus vectors not in the cache under the int8 key: %v", err)
	}
	for _, tc := range []struct {
		override string
		want     encoder.Precision
	}{{"", encoder.Int8}, {"f32", encoder.F32}, {"bf16", encoder.BF16}} {
		c, err := Open(ctx, dir, OpenOptions{Precision: tc.override})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.pool.Options().Precision; got != tc.want {
			t.Errorf("override %q: pool at %v, want %v", tc.override, got, tc.want)
		}
		if tc.override == "" {
			q, err := c.pool.Encode(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			f, err := pool32.Encode(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			// Same arithmetic: equal up to float summation order; f32
			// is measurably further away.
			dq, df := maxAbsDiff(q, built), maxAbsDiff(f, built)
			t.Logf("max |Δ| from the int8 corpus vectors: int8 queries %.3g, f32 %.3g", dq, df)
			if dq > 1e-4 || df <= 10*dq {
				t.Errorf("reopened int8 pool: max |Δ| %.3g from the int8 corpus vectors, f32 %.3g", dq, df)
			}
		}
		c.Close()
	}
	if _, err := Open(ctx, dir, OpenOptions{Precision: "fp4"}); err == nil {
		t.Error("Open with precision fp4: no error")
	}

	// A manifest without the field reads as f32 (the checksum is
	// recomputed as an older build wrote it).
	rm.Model.Precision, rm.Model.Arithmetic = "", ""
	if err := writeManifest(dir, rm); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	var raw struct{ Model map[string]any }
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Model["precision"]; ok || raw.Model == nil {
		t.Errorf("f32 manifest carries a precision field: %s", b)
	}
	c, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.pool.Options().Precision; got != encoder.F32 {
		t.Errorf("manifest without precision: pool at %v", got)
	}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
