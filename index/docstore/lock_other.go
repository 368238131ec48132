//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package docstore

import "os"

// lockFile opens the lock file without locking it: this platform has no
// flock, so keeping one process per log is up to the caller.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
