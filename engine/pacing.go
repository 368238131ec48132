package engine

import (
	"math"
	"time"
)

// Write pacing: searches come first. While searches are running, the
// write path spends at most a share of the wall-clock time applying writes;
// after each group it keeps the write lock, idle, long enough to bring its
// share down to that fraction. Writers that arrive meanwhile queue and are
// written as one group when the lock frees (group commit), so pacing
// lengthens the time a write waits for its acknowledgement and makes
// groups (and BM25 segments) larger, and leaves the cores to searches.
// Without searches in the last searchRecent, writes run unpaced. Lucene
// and Elasticsearch throttle merges and indexing for the same reason; the
// share here covers what a write costs on the request path (log, BM25
// analysis and segment, vectors); bleve's background merges follow the
// write rate.

const (
	// searchRecent is how recent a search must be for writes to be paced.
	searchRecent = 250 * time.Millisecond
	// maxPause bounds one pause, so a slow write cannot hold the lock for
	// long after it.
	maxPause = time.Second
)

// SetWriteShare sets the largest share of wall-clock time the write path
// may spend applying writes while searches run: in (0, 1]; 1 (the
// zero value's meaning too) turns pacing off.
func (c *Composite) SetWriteShare(share float64) {
	if !(share > 0) || share >= 1 || math.IsNaN(share) {
		share = 1
	}
	c.writeShare.Store(math.Float64bits(share))
}

// noteSearch records that a search is running (a cheap atomic store).
func (c *Composite) noteSearch() { c.lastSearch.Store(time.Now().UnixNano()) }

// pause returns how long the write path stays idle after a group that
// took busy, given the share and the time of the last search.
func (c *Composite) pause(busy time.Duration, now time.Time) time.Duration {
	bits := c.writeShare.Load()
	if bits == 0 {
		return 0
	}
	share := math.Float64frombits(bits)
	if share >= 1 || now.UnixNano()-c.lastSearch.Load() > int64(searchRecent) {
		return 0
	}
	d := time.Duration(float64(busy) * (1 - share) / share)
	return min(d, maxPause)
}
