package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/npy"
	"github.com/contriever-go/contriever/internal/progress"
)

// embedChunk is how many texts are tokenised and embedded at a time.
const embedChunk = 4096

// Embed embeds texts with the embedder, prompt (nil: none) prepended to
// each (ConventionsOf(p).QueryPrompt for queries, DocPrompt for passages;
// see EmbedPromptedTo), chunk by chunk, showing progress on stderr under
// label unless quiet. Row i of the result is texts[i].
func Embed(ctx context.Context, p Embedder, texts []string, prompt *string, label string, quiet bool) ([]float32, error) {
	return embedAll(ctx, p, texts, prompt, false, label, quiet)
}

// EmbedQueries is Embed for queries: with the model's query prompt
// (ConventionsOf(p).QueryPrompt), and with its query vectors when the
// model embeds queries its own way (an asymmetric static model).
func EmbedQueries(ctx context.Context, p Embedder, texts []string, label string, quiet bool) ([]float32, error) {
	return embedAll(ctx, p, texts, ConventionsOf(p).QueryPrompt, true, label, quiet)
}

// embedAll is Embed, of queries when query is true.
func embedAll(ctx context.Context, p Embedder, texts []string, prompt *string, query bool, label string, quiet bool) ([]float32, error) {
	dim := p.Dim()
	out := make([]float32, len(texts)*dim)
	bar := progress.New(label, int64(len(texts)), "texts", quiet)
	defer bar.Finish()
	for lo := 0; lo < len(texts); lo += embedChunk {
		hi := min(lo+embedChunk, len(texts))
		last := 0
		err := embedPromptedTo(ctx, p, out[lo*dim:hi*dim], texts[lo:hi], prompt, query, func(done int) {
			bar.Add(int64(done - last))
			last = done
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DataHash returns the sha256 (hex) of a list of (id, text) pairs, in order:
// with the model hash and the encoding options it keys cached embeddings.
func DataHash(ids, texts []string) string {
	h := sha256.New()
	var n [8]byte
	for i := range texts {
		id := ""
		if ids != nil {
			id = ids[i]
		}
		binary.LittleEndian.PutUint64(n[:], uint64(len(id)))
		h.Write(n[:])
		io.WriteString(h, id)
		binary.LittleEndian.PutUint64(n[:], uint64(len(texts[i])))
		h.Write(n[:])
		io.WriteString(h, texts[i])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CacheKey is the file name (without folder) of cached embeddings of data
// (DataHash) under a model (ModelHash) with conventions c (pooling,
// include_prompt, normalisation, maximum length, lowercasing, similarity)
// and prompt (nil: none) prepended to each text, embedded at float32. The
// prompts not applied are not part of the key.
func CacheKey(modelHash, dataHash string, c encoder.Conventions, prompt *string) string {
	return CacheKeyAt(modelHash, dataHash, c, prompt, encoder.F32.Arithmetic())
}

// CacheKeyAt is CacheKey for vectors embedded at a precision: a reduced
// one enters the key as the arithmetic the kernels in use run
// (encoder.Precision.Arithmetic: "bf16", "int8/w8", "int8/w6a7", "int8/w6" or "int8/w7"), so
// vectors cached by one kernel are never read back for another; f32 keys
// are CacheKey's, those of caches written before precisions existed.
func CacheKeyAt(modelHash, dataHash string, c encoder.Conventions, prompt *string, arith string) string {
	s := fmt.Sprintf("model=%s\ndata=%s\nconventions=%s\n", modelHash, dataHash, vectorConventions(c, prompt))
	if arith != encoder.F32.Arithmetic() {
		s += "precision=" + arith + "\n"
	}
	h := sha256.Sum256([]byte(s))
	return "emb-" + hex.EncodeToString(h[:16]) + ".npy"
}

// DefaultCacheDir is $XDG_CACHE_HOME/contriever, or ~/.cache/contriever.
func DefaultCacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "contriever")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "contriever")
	}
	return filepath.Join(os.TempDir(), "contriever-cache")
}

// CachedEmbed embeds passages texts with the document prompt (ids name
// them; both hashed for the key, with the embedder's conventions), reading
// the vectors from cacheDir when a previous call stored them and
// storing them otherwise. cacheDir "" disables the cache. hit reports a
// cache hit. A cache file of the wrong shape is ignored and rewritten.
// Static models are not cached: embedding is a table lookup.
func CachedEmbed(ctx context.Context, p Embedder, modelHash string, ids, texts []string, cacheDir, label string, quiet bool) (vecs []float32, path string, hit bool, err error) {
	if p.Kind() == KindStatic {
		cacheDir = ""
	}
	if cacheDir != "" {
		c := ConventionsOf(p)
		path = filepath.Join(cacheDir, CacheKeyAt(modelHash, DataHash(ids, texts), c, c.DocPrompt, p.Options().Precision.Arithmetic()))
		if v, err := ReadNpy(path, len(texts), p.Dim()); err == nil {
			return v, path, true, nil
		}
	}
	vecs, err = Embed(ctx, p, texts, ConventionsOf(p).DocPrompt, label, quiet)
	if err != nil {
		return nil, path, false, err
	}
	if cacheDir != "" {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			return vecs, path, false, fmt.Errorf("embedding cache: %w", err)
		}
		if err := WriteNpy(path, vecs, len(texts), p.Dim()); err != nil {
			return vecs, path, false, fmt.Errorf("embedding cache: %w", err)
		}
	}
	return vecs, path, false, nil
}

// ErrNpy reports a .npy file that is not a little-endian float32 [n, dim]
// C-order array of the expected shape.
var ErrNpy = errors.New("collection: bad .npy file")

// WriteNpy writes vecs as a float32 [n, dim] .npy (version 1.0) file,
// atomically (internal/npy).
func WriteNpy(path string, vecs []float32, n, dim int) error {
	if len(vecs) != n*dim {
		return fmt.Errorf("WriteNpy: %d floats for %d×%d", len(vecs), n, dim)
	}
	return npy.WriteFloat32(path, vecs, n, dim)
}

// ReadNpy reads a float32 [n, dim] .npy file written by WriteNpy (or
// numpy) and checks its shape and that every value is finite, returning an
// error wrapping ErrNpy otherwise.
func ReadNpy(path string, n, dim int) ([]float32, error) {
	v, shape, err := npy.ReadFloat32(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrNpy, err)
	}
	if len(shape) != 2 || shape[0] != n || shape[1] != dim {
		return nil, fmt.Errorf("%s: %w: shape %v, want (%d, %d)", path, ErrNpy, shape, n, dim)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%s: %w: non-finite value at %d", path, ErrNpy, i)
		}
	}
	return v, nil
}
