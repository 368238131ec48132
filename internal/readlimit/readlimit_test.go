package readlimit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var errBig = errors.New("too large")

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, 10, errBig)
	if err != nil || string(b) != "0123456789" {
		t.Fatalf("at the limit: %q, %v", b, err)
	}
	_, err = ReadFile(p, 9, errBig)
	if !errors.Is(err, errBig) || !strings.Contains(err.Error(), p) {
		t.Fatalf("over the limit: %v, want errBig naming %s", err, p)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 9, errBig); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v, want os.ErrNotExist", err)
	}
}
