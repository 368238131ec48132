package engine

import (
	"testing"
	"time"
)

func TestWritePause(t *testing.T) {
	c := &Composite{}
	now := time.Unix(1000, 0)
	busy := 12 * time.Millisecond
	if d := c.pause(busy, now); d != 0 {
		t.Fatalf("unset share paused %v", d)
	}
	c.SetWriteShare(0.25)
	if d := c.pause(busy, now); d != 0 {
		t.Fatalf("paused %v without any search", d)
	}
	c.lastSearch.Store(now.Add(-10 * time.Millisecond).UnixNano())
	if d := c.pause(busy, now); d != 36*time.Millisecond {
		t.Fatalf("share 0.25 after 12 ms of writing: paused %v, want 36ms", d)
	}
	if d := c.pause(10*time.Second, now); d != maxPause {
		t.Fatalf("a long write paused %v, want the bound %v", d, maxPause)
	}
	if d := c.pause(busy, now.Add(searchRecent+time.Millisecond)); d != 0 {
		t.Fatalf("paused %v though the last search is older than %v", d, searchRecent)
	}
	for _, off := range []float64{1, 2, 0, -1} {
		c.SetWriteShare(off)
		if d := c.pause(busy, now); d != 0 {
			t.Fatalf("share %g paused %v, want pacing off", off, d)
		}
	}
	c.SetWriteShare(0.5)
	if d := c.pause(busy, now); d != busy {
		t.Fatalf("share 0.5: paused %v, want %v", d, busy)
	}
}
