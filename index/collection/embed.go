package collection

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/progress"
)

// embedChunk is how many texts are tokenised and embedded at a time.
const embedChunk = 4096

// Embed embeds texts with one encoder of the pool, chunk by chunk, showing
// progress on stderr under label unless quiet. Row i of the result is
// texts[i].
func Embed(ctx context.Context, p *EncoderPool, texts []string, label string, quiet bool) ([]float32, error) {
	dim := p.Dim()
	out := make([]float32, len(texts)*dim)
	bar := progress.New(label, int64(len(texts)), "texts", quiet)
	err := p.Encoder(func(e *encoder.Encoder) error {
		for lo := 0; lo < len(texts); lo += embedChunk {
			hi := min(lo+embedChunk, len(texts))
			ids := e.Tokenize(texts[lo:hi])
			last := 0
			err := e.EncodeIDsTo(ctx, out[lo*dim:hi*dim], ids, func(done int) {
				bar.Add(int64(done - last))
				last = done
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	bar.Finish()
	if err != nil {
		return nil, err
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
// (DataHash) under a model (ModelHash) with encoding options o.
func CacheKey(modelHash, dataHash string, o encoder.Options) string {
	s := fmt.Sprintf("model=%s\ndata=%s\npooling=%s\nnormalize=%t\nmax_length=%d\n", modelHash, dataHash, o.Pooling, o.Normalize, o.MaxLength)
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

// CachedEmbed embeds texts (ids name them; both hashed for the key),
// reading the vectors from cacheDir when a previous call stored them and
// storing them otherwise. cacheDir "" disables the cache. hit reports a
// cache hit. A cache file of the wrong shape is ignored and rewritten.
func CachedEmbed(ctx context.Context, p *EncoderPool, modelHash string, ids, texts []string, cacheDir, label string, quiet bool) (vecs []float32, path string, hit bool, err error) {
	if cacheDir != "" {
		path = filepath.Join(cacheDir, CacheKey(modelHash, DataHash(ids, texts), p.Options()))
		if v, err := ReadNpy(path, len(texts), p.Dim()); err == nil {
			return v, path, true, nil
		}
	}
	vecs, err = Embed(ctx, p, texts, label, quiet)
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
// atomically.
func WriteNpy(path string, vecs []float32, n, dim int) error {
	if len(vecs) != n*dim {
		return fmt.Errorf("WriteNpy: %d floats for %d×%d", len(vecs), n, dim)
	}
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, dim)
	pad := (64 - (10+len(dict)+1)%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	b := make([]byte, 0, 10+len(dict)+4*len(vecs))
	b = append(b, "\x93NUMPY\x01\x00"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
	b = append(b, dict...)
	for _, v := range vecs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return writeFileAtomic(path, b)
}

var npyShape = regexp.MustCompile(`'shape':\s*\((\d+),\s*(\d+)\)`)

// ReadNpy reads a float32 [n, dim] .npy file written by WriteNpy (or
// numpy) and checks its shape, returning an error wrapping ErrNpy otherwise.
func ReadNpy(path string, n, dim int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var pre [10]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil || string(pre[:6]) != "\x93NUMPY" || pre[6] != 1 {
		return nil, fmt.Errorf("%s: %w: not a version 1 .npy", path, ErrNpy)
	}
	hl := int(binary.LittleEndian.Uint16(pre[8:]))
	hdr := make([]byte, hl)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%s: %w: truncated header", path, ErrNpy)
	}
	h := string(hdr)
	m := npyShape.FindStringSubmatch(h)
	if !strings.Contains(h, "'descr': '<f4'") || !strings.Contains(h, "'fortran_order': False") || m == nil {
		return nil, fmt.Errorf("%s: %w: want little-endian float32 C-order 2-d", path, ErrNpy)
	}
	gn, _ := strconv.Atoi(m[1])
	gd, _ := strconv.Atoi(m[2])
	if gn != n || gd != dim {
		return nil, fmt.Errorf("%s: %w: shape (%d, %d), want (%d, %d)", path, ErrNpy, gn, gd, n, dim)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if want := int64(10+hl) + int64(n)*int64(dim)*4; st.Size() != want {
		return nil, fmt.Errorf("%s: %w: %d bytes, want %d", path, ErrNpy, st.Size(), want)
	}
	buf := make([]byte, n*dim*4)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNpy, err)
	}
	out := make([]float32, n*dim)
	for i := range out {
		v := math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: %w: non-finite value at %d", path, ErrNpy, i)
		}
		out[i] = v
	}
	return out, nil
}
