package docstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
)

func dump(s *Store) []Doc {
	var out []Doc
	for d := range s.All() {
		out = append(out, d)
	}
	return out
}

func mustOpen(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPutGetDeleteReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := mustOpen(t, path)
	if s.Len() != 0 {
		t.Fatalf("new store has %d docs", s.Len())
	}
	if err := s.Put([]Doc{{ID: "b", Title: "Bee", Text: "buzz"}, {ID: "a", Title: "", Text: "alpha text"}, {ID: "c", Title: "Sea", Text: "ünïcødé ✓"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put([]Doc{{ID: "a", Title: "A", Text: "replaced"}, {ID: "d", Title: "D", Text: ""}, {ID: "d", Title: "D2", Text: "last wins"}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.Delete([]string{"b", "zzz", "b"})
	if err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v; want 1", n, err)
	}
	if n, err := s.Delete([]string{"nope"}); err != nil || n != 0 {
		t.Fatalf("Delete(missing) = %d, %v", n, err)
	}
	if err := s.Put([]Doc{{ID: "b", Title: "Bee again", Text: "moved to the end"}}); err != nil {
		t.Fatal(err)
	}
	want := []Doc{{ID: "a", Title: "A", Text: "replaced"}, {ID: "c", Title: "Sea", Text: "ünïcødé ✓"}, {ID: "d", Title: "D2", Text: "last wins"}, {ID: "b", Title: "Bee again", Text: "moved to the end"}}
	check := func(s *Store) {
		t.Helper()
		if got := dump(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("docs = %+v\nwant %+v", got, want)
		}
		if got := s.IDs(); !reflect.DeepEqual(got, []string{"a", "c", "d", "b"}) {
			t.Fatalf("IDs = %v", got)
		}
		if d, ok := s.Get("c"); !ok || d != want[1] {
			t.Fatalf("Get(c) = %+v, %v", d, ok)
		}
		if _, ok := s.Get("zzz"); ok {
			t.Fatal("Get(zzz) found")
		}
		if s.Len() != 4 {
			t.Fatalf("Len = %d", s.Len())
		}
	}
	check(s)
	size := s.Stats().LogBytes
	if fi, err := os.Stat(path); err != nil || fi.Size() != size {
		t.Fatalf("log size %v, Stats says %d (%v)", fi.Size(), size, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Put([]Doc{{ID: "x", Title: "", Text: ""}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}
	s2 := mustOpen(t, path)
	check(s2)
	if st := s2.Stats(); st.TornBytes != 0 || st.LogBytes != size {
		t.Fatalf("Stats after reopen = %+v", st)
	}
}

func TestEmptyID(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "d.log"))
	if err := s.Put([]Doc{{ID: "a", Title: "", Text: ""}, {ID: "", Title: "t", Text: "x"}}); !errors.Is(err, ErrEmptyID) {
		t.Fatalf("Put empty id: %v", err)
	}
	if _, err := s.Delete([]string{""}); !errors.Is(err, ErrEmptyID) {
		t.Fatalf("Delete empty id: %v", err)
	}
	if s.Len() != 0 {
		t.Fatal("a rejected batch was partly applied")
	}
}

// buildLog writes a log whose last record is a Put; it returns the path, the
// log size before that record, and the docs before and after it.
func buildLog(t *testing.T) (path string, prefix int64, before, after []Doc) {
	path = filepath.Join(t.TempDir(), DefaultFileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Put([]Doc{{ID: fmt.Sprintf("d%d", i), Title: fmt.Sprintf("title %d", i), Text: fmt.Sprintf("text of doc %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete([]string{"d1"}); err != nil {
		t.Fatal(err)
	}
	before = dump(s)
	prefix = s.Stats().LogBytes
	if err := s.Put([]Doc{{ID: "d2", Title: "new title", Text: "replaced"}, {ID: "d9", Title: "nine", Text: "a new document of some length"}}); err != nil {
		t.Fatal(err)
	}
	after = dump(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, prefix, before, after
}

func TestTornTailEveryOffset(t *testing.T) {
	path, prefix, before, after := buildLog(t)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for cut := 0; cut <= len(full); cut++ {
		p := filepath.Join(dir, fmt.Sprintf("cut%d.log", cut))
		if err := os.WriteFile(p, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p)
		if err != nil {
			// Cuts inside earlier records are torn tails too (of an
			// earlier record) and must open as well.
			t.Fatalf("cut at %d: %v", cut, err)
		}
		got := dump(s)
		switch {
		case cut == len(full):
			if !reflect.DeepEqual(got, after) {
				t.Fatalf("full log: %+v", got)
			}
		case int64(cut) >= prefix:
			if !reflect.DeepEqual(got, before) {
				t.Fatalf("cut at %d: docs %+v, want %+v", cut, got, before)
			}
			if st := s.Stats(); st.TornBytes != int64(cut)-prefix || st.LogBytes != prefix {
				t.Fatalf("cut at %d: stats %+v (prefix %d)", cut, st, prefix)
			}
		case cut < headerSize:
			if len(got) != 0 {
				t.Fatalf("cut at %d: docs %+v", cut, got)
			}
		}
		// The store stays writable, and the write lands after the
		// truncation point.
		if err := s.Put([]Doc{{ID: "post", Title: "p", Text: "written after recovery"}}); err != nil {
			t.Fatalf("cut at %d: Put: %v", cut, err)
		}
		s.Close()
		if int64(cut) >= prefix {
			s2, err := Open(p)
			if err != nil {
				t.Fatalf("cut at %d: reopen: %v", cut, err)
			}
			got2 := dump(s2)
			if last := got2[len(got2)-1]; last.ID != "post" || !reflect.DeepEqual(got2[:len(got2)-1], got) {
				t.Fatalf("cut at %d: after reopen %+v", cut, got2)
			}
			s2.Close()
		}
		os.Remove(p)
	}
}

func TestZeroFilledTail(t *testing.T) {
	path, _, _, after := buildLog(t)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(make([]byte, 100))
	f.Close()
	s := mustOpen(t, path)
	if got := dump(s); !reflect.DeepEqual(got, after) {
		t.Fatalf("docs %+v", got)
	}
	if st := s.Stats(); st.TornBytes != 100 {
		t.Fatalf("TornBytes = %d", st.TornBytes)
	}
}

func TestCorruptionDetected(t *testing.T) {
	path, _, _, _ := buildLog(t)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "flip.log")
	// Every byte of the file, the last record included: a flipped byte is
	// damage, not a torn write, and must never load.
	for i := range full {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			b := bytes.Clone(full)
			b[i] ^= mask
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p)
			if err == nil {
				s.Close()
				t.Fatalf("flip 0x%02x at byte %d of %d: opened without error", mask, i, len(full))
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip at %d: error %v does not wrap ErrCorrupt", i, err)
			}
		}
	}
	// The file is left alone when corrupt.
	if got, _ := os.ReadFile(p); len(got) != len(full) {
		t.Fatalf("corrupt log was modified: %d bytes, was %d", len(got), len(full))
	}
}

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := mustOpen(t, path)
	var ids []string
	var batch []Doc
	for i := range 3000 {
		id := fmt.Sprintf("doc-%04d", i)
		ids = append(ids, id)
		batch = append(batch, Doc{ID: id, Title: "t" + id, Text: string(bytes.Repeat([]byte{'x'}, 1000+i%7))})
		if len(batch) == 10 { // ten docs per version
			if err := s.Put(batch); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	// Delete two thirds (forcing a squeeze of the order slice) and replace some.
	var del []string
	for i, id := range ids {
		if i%3 != 0 {
			del = append(del, id)
		}
	}
	if n, err := s.Delete(del); err != nil || n != len(del) {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if err := s.Put([]Doc{{ID: "doc-0003", Title: "replaced", Text: "short"}, {ID: "zz-new", Title: "n", Text: "new"}}); err != nil {
		t.Fatal(err)
	}
	want := dump(s)
	if len(want) != 1001 || want[1].ID != "doc-0003" || want[len(want)-1].ID != "zz-new" {
		t.Fatalf("unexpected state before compaction: %d docs", len(want))
	}
	before := s.Stats().LogBytes
	// A stale temporary file from a crashed compaction must not matter.
	if err := os.WriteFile(path+".compact.tmp", []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.LogBytes >= before/2 {
		t.Fatalf("compaction shrank %d to %d bytes", before, st.LogBytes)
	}
	if fi, _ := os.Stat(path); fi.Size() != st.LogBytes {
		t.Fatalf("file %d bytes, stats %d", fi.Size(), st.LogBytes)
	}
	if _, err := os.Stat(path + ".compact.tmp"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	if got := dump(s); !reflect.DeepEqual(got, want) {
		t.Fatal("compaction changed the documents or their order")
	}
	if v, _ := s.Version("doc-0003"); v != 302 {
		t.Fatalf("Version(doc-0003) = %d after compaction, want 302", v)
	}
	if v, _ := s.Version("doc-2997"); v != 300 {
		t.Fatalf("Version(doc-2997) = %d after compaction, want 300", v)
	}
	if err := s.Put([]Doc{{ID: "after", Title: "a", Text: "appended after compaction"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := mustOpen(t, path)
	got := dump(s2)
	if !reflect.DeepEqual(got[:len(got)-1], want) || got[len(got)-1].ID != "after" {
		t.Fatal("reopened compacted log differs")
	}
}

func TestNotALog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	for _, content := range []string{"hello world, not a log", "CTRDOC\x02\x00", "CTRX"} {
		os.WriteFile(p, []byte(content), 0o644)
		if s, err := Open(p); !errors.Is(err, ErrCorrupt) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%q): %v", content, err)
		}
	}
}

func TestConcurrentReadsAndWrites(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "c.log"))
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Put([]Doc{{ID: id, Title: "t", Text: "x"}}); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					s.Delete([]string{id})
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				n := 0
				for range s.All() {
					n++
				}
				_ = s.Len()
				s.Get("w0-1")
				_ = s.IDs()
				_ = s.Stats()
			}
		}()
	}
	wg.Wait()
	if s.Len() != 80 {
		t.Fatalf("Len = %d, want 80", s.Len())
	}
	ids := s.IDs()
	slices.Sort(ids)
	if len(slices.Compact(ids)) != 80 {
		t.Fatal("duplicate ids")
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := mustOpen(t, path)
	if s2, err := Open(path); !errors.Is(err, ErrLocked) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	// Compaction replaces the log file but not the lock.
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open after Compact: %v, want ErrLocked", err)
	}
	s.Close()
	s3, err := Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s3.Close()
}

func TestSeqVersionSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := mustOpen(t, path)
	if s.Seq() != 0 {
		t.Fatalf("new store Seq = %d", s.Seq())
	}
	s.Put([]Doc{{ID: "a", Title: "", Text: "1"}, {ID: "b", Title: "", Text: "1"}}) // seq 1
	s.Put([]Doc{{ID: "c", Title: "", Text: "2"}})                                  // seq 2
	s.Delete([]string{"nope"})                                                     // no record, no seq
	s.Put([]Doc{{ID: "a", Title: "", Text: "3"}})                                  // seq 3
	s.Delete([]string{"b"})                                                        // seq 4
	if s.Seq() != 4 {
		t.Fatalf("Seq = %d, want 4", s.Seq())
	}
	type dv struct {
		ver uint64
		id  string
	}
	since := func(s *Store, seq uint64) []dv {
		var out []dv
		for v, d := range s.Since(seq) {
			out = append(out, dv{v, d.ID})
		}
		return out
	}
	want := func(s *Store, stage string) {
		t.Helper()
		if s.Seq() != 4 {
			t.Fatalf("%s: Seq = %d, want 4", stage, s.Seq())
		}
		if got := since(s, 0); !reflect.DeepEqual(got, []dv{{3, "a"}, {2, "c"}}) {
			t.Fatalf("%s: Since(0) = %v", stage, got)
		}
		if got := since(s, 2); !reflect.DeepEqual(got, []dv{{3, "a"}}) {
			t.Fatalf("%s: Since(2) = %v", stage, got)
		}
		if v, ok := s.Version("c"); !ok || v != 2 {
			t.Fatalf("%s: Version(c) = %d, %v", stage, v, ok)
		}
		if _, ok := s.Version("b"); ok {
			t.Fatalf("%s: deleted doc has a version", stage)
		}
	}
	want(s, "live")
	s.Close()
	s = mustOpen(t, path)
	want(s, "reopened")
	// The last operation is a delete: compaction keeps its seq in a mark.
	if err := s.Compact(); err != nil {
		t.Fatal(err)
	}
	want(s, "compacted")
	s.Close()
	s = mustOpen(t, path)
	want(s, "compacted and reopened")
	if err := s.Put([]Doc{{ID: "d", Title: "", Text: "5"}}); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Version("d"); v != 5 || s.Seq() != 5 {
		t.Fatalf("after compaction the next op is %d (Seq %d), want 5", v, s.Seq())
	}
}

// TestCatchUp plays the recovery recipe of the package doc: an index saved
// at S catches up with the store after a crash, whatever happened since.
func TestCatchUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFileName)
	s := mustOpen(t, path)
	for i := range 20 {
		s.Put([]Doc{{ID: fmt.Sprintf("d%02d", i), Title: "", Text: "v1"}})
	}
	// The "index": id -> text, saved with S.
	index := map[string]string{}
	for d := range s.All() {
		index[d.ID] = d.Text
	}
	S := s.Seq()
	// Changes after the snapshot: replace, delete, add, delete-and-re-add.
	s.Put([]Doc{{ID: "d03", Title: "", Text: "v2"}, {ID: "new", Title: "", Text: "v1"}})
	s.Delete([]string{"d04", "d05"})
	s.Delete([]string{"d06"})
	s.Put([]Doc{{ID: "d06", Title: "", Text: "back"}})
	s.Compact()
	s.Put([]Doc{{ID: "d07", Title: "", Text: "v3"}})
	s.Close() // the crash: the index never saw any of it

	s = mustOpen(t, path)
	for id := range index {
		if _, ok := s.Get(id); !ok {
			delete(index, id)
		}
	}
	for _, d := range s.Since(S) {
		index[d.ID] = d.Text
	}
	want := map[string]string{}
	for d := range s.All() {
		want[d.ID] = d.Text
	}
	if !reflect.DeepEqual(index, want) {
		t.Fatalf("caught-up index differs:\n%v\n%v", index, want)
	}
}
