//go:build linux

package engine

import "golang.org/x/sys/unix"

// exchange swaps the folders a and b in one atomic step (renameat2 with
// RENAME_EXCHANGE); ok is false when the file system does not support it.
func exchange(a, b string) (ok bool, err error) {
	err = unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP {
		return false, nil
	}
	return err == nil, err
}
