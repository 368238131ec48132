package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/npy"
	"github.com/contriever-go/contriever/internal/progress"
)

// Model vectors for `bench scale --model DIR` (the documented default of
// the 1M acceptance run, bench/scale1m.sh). Recall depends on what the
// vectors look like: random vectors around 1,000 centres are too easy for
// an IVF (recall 1.00 at nprobe 2), i.i.d. Gaussian rows are too hard (no
// structure for the lists to find). A model's vectors of the synthetic
// passages have the neighbourhood structure of real text. A static model
// (`contriever train --recipe static --corpus data/scifact --out DIR`,
// about 30 s, 768 dimensions) embeds thousands of passages a second, so
// 1M passages take minutes; a transformer folder works too, at its own
// (far slower) rate. The queries (--queries-file, or the sampled sentence
// fragments) are embedded by the same model, and the exact top k against
// which recall is measured is a brute-force sgemm over all the vectors.

// scaleEmbedChunk is the number of passages embedded at once.
const scaleEmbedChunk = 16384

// scaleEmbed embeds the synthetic corpus (title and text, as `index`
// embeds passages) and the queries with the model folder dir. It returns
// the base and query rows, the dimension and the passages' embedding rate.
func scaleEmbed(ctx context.Context, dir string, gen scaleCorpus, queries []string, quiet bool) (xb, xq []float32, dim int, rate float64, err error) {
	emb, err := engine.OpenEmbedder(dir, encoder.Options{}, 0)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("--model: %w", err)
	}
	defer emb.Close()
	d := emb.Dim()
	xq = make([]float32, len(queries)*d)
	if err := emb.EmbedTo(ctx, xq, queries, nil); err != nil {
		return nil, nil, 0, 0, fmt.Errorf("--model: queries: %w", err)
	}
	xb = make([]float32, gen.n*d)
	prog := progress.New("bench scale: embed", int64(gen.n), "passages", quiet)
	t0 := time.Now()
	texts := make([]string, 0, scaleEmbedChunk)
	row := 0
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		if err := emb.EmbedTo(ctx, xb[row*d:(row+len(texts))*d], texts, nil); err != nil {
			return err
		}
		row += len(texts)
		prog.Add(int64(len(texts)))
		texts = texts[:0]
		return nil
	}
	err = gen.each(func(doc beir.Doc) error {
		texts = append(texts, doc.Passage())
		if len(texts) == scaleEmbedChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	prog.Finish()
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("--model: passages: %w", err)
	}
	return xb, xq, d, float64(gen.n) / time.Since(t0).Seconds(), nil
}

// scaleReadQueries returns the texts of the first n queries of a BEIR
// queries file (or of the queries.jsonl in a folder); fewer when the file
// has fewer.
func scaleReadQueries(path string, n int) ([]string, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--queries-file: %w", err)
	} else if st.IsDir() {
		if path, err = beir.FindFile(path, "queries.jsonl"); err != nil {
			return nil, fmt.Errorf("--queries-file: %w", err)
		}
	}
	qs, err := beir.ReadQueries(path)
	if err != nil {
		return nil, fmt.Errorf("--queries-file: %w", err)
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("--queries-file %s: no queries", path)
	}
	return beir.Texts(qs[:min(n, len(qs))]), nil
}

// scaleWriteNPY writes the vectors that `bench scale` searched, for
// scripts/anchors/faiss_bench.py --base/--queries/--truth: base.npy (n×d
// float32, row i is passage s<i>), queries.npy (nq×d) and truth.npy (nq×k
// float32 row numbers of the exact top k, best first; row numbers below
// 2^24 are exact in float32).
func scaleWriteNPY(dir string, xb, xq []float32, d int, exact [][]int32, k int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--npy-out: %w", err)
	}
	if len(xb)/d >= 1<<24 {
		return fmt.Errorf("--npy-out: %d rows: truth.npy holds row numbers as float32, exact below 2^24", len(xb)/d)
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "base.npy"), xb, len(xb)/d, d); err != nil {
		return err
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "queries.npy"), xq, len(xq)/d, d); err != nil {
		return err
	}
	if exact == nil {
		return nil
	}
	gt := make([]float32, len(exact)*k)
	for i := range gt {
		gt[i] = -1
	}
	for i, rows := range exact {
		for j, r := range rows {
			gt[i*k+j] = float32(r)
		}
	}
	return npy.WriteFloat32(filepath.Join(dir, "truth.npy"), gt, len(exact), k)
}

// scaleMappedRSSMB returns the resident pages (Rss, MiB) of the process's
// mappings of the file at path, from /proc/self/smaps (Linux), or -1 where
// it cannot be read. Those pages are clean page cache mapped into the
// process: they count in its RSS, and the kernel may drop them.
func scaleMappedRSSMB(path string) float64 {
	abs, err := filepath.Abs(path)
	if err != nil {
		return -1
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return -1
	}
	defer f.Close()
	return mappedRSS(bufio.NewScanner(f), abs)
}

// mappedRSS sums the Rss lines (kB) of the smaps mappings whose path is
// path, and returns MiB.
func mappedRSS(sc *bufio.Scanner, path string) float64 {
	var kb float64
	in := false
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") { // a mapping's header: address perms offset dev inode [path]
			in = len(f) >= 6 && strings.Join(f[5:], " ") == path
			continue
		}
		if in && f[0] == "Rss:" && len(f) >= 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			kb += v
		}
	}
	return kb / 1024
}
