package beir

import (
	"bytes"
	"errors"
	"testing"
)

// The parsers must never panic, and every error they return on file
// content must locate the line.
func checkParseErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line < 1 || le.Path != "fuzz" {
		t.Fatalf("error without a line: %v", err)
	}
}

func FuzzReadCorpus(f *testing.F) {
	f.Add([]byte(corpusText))
	f.Add([]byte("{\"_id\": \"a\"}\n{\"_id\": \"a\"}\n"))
	f.Add([]byte("\xef\xbb\xbf{\"_id\": 1e3, \"text\": \"\\u00e9\"}\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids := map[string]bool{}
		err := readCorpus("fuzz", bytes.NewReader(data), func(d Doc) error {
			if d.ID == "" || ids[d.ID] {
				t.Fatalf("bad or repeated id %q passed through", d.ID)
			}
			ids[d.ID] = true
			return nil
		})
		checkParseErr(t, err)
	})
}

func FuzzReadQueries(f *testing.F) {
	f.Add([]byte("{\"_id\": \"q1\", \"text\": \"x\", \"metadata\": {}}\n"))
	f.Add([]byte("{\"_id\": null}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := readQueries("fuzz", bytes.NewReader(data))
		checkParseErr(t, err)
	})
}

func FuzzReadQrels(f *testing.F) {
	f.Add([]byte("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\n"))
	f.Add([]byte("1 0 d 2\n1 0 d 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := readQrels("fuzz", bytes.NewReader(data))
		checkParseErr(t, err)
		for qid, m := range q {
			for did := range m {
				if qid == "" || did == "" {
					t.Fatalf("empty id accepted: %q %q", qid, did)
				}
			}
		}
	})
}

func FuzzReadRun(f *testing.F) {
	f.Add([]byte("q1 Q0 d1 1 12.5 tag\nq1 Q0 d2 2 3 tag\n"))
	f.Add([]byte("q Q0 d 1 1e309 t\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := readRun("fuzz", bytes.NewReader(data))
		checkParseErr(t, err)
		if err != nil {
			return
		}
		// What was read writes back and reads again to the same run.
		var buf bytes.Buffer
		if err := WriteRun(&buf, run, "t"); err != nil {
			t.Fatalf("write back: %v", err)
		}
		again, err := readRun("fuzz", &buf)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if len(again) != len(run) {
			t.Fatalf("round trip changed the queries")
		}
		res := Evaluate(Qrels{}, run, DefaultMetrics, EvalOptions{})
		if res.Queries != 0 {
			t.Fatal("queries evaluated without qrels")
		}
	})
}

func FuzzParseMetric(f *testing.F) {
	for _, s := range []string{"ndcg@10", "p@1", "recall@", "@", "mrr@99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mt, err := ParseMetric(s)
		if err != nil {
			return
		}
		if mt.K < 1 {
			t.Fatalf("k = %d accepted", mt.K)
		}
		back, err := ParseMetric(mt.String())
		if err != nil || back != mt {
			t.Fatalf("%q -> %v -> %v, %v", s, mt, back, err)
		}
	})
}
