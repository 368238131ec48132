package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/npy"
	"github.com/contriever-go/contriever/internal/progress"
)

// Resumable embedding. `embed` writes the vectors of each chunk of
// embedChunk texts to OUT.part (raw little-endian float32 rows, fsynced),
// then records in OUT.part.json how many rows are safely there, with a key
// naming everything the vectors depend on: the input's bytes (SHA-256), the
// model files (engine.ModelHash), pooling, normalisation, maximum
// length, batch size and shard. Run again after a crash or kill -9, the
// same command finds a checkpoint with its key, drops any bytes written
// after the last recorded chunk and goes on from there; a checkpoint with
// another key is ignored and overwritten. Chunks always start at multiples
// of embedChunk from the first text and the encoder batches each chunk
// alone, so a resumed run computes exactly the batches an uninterrupted one
// does and its .npy is byte-identical. At most the chunk being embedded
// when the process died is lost. When all rows are there the .npy is
// written (temporary file, rename) and the checkpoint removed.

// embedCheckpointHook, when set (tests), is called after each checkpoint
// with the number of rows it covers.
var embedCheckpointHook func(rows int)

// embedState is the content of OUT.part.json.
type embedState struct {
	Key   string `json:"key"`
	Dim   int    `json:"dim"`
	Total int    `json:"total"`
	Rows  int    `json:"rows"`
}

// embedKey hashes what the embeddings of input depend on.
func embedKey(input, model string, o encoder.Options, shard string) (string, error) {
	h := sha256.New()
	f, err := os.Open(input)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", input, err)
	}
	mh, err := engine.ModelHash(model)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "\x00model %s\x00pooling %v normalize %v max-length %d batch %d shard %q", mh, o.Pooling, o.Normalize, o.MaxLength, o.BatchSize, shard)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeEmbeddingsResumable is writeEmbeddings with a checkpoint after each
// chunk (see above); chunk is the number of texts a checkpoint covers.
func writeEmbeddingsResumable(ctx context.Context, enc *encoder.Encoder, texts []string, path, key string, chunk int, bar *progress.Bar, quiet bool) error {
	dim := enc.Dim()
	n := len(texts)
	part, statePath := path+".part", path+".part.json"
	rows := 0
	if b, err := os.ReadFile(statePath); err == nil {
		var st embedState
		if json.Unmarshal(b, &st) == nil && st.Key == key && st.Dim == dim && st.Total == n &&
			st.Rows >= 0 && st.Rows <= n && (st.Rows%chunk == 0 || st.Rows == n) {
			if fi, err := os.Stat(part); err == nil && fi.Size() >= int64(st.Rows)*int64(dim)*4 {
				rows = st.Rows
			}
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(rows) * int64(dim) * 4); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	if rows > 0 {
		if !quiet {
			fmt.Fprintf(os.Stderr, "embed: resuming at text %d of %d (checkpoint %s)\n", rows, n, statePath)
		}
		bar.Add(int64(rows))
	}
	vec := make([]float32, 0, chunk*dim)
	buf := make([]byte, 0, chunk*dim*4)
	for lo := rows; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		ids := enc.Tokenize(texts[lo:hi])
		vec = vec[:(hi-lo)*dim]
		last := 0
		if err := enc.EncodeIDsTo(ctx, vec, ids, func(done int) {
			bar.Add(int64(done - last))
			last = done
		}); err != nil {
			return err
		}
		buf = buf[:len(vec)*4]
		for i, v := range vec {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		if _, err := f.Write(buf); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		st, _ := json.Marshal(embedState{Key: key, Dim: dim, Total: n, Rows: hi})
		if err := atomicfile.WriteFile(statePath, st); err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			texts[i] = ""
		}
		if embedCheckpointHook != nil {
			embedCheckpointHook(hi)
		}
	}
	// All rows are in the part file: write the .npy from it.
	w, err := npy.NewWriter(path, n, dim)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		buf = buf[:(hi-lo)*dim*4]
		if _, err := io.ReadFull(f, buf); err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
		vec = vec[:(hi-lo)*dim]
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
		if err := w.Write(vec); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	f.Close()
	return errors.Join(os.Remove(statePath), os.Remove(part))
}

// parseShard parses --shard "i/n" (0 <= i < n) and returns the contiguous
// range of the total lines it covers: [i·total/n, (i+1)·total/n).
func parseShard(s string, total int) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n <= 0 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 0 <= i < n", s)
	}
	return i * total / n, (i + 1) * total / n, nil
}
