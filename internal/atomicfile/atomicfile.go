// Package atomicfile writes files so that nothing half-written is ever
// seen at their path: the content goes to a temporary file in the same
// folder, which is flushed, fsynced, given mode 0644, renamed over the
// path, and the folder fsynced. On any error the temporary file is removed
// and whatever was at the path before is left as it was. Every writer of
// user-visible files in the project (models, checkpoints, states, logs,
// run files, manifests) goes through it.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates path with the bytes fill writes to w (buffered).
// Errors name the path; an error from fill is wrapped with %w.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	// CreateTemp makes the file private (0600); give it the usual mode.
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the folder is synced; a failure here
	// leaves a complete file, so it is not worth an error.
	SyncDir(dir)
	return nil
}

// WriteFile creates path holding data.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir fsyncs a folder, making the renames and removals done in it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
