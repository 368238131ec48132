//go:build !unix

package vector

import (
	"io"
	"os"
)

// mapFile reads size bytes of f into memory where no mmap is available
// (the heap then holds the floats).
func mapFile(f *os.File, size int) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(io.NewSectionReader(f, 0, int64(size)), b)
	return b, err
}

// unmapFile releases a buffer of mapFile.
func unmapFile([]byte) error { return nil }

// dropCache does nothing where the page cache cannot be advised.
func dropCache(*os.File) error { return nil }
