package finetune

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
)

// beirFixture writes the MS MARCO fixture's collection and dev split as a
// BEIR dataset (split "test").
func beirFixture(t *testing.T) string {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "qrels"), 0o755)
	s := fixtureSet(t)
	var corpus, queries strings.Builder
	for _, p := range s.Passages {
		b, _ := json.Marshal(map[string]string{"_id": p.ID, "title": p.Title, "text": p.Text})
		corpus.Write(append(b, '\n'))
	}
	dev, err := LoadMSMarcoDir(filepath.Join("testdata", "msmarco"), "dev")
	if err != nil {
		t.Fatal(err)
	}
	qrels := "query-id\tcorpus-id\tscore\n"
	for _, ex := range dev.Examples {
		b, _ := json.Marshal(map[string]string{"_id": ex.QID, "text": ex.Query})
		queries.Write(append(b, '\n'))
		for _, p := range ex.Positives {
			qrels += fmt.Sprintf("%s\t%s\t1\n", ex.QID, dev.Passages[p].ID)
		}
	}
	write(t, dir, "corpus.jsonl", corpus.String())
	write(t, dir, "queries.jsonl", queries.String())
	write(t, filepath.Join(dir, "qrels"), "test.tsv", qrels)
	return dir
}

// TestEvaluator: the dense metrics equal those of a run ranked by brute
// force from the encoder's embeddings; BM25 and hybrid metrics are there
// and BM25 finds these keyword queries' passages.
func TestEvaluator(t *testing.T) {
	dir := beirFixture(t)
	tok, _ := loadTok(t)
	ev, err := NewEvaluator(dir, "test", encoder.WordPiece(tok), 64)
	if err != nil {
		t.Fatal(err)
	}
	ev.K = 10
	if err := ev.AddBM25(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, _ := encoder.NewRandom(tinyConfig(), 4, false)
	got, err := ev.Evaluate(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	// Brute force.
	ds, _ := beir.Load(dir, "test")
	enc, _ := encoder.New(m, encoder.WordPiece(tok), encoder.Options{MaxLength: 64})
	var ids, texts []string
	beir.ReadCorpus(ds.CorpusPath, func(d beir.Doc) error { ids = append(ids, d.ID); texts = append(texts, d.Passage()); return nil })
	D, _ := enc.Encode(context.Background(), texts)
	run := beir.Run{}
	H := m.Config.HiddenSize
	for _, q := range ds.Queries {
		qv, _ := enc.Encode(context.Background(), []string{q.Text})
		var hits []beir.Hit
		for i, id := range ids {
			var s float64
			for k := 0; k < H; k++ {
				s += float64(qv[k]) * float64(D[i*H+k])
			}
			hits = append(hits, beir.Hit{DocID: id, Score: s})
		}
		sort.Slice(hits, func(a, b int) bool { return hits[a].Score > hits[b].Score })
		run[q.ID] = hits[:10]
	}
	want := beir.Evaluate(ds.Qrels, run, ev.Metrics, beir.EvalOptions{}).Map()
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-9 {
			t.Errorf("%s: %g, brute force %g", k, got[k], w)
		}
	}
	bm := ev.BM25Metrics()
	if bm["ndcg@10"] < 0.5 {
		t.Errorf("BM25 nDCG@10 %g on keyword queries", bm["ndcg@10"])
	}
	if _, ok := got["hybrid_ndcg@10"]; !ok || len(ev.Columns()) != 4 {
		t.Fatalf("hybrid metrics missing: %v %v", got, ev.Columns())
	}
	t.Logf("random tiny model: dense %v, BM25 %v", got, bm)
}
