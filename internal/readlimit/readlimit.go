// Package readlimit reads small user files whole, with their size bounded
// before anything larger than the bound is read: the one place where the
// loaders of model folders (config.json, tokenizer files, the
// sentence-transformers files) bound what a hostile file can make them
// allocate.
package readlimit

import (
	"fmt"
	"io"
	"os"
)

// ReadFile reads the whole file at path if it holds at most limit bytes.
// A larger file is an error naming the file and the limit, wrapping
// tooLarge (the caller's sentinel error), and is read no further than
// limit+1 bytes. A missing file gives an error wrapping os.ErrNotExist.
func ReadFile(path string, limit int64, tooLarge error) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, tooLarge, limit)
	}
	return b, nil
}
