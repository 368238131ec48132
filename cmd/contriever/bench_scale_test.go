package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/npy"
)

func TestSplitSentences(t *testing.T) {
	got := splitSentences("Cells grow. They divide, e.g. often. 3 of 4 die! Why? unknown. End")
	want := []string{"Cells grow.", "They divide, e.g. often.", "3 of 4 die!", "Why? unknown.", "End"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestScaleCorpusDeterministic: the same seed gives the same passages and
// queries, another seed others; passages are made of source sentences.
func TestScaleCorpusDeterministic(t *testing.T) {
	sents := []string{"A one.", "B two.", "C three.", "D four.", "E five six seven eight nine ten eleven."}
	collect := func(seed uint64) ([]beir.Doc, []string) {
		c := scaleCorpus{titles: []string{"T1", "T2"}, sents: sents, n: 50, seed: seed}
		var docs []beir.Doc
		if err := c.each(func(d beir.Doc) error { docs = append(docs, d); return nil }); err != nil {
			t.Fatal(err)
		}
		return docs, c.queries(20)
	}
	a, qa := collect(1)
	b, qb := collect(1)
	c, _ := collect(2)
	if !reflect.DeepEqual(a, b) || !slices.Equal(qa, qb) {
		t.Fatal("same seed, different corpus")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same corpus")
	}
	for _, d := range a {
		n := len(splitSentences(d.Text))
		if n < 2 || n > 4 {
			t.Fatalf("passage %s has %d sentences: %q", d.ID, n, d.Text)
		}
	}
}

// TestBenchScaleModelNPY: `bench scale --model` embeds the passages and the
// --queries-file queries with a static model, and --npy-out writes exactly
// those vectors and the exact top k: the test re-embeds passages and
// queries with the model, compares them with base.npy and queries.npy, and
// recomputes the top k by brute force. With every list probed and every
// candidate re-ranked from the mapped float file, recall is 1.
func TestBenchScaleModelNPY(t *testing.T) {
	data := writeNoHitsDataset(t)
	model := buildStaticModel(t, data)
	out := t.TempDir()
	// Queries of known words only (a query of unknown words embeds to zero,
	// and then every passage ties).
	qf := filepath.Join(out, "queries.jsonl")
	var qs strings.Builder
	for i, q := range []string{"protein binds", "cell gene", "tumor virus enzyme", "membrane receptor", "neuron insulin binds", "gene tumor", "virus", "enzyme cell protein", "receptor neuron"} {
		fmt.Fprintf(&qs, `{"_id":"q%d","text":%q}`+"\n", i, q)
	}
	if err := os.WriteFile(qf, []byte(qs.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	const docs, k = 300, 5
	stdout := captureStdout(t, func() error {
		return runBenchScale([]string{"--docs", fmt.Sprint(docs), "--model", model, "--queries-file", qf,
			"--vector", "ivf-pq", "--pq-m", "2", "--codes-only", "--rerank-mmap", "--rerank", fmt.Sprint(docs),
			"--nlist", "4", "--nprobes", "1,4", "--k", fmt.Sprint(k), "--source", data,
			"--dir", filepath.Join(out, "idx"), "--npy-out", filepath.Join(out, "npy"), "--json", "--quiet"})
	})
	var rep benchScaleReport
	if err := json.Unmarshal(stdout, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	if rep.Dist != "model" || rep.Model != model || rep.Queries != 9 || rep.QueriesFrom != qf || rep.Rerank != docs {
		t.Fatalf("report: dist %q model %q queries %d from %q rerank %d", rep.Dist, rep.Model, rep.Queries, rep.QueriesFrom, rep.Rerank)
	}
	for _, m := range []string{"bm25", "bm25-fragments", "dense", "hybrid"} {
		if l, ok := rep.Latency[m]; !ok || l[0] < 0 || l[1] < l[0] {
			t.Fatalf("latency row %s: %v, %v", m, l, ok)
		}
	}
	if n := len(rep.Sweep); n != 2 || rep.Sweep[1].NProbe != 4 || rep.Sweep[1].Recall != 1 {
		t.Fatalf("sweep %+v: want recall 1 at nprobe 4 = nlist", rep.Sweep)
	}
	if rep.MappedRSSMB < 0 || rep.VecMemFrac < rep.VecHeapFrac {
		t.Fatalf("mapped RSS %v MB, memory fraction %v < heap fraction %v", rep.MappedRSSMB, rep.VecMemFrac, rep.VecHeapFrac)
	}

	emb, err := engine.OpenEmbedder(model, encoder.Options{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	d := emb.Dim()
	titles, sents, err := scaleSentences(data)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	gen := scaleCorpus{titles: titles, sents: sents, n: docs, seed: 1}
	gen.each(func(doc beir.Doc) error { texts = append(texts, doc.Passage()); return nil })
	wantB, err := emb.Encode(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	qtexts, err := scaleReadQueries(qf, 1000)
	if err != nil {
		t.Fatal(err)
	}
	wantQ, err := emb.Encode(context.Background(), qtexts)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string, rows, cols int) []float32 {
		v, shape, err := npy.ReadFloat32(filepath.Join(out, "npy", name))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, []int{rows, cols}) {
			t.Fatalf("%s: shape %v, want [%d %d]", name, shape, rows, cols)
		}
		return v
	}
	if got := read("base.npy", docs, d); !slices.Equal(got, wantB) {
		t.Fatal("base.npy differs from the model's vectors of the passages")
	}
	if got := read("queries.npy", len(qtexts), d); !slices.Equal(got, wantQ) {
		t.Fatal("queries.npy differs from the model's vectors of the queries")
	}
	truth := read("truth.npy", len(qtexts), k)
	for qi := range qtexts {
		scores := make([]float32, docs)
		for r := range scores {
			for j := 0; j < d; j++ {
				scores[r] += wantQ[qi*d+j] * wantB[r*d+j]
			}
		}
		for j := 0; j < k; j++ {
			r := int(truth[qi*k+j])
			if j > 0 && scores[r] > scores[int(truth[qi*k+j-1])] {
				t.Fatalf("query %d: truth not in score order at %d", qi, j)
			}
			// No row outside the truth scores above its last entry
			// (beyond float rounding between sgemm and this loop).
			if j == k-1 {
				in := map[int]bool{}
				for _, x := range truth[qi*k : (qi+1)*k] {
					in[int(x)] = true
				}
				for o, s := range scores {
					if !in[o] && s > scores[r]+1e-5 {
						t.Fatalf("query %d: row %d (%.6f) beats the truth's last row %d (%.6f)", qi, o, s, r, scores[r])
					}
				}
			}
		}
	}
}

// TestMappedRSS: the Rss lines of the mappings of one path are summed.
func TestMappedRSS(t *testing.T) {
	smaps := `7f00-7f10 r--s 00000000 fd:01 42                         /tmp/x/vectors.f32
Size:                 64 kB
Rss:                  12 kB
Pss:                  12 kB
7f10-7f20 r--p 00000000 fd:01 43                         /tmp/x/other
Rss:                1000 kB
7f20-7f30 r--s 00010000 fd:01 42                         /tmp/x/vectors.f32
Rss:                   4 kB
7f30-7f40 rw-p 00000000 00:00 0 
Rss:                 100 kB
`
	got := mappedRSS(bufio.NewScanner(strings.NewReader(smaps)), "/tmp/x/vectors.f32")
	if want := 16.0 / 1024; got != want {
		t.Fatalf("got %v MiB, want %v", got, want)
	}
}

// captureStdout runs fn with os.Stdout redirected and returns what it wrote.
func captureStdout(t *testing.T, fn func() error) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	err = fn()
	os.Stdout = old
	w.Close()
	b := <-done
	if err != nil {
		t.Fatal(err)
	}
	return b
}
