package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"archive/zip"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestHostileModelExit1 runs the built binary's embed on two hostile model
// folders (a pytorch_model.bin of 3M nested TUPLE1 opcodes, and a
// config.json declaring 262,144 layers beside real weights): each is
// refused with exit status 1 and a message naming the problem, within the
// loose bounds of 5 s and 300 MB peak RSS.
func TestHostileModelExit1(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := e2eBinary(t)
	src := fixture.Shared(t, "fixtures", "tiny-bert")
	cfg, err := os.ReadFile(filepath.Join(src, checkpoint.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.ReadFile(filepath.Join(src, checkpoint.SafetensorsFile))
	if err != nil {
		t.Fatal(err)
	}
	vocab, _ := os.ReadFile(filepath.Join(src, checkpoint.VocabFile))

	pkl := append([]byte{0x80, 2, 'K', 0}, bytes.Repeat([]byte{0x85}, 3_000_000)...)
	pkl = append(pkl, '.')
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	w.Write(pkl)
	zw.Close()

	in := filepath.Join(t.TempDir(), "in.jsonl")
	os.WriteFile(in, []byte(`{"_id": "d1", "text": "hello"}`+"\n"), 0o644)
	for _, c := range []struct {
		name    string
		files   map[string][]byte
		wantErr string
	}{
		{"deep-pickle", map[string][]byte{checkpoint.ConfigFile: cfg, checkpoint.TorchBinFile: zb.Bytes(), checkpoint.VocabFile: vocab}, "nested more than"},
		{"many-layers", map[string][]byte{
			checkpoint.ConfigFile:      bytes.Replace(cfg, []byte(`"num_hidden_layers": 2`), []byte(`"num_hidden_layers": 262144`), 1),
			checkpoint.SafetensorsFile: st, checkpoint.VocabFile: vocab}, "num_hidden_layers 262144"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range c.files {
				os.WriteFile(filepath.Join(dir, n), b, 0o644)
			}
			cmd := exec.Command(bin, "embed", "--model", dir, "--input", in, "--out", filepath.Join(t.TempDir(), "out.npy"), "--quiet")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; stderr:\n%s", err, stderr.String())
			}
			rss := int64(0)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss = ru.Maxrss << 10
			}
			t.Logf("exit 1 in %v, peak RSS %d MB: %s", took, rss>>20, strings.TrimSpace(stderr.String()))
			if !strings.Contains(stderr.String(), c.wantErr) {
				t.Errorf("stderr %q does not name %q", stderr.String(), c.wantErr)
			}
			if took > 5*time.Second || rss > 300<<20 {
				t.Errorf("took %v and %d MB, want under 5 s and 300 MB", took, rss>>20)
			}
		})
	}
}
