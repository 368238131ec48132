package main

// The model's conventions carried through beir, index, serve and mine:
// with the st-bge-like fixture (CLS pooling, Normalize, cosine, a "query"
// prompt and no document prompt), queries must be embedded with the
// prompt and documents without, as reference/queries.npy and
// reference/docs.npy were computed.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/finetune"
	"github.com/contriever-go/contriever/internal/fixture"
	"github.com/contriever-go/contriever/internal/npy"
)

// stModel returns the repository's copy of st-bge-like.
func stModel(t *testing.T) string {
	return fixture.Repo(t, "testdata", "shared", "fixtures", "st-bge-like")
}

// stDataset writes a BEIR folder of st-bge-like's reference documents and
// queries (query i judged relevant to document i) and returns it with the
// query and document ids in reference order.
func stDataset(t *testing.T, model string) (dir string, qids, dids []string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "qrels"), 0o755); err != nil {
		t.Fatal(err)
	}
	ids := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(model, "reference", name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		var lines []string
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec["_id"].(string))
			delete(rec, "ids")
			l, _ := json.Marshal(rec)
			lines = append(lines, string(l))
		}
		file := "corpus.jsonl"
		if name == "queries" {
			file = "queries.jsonl"
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return out
	}
	qids, dids = ids("queries"), ids("docs")
	var qr strings.Builder
	qr.WriteString("query-id\tcorpus-id\tscore\n")
	for i, q := range qids {
		qr.WriteString(q + "\t" + dids[i] + "\t1\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "qrels", "test.tsv"), []byte(qr.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, qids, dids
}

// stRefScores returns the reference score of every (query, document) pair:
// the inner products of reference/queries.npy and reference/docs.npy rows.
func stRefScores(t *testing.T, model string, qids, dids []string) (map[[2]string]float64, []float32, []float32) {
	t.Helper()
	q, qs, err := npy.ReadFloat32(filepath.Join(model, "reference", "queries.npy"))
	if err != nil {
		t.Fatal(err)
	}
	d, ds, err := npy.ReadFloat32(filepath.Join(model, "reference", "docs.npy"))
	if err != nil {
		t.Fatal(err)
	}
	dim := qs[1]
	if qs[0] != len(qids) || ds[0] != len(dids) || ds[1] != dim {
		t.Fatalf("reference shapes %v %v", qs, ds)
	}
	out := map[[2]string]float64{}
	for i, qid := range qids {
		for j, did := range dids {
			var s float64
			for k := 0; k < dim; k++ {
				s += float64(q[i*dim+k]) * float64(d[j*dim+k])
			}
			out[[2]string{qid, did}] = s
		}
	}
	return out, q, d
}

// checkRunScores checks that every hit of run scores as the reference
// vectors do.
func checkRunScores(t *testing.T, run beir.Run, ref map[[2]string]float64, nq int) {
	t.Helper()
	if len(run) != nq {
		t.Fatalf("run has %d queries, want %d", len(run), nq)
	}
	n := 0
	for qid, hits := range run {
		for _, h := range hits {
			want, ok := ref[[2]string{qid, h.DocID}]
			if !ok {
				t.Fatalf("query %s: unknown document %s", qid, h.DocID)
			}
			if math.Abs(h.Score-want) > 1e-4 {
				t.Fatalf("query %s, document %s: score %.6f, the reference vectors give %.6f (query prompt not applied to queries, or applied to documents?)", qid, h.DocID, h.Score, want)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("empty run")
	}
}

// TestBeirDenseFollowsSentenceTransformersFolder: beir --method dense with
// st-bge-like and no hand-set flag embeds the documents without a prompt
// (the cached corpus vectors are reference/docs.npy) and the queries with
// the "query" prompt (every run score is the reference vectors' inner
// product).
func TestBeirDenseFollowsSentenceTransformersFolder(t *testing.T) {
	model := stModel(t)
	data, qids, dids := stDataset(t, model)
	ref, _, refDocs := stRefScores(t, model, qids, dids)
	cache := t.TempDir()
	runPath := filepath.Join(t.TempDir(), "dense.trec")
	if _, err := beirCaptureStdout(t, func() error {
		return runBeir([]string{"--data", data, "--method", "dense", "--model", model, "--cache-dir", cache, "--quiet", "--json", "--run", runPath, "--top-k", "5"})
	}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "emb-*.npy"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one file", files)
	}
	got, shape, err := npy.ReadFloat32(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if shape[0] != len(dids) || len(got) != len(refDocs) {
		t.Fatalf("cached corpus vectors of shape %v", shape)
	}
	for i := range got {
		if math.Abs(float64(got[i]-refDocs[i])) > 1e-5 {
			t.Fatalf("cached document vector %d: %v, reference/docs.npy %v (a prompt applied to documents?)", i/shape[1], got[i], refDocs[i])
		}
	}
	run, err := beir.ReadRun(runPath)
	if err != nil {
		t.Fatal(err)
	}
	checkRunScores(t, run, ref, len(qids))

	// --query-prompt "" embeds the queries without the prompt: other
	// scores, and the same cached corpus vectors.
	runPath2 := filepath.Join(t.TempDir(), "dense.trec")
	if _, err := beirCaptureStdout(t, func() error {
		return runBeir([]string{"--data", data, "--method", "dense", "--model", model, "--cache-dir", cache, "--quiet", "--json", "--run", runPath2, "--top-k", "5", "--query-prompt", ""})
	}); err != nil {
		t.Fatal(err)
	}
	if files2, _ := filepath.Glob(filepath.Join(cache, "emb-*.npy")); len(files2) != 1 {
		t.Fatalf("a query prompt changed the corpus cache key: %v", files2)
	}
	run2, err := beir.ReadRun(runPath2)
	if err != nil {
		t.Fatal(err)
	}
	differ := false
	for qid, hs := range run2 {
		for _, h := range hs {
			if math.Abs(h.Score-ref[[2]string{qid, h.DocID}]) > 1e-4 {
				differ = true
			}
		}
	}
	if !differ {
		t.Fatal("--query-prompt \"\" gives the scores of the prompted queries")
	}
}

// TestIndexConventions: an index built with st-bge-like records its
// conventions and sentence-transformers files, embeds served queries with
// the query prompt, reopens with the same settings, and is refused with
// other ones (a different query prompt, another model), naming what
// differs; --update and serve refuse them too.
func TestIndexConventions(t *testing.T) {
	ctx := context.Background()
	model := stModel(t)
	data, qids, dids := stDataset(t, model)
	_, refQ, _ := stRefScores(t, model, qids, dids)
	idx := filepath.Join(t.TempDir(), "idx")
	if err := runIndex([]string{"--corpus", data, "--model", model, "--out", idx, "--cache-dir", "off", "--quiet"}); err != nil {
		t.Fatal(err)
	}
	m, err := engine.ReadManifest(idx)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := encoder.ReadFolder(model)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Model.Conventions
	if c == nil || c.String() != folder.Conventions.String() {
		t.Fatalf("manifest conventions %v, the folder's %v", c, folder.Conventions)
	}
	if c.Pooling != encoder.PoolCLS || !c.Normalize || c.Similarity != encoder.SimCosine || c.QueryPrompt == nil || c.DocPrompt != nil {
		t.Fatalf("manifest conventions %v", c)
	}
	for _, f := range []string{"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "1_Pooling/config.json"} {
		if _, err := os.Stat(filepath.Join(idx, engine.ModelDir, filepath.FromSlash(f))); err != nil {
			t.Errorf("index model copy lacks %s: %v", f, err)
		}
	}

	// Reopened with the same settings (none given, or the folder itself):
	// served queries get the query prompt.
	col, err := engine.Open(ctx, idx, engine.OpenOptions{Model: model, Encoders: 1})
	if err != nil {
		t.Fatal(err)
	}
	texts, _ := stReference(t, model, "queries")
	v, err := col.Encoder().(engine.PromptEncoder).EncodeQueries(ctx, texts[:3])
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if math.Abs(float64(v[i]-refQ[i])) > 1e-5 {
			t.Fatalf("served query vector differs from reference/queries.npy at %d: %v vs %v", i, v[i], refQ[i])
		}
	}
	b, err := col.Backend()
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Retrieve(ctx, engine.Retrieval{Queries: texts[:1], K: 1, Dense: true})
	if err != nil || len(res.Dense) != 1 || len(res.Dense[0]) != 1 {
		t.Fatalf("retrieve: %v %v", res, err)
	}
	b.Close()

	other := "query: "
	_, err = engine.Open(ctx, idx, engine.OpenOptions{Settings: engine.ModelSettings{QueryPrompt: &other}})
	if !errors.Is(err, engine.ErrSettings) || !strings.Contains(err.Error(), "query_prompt") || !strings.Contains(err.Error(), `"query: "`) {
		t.Fatalf("another query prompt: %v, want ErrSettings naming query_prompt", err)
	}
	_, err = engine.Open(ctx, idx, engine.OpenOptions{Model: fixture.Shared(t, "fixtures", "tiny-bert")})
	if !errors.Is(err, engine.ErrSettings) {
		t.Fatalf("another model: %v, want ErrSettings", err)
	}
	err = runIndex([]string{"--corpus", data, "--out", idx, "--update", "--quiet", "--doc-prompt", "passage: "})
	if !errors.Is(err, engine.ErrSettings) || !strings.Contains(err.Error(), "doc_prompt") {
		t.Fatalf("index --update with another document prompt: %v", err)
	}
	err = runServe([]string{"--index", idx, "--addr", "127.0.0.1:0", "--query-prompt", "query: "})
	if !errors.Is(err, engine.ErrSettings) {
		t.Fatalf("serve with another query prompt: %v", err)
	}
	// The same prompt as the folder's is accepted.
	if err := runIndex([]string{"--corpus", data, "--out", idx, "--update", "--quiet", "--model", model, "--query-prompt", *c.QueryPrompt}); err != nil {
		t.Fatalf("index --update with the index's own settings: %v", err)
	}
}

// TestMineAppliesQueryPrompt: dense mining with st-bge-like embeds the
// passages without a prompt and the queries with the "query" prompt (the
// searcher's scores are the reference vectors' inner products), and the
// fine-tuning source prepends the prompts to the training texts.
func TestMineAppliesQueryPrompt(t *testing.T) {
	ctx := context.Background()
	model := stModel(t)
	data, qids, dids := stDataset(t, model)
	_, refQ, refD := stRefScores(t, model, qids, dids)
	set, err := finetune.Load(data, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, closeFn, err := mineSearcher(ctx, set, "dense", model, "", 512, 8, true, engine.ModelSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	texts, _ := stReference(t, model, "queries")
	hits, err := s.SearchBatch(ctx, texts[:2], 3)
	if err != nil {
		t.Fatal(err)
	}
	dim := len(refQ) / len(qids)
	row := map[string]int{}
	for j, p := range set.Passages {
		for k, d := range dids {
			if d == p.ID {
				row[strconv.Itoa(j)] = k
			}
		}
	}
	for i, hs := range hits {
		if len(hs) != 3 {
			t.Fatalf("query %d: %d hits", i, len(hs))
		}
		for _, h := range hs {
			k, ok := row[h.DocID]
			if !ok {
				t.Fatalf("hit %q is not a passage", h.DocID)
			}
			var want float64
			for x := 0; x < dim; x++ {
				want += float64(refQ[i*dim+x]) * float64(refD[k*dim+x])
			}
			if math.Abs(h.Score-want) > 1e-4 {
				t.Fatalf("query %d, passage %s: score %.6f, reference %.6f (query prompt not applied?)", i, dids[k], h.Score, want)
			}
		}
	}

	// The training source tokenises prompt + query.
	f, err := engine.ReadModel(model, engine.ModelSettings{})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := f.Load()
	if err != nil {
		t.Fatal(err)
	}
	src, err := finetune.NewSource(set, encoder.WordPiece(tok), finetune.SourceOptions{MaxLen: 64, Seed: 1, QueryPrompt: *f.Conventions.QueryPrompt})
	if err != nil {
		t.Fatal(err)
	}
	prompt := tok.EncodeIDs(*f.Conventions.QueryPrompt, 64)
	prompt = prompt[1 : len(prompt)-1] // without [CLS] and [SEP]
	b := src.Next(2)
	for i := 0; i < 2; i++ {
		q := b.Q.IDs[i*b.Q.S : (i+1)*b.Q.S]
		if len(q) < len(prompt)+2 {
			t.Fatalf("query %d: %v", i, q)
		}
		for j, id := range prompt {
			if q[1+j] != id {
				t.Fatalf("query %d does not start with the prompt's tokens: %v, prompt %v", i, q, prompt)
			}
		}
	}
}

// TestFinetuneCarriesPrompts: fine-tuning with --query-prompt and
// --doc-prompt trains on the prompted texts and the saved model declares
// the prompts, so that beir, index and serve apply them to it; without
// prompts the model declares none.
func TestFinetuneCarriesPrompts(t *testing.T) {
	data := finetuneFixture(t)
	model := finetuneTinyModel(t)
	qp, dp := "query: ", "passage: "
	a := finetuneArgs{initDir: model, train: data, split: "train", maxLength: 48, log: io.Discard, queryPrompt: &qp, docPrompt: &dp,
		runFlags: runFlags{steps: 2, batch: 4, accum: 1, lr: 1e-4, warmup: 1, temperature: 0.05, checkpointEvery: 100, logEvery: 1, seed: 7, dtype: "f32"}}
	a.out = filepath.Join(t.TempDir(), "prompted")
	if err := finetuneMain(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	f, err := encoder.ReadFolder(filepath.Join(a.out, "model"))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Conventions
	if c.QueryPrompt == nil || *c.QueryPrompt != qp || c.DocPrompt == nil || *c.DocPrompt != dp || c.Similarity != encoder.SimDot {
		t.Fatalf("fine-tuned model's conventions %s", c)
	}
	b := a
	b.queryPrompt, b.docPrompt = nil, nil
	b.out = filepath.Join(t.TempDir(), "plain")
	if err := finetuneMain(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	f, err = encoder.ReadFolder(filepath.Join(b.out, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Conventions.QueryPrompt != nil || f.Conventions.DocPrompt != nil {
		t.Fatalf("a model fine-tuned without prompts declares %s", f.Conventions)
	}
	w1, _ := os.ReadFile(filepath.Join(a.out, "model", "model.safetensors"))
	w2, _ := os.ReadFile(filepath.Join(b.out, "model", "model.safetensors"))
	if string(w1) == string(w2) {
		t.Fatal("training on prompted texts gave the weights of unprompted ones")
	}
}
