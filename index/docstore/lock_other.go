//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package docstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// lockFile takes the log's lock where the platform has no flock: it creates
// path+".pid" exclusively (O_EXCL) holding this process's id, and Close
// removes it. A file left by a process that died is taken over when the
// process it names no longer exists (os.FindProcess fails, as it does on
// Windows) or is this process; otherwise the error says which file to remove
// once no other process serves the folder.
func lockFile(path string) (io.Closer, error) {
	p := path + ".pid"
	for try := 0; try < 2; try++ {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Sync()
			return &pidLock{f: f, path: p}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		b, _ := os.ReadFile(p)
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if perr == nil && pid != os.Getpid() {
			if _, ferr := os.FindProcess(pid); ferr == nil {
				return nil, fmt.Errorf("%w (%s names process %d; remove the file if no process serves this folder)", ErrLocked, p, pid)
			}
		}
		os.Remove(p) // stale: its owner is gone
	}
	return nil, fmt.Errorf("%w (%s)", ErrLocked, p)
}

type pidLock struct {
	f    *os.File
	path string
}

func (l *pidLock) Close() error {
	os.Remove(l.path)
	return l.f.Close()
}
