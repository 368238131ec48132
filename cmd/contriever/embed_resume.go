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
	"sort"
	"strconv"
	"strings"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/npy"
	"github.com/contriever-go/contriever/internal/progress"
)

// Resumable embedding. `embed` tokenises the input a window of texts at a
// time (embedChunk by default, --sort-window), sorts each window by length
// as the encoder does and embeds it batch by batch. Each finished batch's
// vectors are written at their rows of OUT.part (raw little-endian float32
// rows in input order, a file of the final size from the start), the file
// is fsynced, and OUT.part.json records how many texts, in processing
// order, are safely there, with a key naming everything the vectors depend
// on: the input's bytes (SHA-256), the model files (engine.ModelHash),
// pooling, normalisation, maximum length, batch size, window and shard.
// Run again after a crash or kill -9, the same command finds a checkpoint
// with its key, re-tokenises the window it stopped in, skips its finished
// batches and goes on: at most the batch being embedded when the process
// died is lost. Batches are formed the same way whether a run is resumed
// or not (windows start at multiples of the window size, batches at
// multiples of the batch size within the window's length order), so a
// resumed run's .npy is byte-identical to an uninterrupted one's. A
// checkpoint with another key is ignored and overwritten. When all rows
// are there the .npy is written (temporary file, rename) and the
// checkpoint removed.

// embedCheckpointHook, when set (tests), is called after each checkpoint
// (each batch) with the number of texts it covers.
var embedCheckpointHook func(rows int)

// embedState is the content of OUT.part.json.
type embedState struct {
	Key   string `json:"key"`
	Dim   int    `json:"dim"`
	Total int    `json:"total"`
	Rows  int    `json:"rows"`
}

// embedKey hashes what the embeddings of input depend on.
func embedKey(input, model, conventions string, batch int, shard string) (string, error) {
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
	fmt.Fprintf(h, "\x00model %s\x00conventions %s batch %d shard %q", mh, conventions, batch, shard)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeEmbeddingsResumable embeds texts with a checkpoint after each batch
// (see above); window is the number of texts sorted by length together.
// It returns the number of texts this call embedded (those of a checkpoint
// it resumed from are not counted).
func writeEmbeddingsResumable(ctx context.Context, enc *encoder.Encoder, texts []string, prompt *string, path, key string, window, batch int, bar *progress.Bar, quiet bool) (int, error) {
	dim := enc.Dim()
	n := len(texts)
	rowBytes := int64(dim) * 4
	part, statePath := path+".part", path+".part.json"
	rows := 0
	if b, err := os.ReadFile(statePath); err == nil {
		var st embedState
		if json.Unmarshal(b, &st) == nil && st.Key == key && st.Dim == dim && st.Total == n &&
			st.Rows >= 0 && st.Rows <= n && (st.Rows%window%batch == 0 || st.Rows == n) {
			if fi, err := os.Stat(part); err == nil && fi.Size() == int64(n)*rowBytes {
				rows = st.Rows
			}
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if rows == 0 {
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
	}
	if err := f.Truncate(int64(n) * rowBytes); err != nil {
		return 0, err
	}
	if rows > 0 {
		if !quiet {
			fmt.Fprintf(os.Stderr, "embed: resuming at text %d of %d (checkpoint %s)\n", rows, n, statePath)
		}
		bar.Add(int64(rows))
	}
	vec := make([]float32, 0, batch*dim)
	buf := make([]byte, rowBytes)
	for lo := rows - rows%window; lo < n; lo += window {
		hi := min(lo+window, n)
		ids, skip := enc.TokenizePrompted(texts[lo:hi], prompt)
		// The encoder's order: longest first, stable.
		order := make([]int, len(ids))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) > len(ids[order[b]]) })
		bids := make([][]int32, 0, batch)
		for b := max(0, rows-lo); b < len(order); b += batch {
			e := min(b+batch, len(order))
			bids = bids[:0]
			for _, i := range order[b:e] {
				bids = append(bids, ids[i])
			}
			vec = vec[:len(bids)*dim]
			if err := enc.EncodeIDsSkipTo(ctx, vec, bids, skip, nil); err != nil {
				return 0, err
			}
			for r, i := range order[b:e] {
				for j, v := range vec[r*dim : (r+1)*dim] {
					binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
				}
				if _, err := f.WriteAt(buf, int64(lo+i)*rowBytes); err != nil {
					return 0, err
				}
			}
			if err := f.Sync(); err != nil {
				return 0, err
			}
			st, _ := json.Marshal(embedState{Key: key, Dim: dim, Total: n, Rows: lo + e})
			if err := atomicfile.WriteFile(statePath, st); err != nil {
				return 0, err
			}
			bar.Add(int64(e - b))
			if embedCheckpointHook != nil {
				embedCheckpointHook(lo + e)
			}
		}
		for i := lo; i < hi; i++ {
			texts[i] = ""
		}
	}
	// All rows are in the part file: write the .npy from it.
	w, err := npy.NewWriter(path, n, dim)
	if err != nil {
		return 0, err
	}
	defer w.Abort()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	const step = 4096
	buf = make([]byte, step*rowBytes)
	vec = make([]float32, step*dim)
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		b := buf[:int64(hi-lo)*rowBytes]
		if _, err := io.ReadFull(f, b); err != nil {
			return 0, fmt.Errorf("%s: %w", part, err)
		}
		v := vec[:(hi-lo)*dim]
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		if err := w.Write(v); err != nil {
			return 0, err
		}
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	f.Close()
	return n - rows, errors.Join(os.Remove(statePath), os.Remove(part))
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
