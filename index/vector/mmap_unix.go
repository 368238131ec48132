//go:build unix

package vector

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of f read-only (shared: the pages are the page
// cache's, not the heap's). The mapping is advised random access
// (MADV_RANDOM): the exact re-rank reads scattered rows, and read-ahead
// would only bring in (and make resident) pages no query asked for. The
// advice is a hint; its failure is ignored.
func mapFile(f *os.File, size int) ([]byte, error) {
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err == nil && len(b) > 0 {
		_ = unix.Madvise(b, unix.MADV_RANDOM)
	}
	return b, err
}

// unmapFile releases a mapping of mapFile.
func unmapFile(b []byte) error { return unix.Munmap(b) }

// dropCache asks the kernel to drop f's clean pages from the page cache.
func dropCache(f *os.File) error {
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
