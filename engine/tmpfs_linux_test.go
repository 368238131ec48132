//go:build linux

package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/contriever-go/contriever/document"
)

// A real full disk: an index on a small tmpfs receives documents until
// writes fail with ENOSPC. Every search keeps answering, and after space is
// freed the folder reopens with every acknowledged document and no document
// whose write failed before the log took it. Needs permission to mount
// (root, or a user namespace); skipped with a message otherwise.
func TestFullDiskTmpfs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the full-disk case needs root or CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	if err := tmpfsEnforcesSize(mnt, 3<<20); err != nil {
		t.Skipf("the tmpfs mounted here does not enforce its size, so the disk cannot fill: %v", err)
	}
	ctx := context.Background()
	dir := filepath.Join(mnt, "idx")
	if _, err := Build(ctx, dir, corpusOf(faultDocs), BuildOptions{NoDense: true, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Backend()
	// Before each write, fill the file system but for a few pages (cycling
	// through several amounts, so that the space runs out at different
	// steps: the log, the bleve batch, its persistence).
	filler := filepath.Join(mnt, "filler")
	ff, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	var fill int64
	leave := func(slack int64) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		free := int64(st.Bavail) * int64(st.Bsize)
		if free > slack {
			if err := syscall.Fallocate(int(ff.Fd()), 0, fill, free-slack); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fallocate: %v", err)
				}
				// The index's background writes took space between
				// Statfs and Fallocate: the disk is already that full.
				st, err := ff.Stat()
				if err != nil {
					t.Fatal(err)
				}
				fill = st.Size()
				return
			}
			fill += free - slack
		} else if d := slack - free; d < fill {
			fill -= d
			if err := ff.Truncate(fill); err != nil {
				t.Fatal(err)
			}
		}
	}
	acked := map[string]bool{}
	var failed, deferred []string
	text := strings.Repeat("common payload words about full disks ", 100) // ~3.9 KB
	slacks := []int64{0, 4 << 10, 8 << 10, 12 << 10, 16 << 10, 24 << 10, 32 << 10}
	for i := 0; i < 60; i++ {
		leave(slacks[i%len(slacks)])
		d := document.Doc{ID: fmt.Sprintf("t%03d", i), Text: text + fmt.Sprint(i)}
		err := b.PutDocs(ctx, []document.Doc{d})
		switch {
		case err == nil:
			acked[d.ID] = true
		case errors.Is(err, ErrDeferred):
			t.Logf("write %s: %.300v", d.ID, err)
			deferred = append(deferred, d.ID)
		default:
			t.Logf("write %s: %.300v", d.ID, err)
			failed = append(failed, d.ID)
		}
		for _, q := range []string{"common disks", "cats"} {
			if _, err := b.Retrieve(ctx, Retrieval{Queries: []string{q}, K: 5, BM25: true}); err != nil {
				t.Fatalf("search after write %d fails: %v", i, err)
			}
		}
	}
	ff.Truncate(0)
	if len(failed)+len(deferred) == 0 {
		t.Fatal("the file system never filled")
	}
	t.Logf("acknowledged %d, failed %d, deferred %d", len(acked), len(failed), len(deferred))
	// Flushing on a full disk fails cleanly or succeeds; either way the
	// folder opens afterwards.
	ferr := b.Flush(ctx)
	t.Logf("flush on a full disk: %v", ferr)
	if err := b.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	c, err = Open(ctx, dir, OpenOptions{})
	if err != nil {
		t.Fatalf("reopen after the disk filled: %v", err)
	}
	defer c.Close()
	b, _ = c.Backend()
	r, err := b.Retrieve(ctx, Retrieval{Queries: []string{"common"}, K: 1000, BM25: true})
	if err != nil {
		t.Fatal(err)
	}
	got := hitIDs(r.BM25[0])
	for id := range acked {
		if _, ok := c.Store().Get(id); !ok || !slices.Contains(got, id) {
			t.Fatalf("acknowledged %s lost (store %v)", id, ok)
		}
	}
	for _, id := range failed {
		if _, ok := c.Store().Get(id); ok || slices.Contains(got, id) {
			t.Fatalf("%s, whose write failed before the log took it, is visible", id)
		}
	}
	for _, id := range deferred {
		if !slices.Contains(got, id) {
			t.Fatalf("deferred %s (durable in the log) not caught up", id)
		}
	}
	if len(got) != c.Store().Len() {
		t.Fatalf("bm25 lists %d documents, the log holds %d", len(got), c.Store().Len())
	}
}

// tmpfsEnforcesSize checks that the tmpfs at mnt, mounted with the given
// size, reports that size and refuses a file larger than it. Some sandboxed
// kernels accept the size option but never run out of space.
func tmpfsEnforcesSize(mnt string, size int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		return err
	}
	if total := int64(st.Blocks) * int64(st.Bsize); total <= 0 || total > 2*size {
		return fmt.Errorf("statfs reports %d bytes for a %d-byte mount", total, size)
	}
	probe := filepath.Join(mnt, "probe")
	defer os.Remove(probe)
	f, err := os.Create(probe)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for written := int64(0); written <= 2*size; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
	return fmt.Errorf("wrote %d bytes to a %d-byte mount without ENOSPC", 2*size, size)
}
