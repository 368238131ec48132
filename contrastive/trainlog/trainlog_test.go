package trainlog

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogWriteReadResume(t *testing.T) {
	p := filepath.Join(t.TempDir(), "train.csv")
	extra := []string{"accuracy", "ndcg@10"}
	l, err := Create(p, extra)
	if err != nil {
		t.Fatal(err)
	}
	for s := int64(1); s <= 6; s++ {
		r := Row{Step: s * 10, Loss: 5 / float64(s), LR: 1e-4 * float64(s), PairsPerS: 14.5, Extra: map[string]float64{"accuracy": 0.1 * float64(s)}}
		if s%3 == 0 {
			r.Extra["ndcg@10"] = 0.05 * float64(s)
		}
		if err := l.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "step,loss,lr,pairs_per_s,accuracy,ndcg@10" || len(lines) != 7 {
		t.Fatalf("file:\n%s", b)
	}
	if lines[1] != "10,5,0.0001,14.5,0.1," {
		t.Fatalf("first row %q", lines[1])
	}
	cols, rows, err := Read(p)
	if err != nil || len(cols) != 2 || len(rows) != 6 {
		t.Fatalf("Read: %v %d rows %v", cols, len(rows), err)
	}
	if rows[2].Extra["ndcg@10"] != 0.15 || rows[2].Loss != 5.0/3 {
		// 8 significant digits are kept
		if math.Abs(rows[2].Loss-5.0/3) > 1e-7 || rows[2].Extra["ndcg@10"] != 0.15 {
			t.Fatalf("row 3: %+v", rows[2])
		}
	}
	if _, ok := rows[0].Extra["ndcg@10"]; ok {
		t.Fatal("empty cell read back as a value")
	}

	// Resume after step 30: rows 40..60 are dropped, new ones appended.
	l, err = Resume(p, extra, 30)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(Row{Step: 40, Loss: 1, LR: 2, PairsPerS: 3})
	l.Close()
	_, rows, err = Read(p)
	if err != nil || len(rows) != 4 || rows[3].Step != 40 || rows[3].Loss != 1 || rows[2].Step != 30 {
		t.Fatalf("after resume: %+v %v", rows, err)
	}
	if _, err := Resume(p, []string{"other"}, 30); err == nil {
		t.Fatal("resume with other columns accepted")
	}
	if _, err := Create(p, []string{"loss"}); err == nil {
		t.Fatal("extra column named like a base column accepted")
	}
	os.WriteFile(p, []byte("step,loss,lr,pairs_per_s\n1,x,2,3\n"), 0o644)
	if _, _, err := Read(p); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad value: %v", err)
	}
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	var rows []Row
	for s := int64(0); s < 100; s++ {
		r := Row{Step: s, Loss: 4 * math.Exp(-float64(s)/30), LR: 1e-4 * math.Min(1, float64(s)/10), PairsPerS: 14}
		if s%25 == 0 {
			r.Extra = map[string]float64{"ndcg@10": float64(s) / 200}
		}
		rows = append(rows, r)
	}
	sizes := map[string]int{}
	for name, cols := range map[string][]string{"two.png": nil, "three.png": {"ndcg@10", "missing"}} {
		p := filepath.Join(dir, name)
		if err := Plot(p, rows, cols...); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sizes[name] = img.Bounds().Dy()
	}
	// Loss + lr, and loss + lr + nDCG ("missing" has no values: no panel).
	if d := sizes["three.png"]*2 - sizes["two.png"]*3; d < -3 || d > 3 {
		t.Fatalf("image heights %v, want the ratio 3:2", sizes)
	}
	if err := Plot(filepath.Join(dir, "empty.png"), nil); err != nil {
		t.Fatalf("plot of an empty log: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("step,loss,lr,pairs_per_s,acc\n1,2,3,4,\n"))
	f.Add([]byte("step,loss\n"))
	f.Add([]byte("step,loss,lr,pairs_per_s\n\"1,2\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "log.csv")
		os.WriteFile(p, b, 0o644)
		_, _, _ = Read(p)
	})
}
