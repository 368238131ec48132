// Package progress reports the advance of long work (indexing, embedding,
// training) on stderr as a single updating line with a count, a rate and an
// ETA. A nil *Bar, or one made with quiet set, prints nothing, so callers
// never need to branch on --quiet.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Bar is a progress line for a known or unknown total. It is safe for
// concurrent use.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	unit     string
	total    int64
	done     int64
	start    time.Time
	last     time.Time
	every    time.Duration
	finished bool
}

// New returns a Bar writing to stderr. total <= 0 means unknown. When quiet
// is true it returns nil, which is a valid, silent Bar.
func New(label string, total int64, unit string, quiet bool) *Bar {
	if quiet {
		return nil
	}
	return NewWriter(os.Stderr, label, total, unit)
}

// NewWriter is New with an explicit writer, for tests.
func NewWriter(w io.Writer, label string, total int64, unit string) *Bar {
	now := time.Now()
	return &Bar{w: w, label: label, unit: unit, total: total, start: now, every: 500 * time.Millisecond}
}

// Add advances the count by n and redraws the line at most twice a second.
func (b *Bar) Add(n int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	now := time.Now()
	if now.Sub(b.last) >= b.every {
		b.last = now
		b.draw(now, false)
	}
}

// Finish draws the final line and ends it with a newline.
func (b *Bar) Finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	b.draw(time.Now(), true)
}

func (b *Bar) draw(now time.Time, final bool) {
	el := now.Sub(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el
	}
	line := fmt.Sprintf("%s: %d", b.label, b.done)
	if b.total > 0 {
		line += fmt.Sprintf("/%d (%.1f%%)", b.total, 100*float64(b.done)/float64(b.total))
	}
	line += fmt.Sprintf(" %s, %.1f %s/s", b.unit, rate, b.unit)
	if final {
		line += fmt.Sprintf(", %s elapsed", fmtDur(el))
	} else if b.total > 0 && rate > 0 {
		line += fmt.Sprintf(", ETA %s", fmtDur(float64(b.total-b.done)/rate))
	}
	end := "\r"
	if final {
		end = "\n"
	}
	fmt.Fprintf(b.w, "\r%-78s%s", line, end)
}

func fmtDur(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	if d < time.Second {
		return fmt.Sprintf("%.1fs", s)
	}
	return d.String()
}
