package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/contriever-go/contriever/internal/fixture"
)

// TestEmbedHelperProcess is not a test: TestEmbedResumeAfterKill runs the
// test binary with it to have an embed process it can kill -9.
func TestEmbedHelperProcess(t *testing.T) {
	args := os.Getenv("EMBED_HELPER_ARGS")
	if args == "" {
		t.Skip("helper process only")
	}
	embedCheckpointHook = func(int) { time.Sleep(30 * time.Millisecond) }
	if err := runEmbed(strings.Split(args, "\x1f")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func writeEmbedInput(t *testing.T, path string, n int) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"_id\": \"d%d\", \"title\": \"T%d\", \"text\": \"%s\"}\n", i, i%7, strings.Repeat("word ", 1+i%13))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEmbedResumeAfterKill: an embed killed with SIGKILL after some
// checkpoints, run again with the same command, finishes with a file
// byte-identical to an uninterrupted run's, and leaves no checkpoint.
func TestEmbedResumeAfterKill(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	const n = 120
	writeEmbedInput(t, in, n)
	args := func(out string) []string {
		return []string{"--model", model, "--input", in, "--out", out, "--quiet", "--batch-size", "3", "--max-length", "32", "--sort-window", "7"}
	}
	ref := filepath.Join(dir, "ref.npy")
	if err := runEmbed(args(ref)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.npy")
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbedHelperProcess$")
	cmd.Env = append(os.Environ(), "EMBED_HELPER_ARGS="+strings.Join(args(out), "\x1f"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	state := out + ".part.json"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(state); err == nil && bytes.Contains(b, []byte(`"rows":13`)) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint of 13 texts (mid-window) within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the killed run finished: nothing to resume")
	}
	b, _ := os.ReadFile(state)
	t.Logf("killed with checkpoint %s", b)
	var killed embedState
	if err := json.Unmarshal(b, &killed); err != nil || killed.Rows < 13 {
		t.Fatalf("checkpoint after the kill: %s (%v)", b, err)
	}
	var first []int
	embedCheckpointHook = func(rows int) { first = append(first, rows) }
	defer func() { embedCheckpointHook = nil }()
	if err := runEmbed(args(out)); err != nil {
		t.Fatal(err)
	}
	// It resumed from the checkpoint, not from zero, and lost no more than
	// the batch in flight: its first checkpoint is the killed run's next
	// one (at most one batch of 3 further, or the end of the window).
	if len(first) == 0 || first[0] <= killed.Rows || first[0] > killed.Rows+3 {
		t.Fatalf("resumed run's checkpoints %v after a kill at %d: did not resume from the last batch", first, killed.Rows)
	}
	want, _ := os.ReadFile(ref)
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("resumed output differs from the uninterrupted run's")
	}
	for _, p := range []string{state, out + ".part"} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s left behind", p)
		}
	}
	// A checkpoint for other settings is not used: a different batch size
	// starts over (and still gives a complete file).
	os.WriteFile(state, b, 0o644)
	first = nil
	other := append(args(out), "--batch-size", "4")
	if err := runEmbed(other); err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 || first[0] != 4 {
		t.Fatalf("run with other settings: checkpoints %v, want a fresh start", first)
	}
	// Nor is an f32 checkpoint at a reduced precision, which has its own
	// key; the same checkpoint (its .part of full size) still resumes at
	// f32, whose key is unchanged.
	for _, tc := range []struct {
		prec   string
		resume bool
	}{{"int8", false}, {"bf16", false}, {"f32", true}} {
		os.WriteFile(state, b, 0o644)
		os.WriteFile(out+".part", make([]byte, n*killed.Dim*4), 0o644)
		first = nil
		if err := runEmbed(append(args(out), "--precision", tc.prec)); err != nil {
			t.Fatal(err)
		}
		if resumed := len(first) > 0 && first[0] > killed.Rows; resumed != tc.resume || len(first) == 0 {
			t.Errorf("--precision %s over an f32 checkpoint at %d: checkpoints %v, resumed %v, want %v", tc.prec, killed.Rows, first, resumed, tc.resume)
		}
	}
}

// TestEmbedShardsMerge: the shards of an input, embedded apart and merged,
// equal the whole input embedded at once.
func TestEmbedShardsMerge(t *testing.T) {
	model := fixture.Shared(t, "fixtures", "tiny-bert")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writeEmbedInput(t, in, 25)
	common := []string{"--model", model, "--input", in, "--quiet", "--batch-size", "4", "--max-length", "32", "--sort-window", "5"}
	all := filepath.Join(dir, "all.npy")
	if err := runEmbed(append(common, "--out", all)); err != nil {
		t.Fatal(err)
	}
	var shards []string
	for i := 0; i < 3; i++ {
		p := filepath.Join(dir, fmt.Sprintf("s%d.npy", i))
		if err := runEmbed(append(common, "--out", p, "--shard", fmt.Sprintf("%d/3", i))); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, p)
	}
	merged := filepath.Join(dir, "merged.npy")
	if err := runEmbedMerge(append([]string{"--out", merged}, shards...)); err != nil {
		t.Fatal(err)
	}
	a, _ := readNpyF32(t, all)
	m, hdr := readNpyF32(t, merged)
	if !strings.Contains(hdr, "'shape': (25, 32)") || len(a) != len(m) {
		t.Fatalf("merged header %q", hdr)
	}
	for i := range a {
		if d := a[i] - m[i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("value %d: merged %v, whole %v", i, m[i], a[i])
		}
	}
	for _, bad := range []string{"3/3", "-1/2", "1", "a/b", "0/0"} {
		if err := runEmbed(append(common, "--out", filepath.Join(dir, "x.npy"), "--shard", bad)); err == nil {
			t.Errorf("--shard %s accepted", bad)
		}
	}
}
