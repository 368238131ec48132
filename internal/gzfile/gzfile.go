// Package gzfile opens a file for reading and decompresses it when it is
// gzip, recognised by its magic bytes whatever its name: the one
// gzip-sniffing reader of the project's file formats (BEIR files, training
// corpora and sets, embedding inputs).
package gzfile

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// Open opens path for reading, decompressing it when it starts with the
// gzip magic bytes. An error opening the file is os.Open's; a bad gzip
// header is an error naming path. Close closes the decompressor and the
// file.
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &gzFile{zr: zr, f: f}, nil
	}
	return &plainFile{r: br, f: f}, nil
}

type gzFile struct {
	zr *gzip.Reader
	f  *os.File
}

func (g *gzFile) Read(p []byte) (int, error) { return g.zr.Read(p) }
func (g *gzFile) Close() error {
	err := g.zr.Close()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}

type plainFile struct {
	r *bufio.Reader
	f *os.File
}

func (p *plainFile) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *plainFile) Close() error               { return p.f.Close() }
