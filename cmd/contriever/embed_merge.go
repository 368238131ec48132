package main

import (
	"errors"
	"fmt"

	"github.com/contriever-go/contriever/internal/npy"
)

func init() {
	register(command{
		name:    "embed-merge",
		summary: "join the .npy files of `embed --shard i/n` (in shard order) into one",
		run:     runEmbedMerge,
	})
}

// runEmbedMerge concatenates 2-D float32 .npy files of one width, rows in
// argument order, into --out (written to a temporary file and renamed).
func runEmbedMerge(args []string) error {
	fs := newFlagSet("embed-merge", "--out ALL.npy SHARD0.npy SHARD1.npy ...")
	out := fs.String("out", "", "output .npy (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return errors.New("--out and at least one input .npy are required")
	}
	rows, cols := 0, -1
	for _, p := range fs.Args() {
		shape, err := npy.ReadHeader(p)
		if err != nil {
			return err
		}
		if len(shape) != 2 {
			return fmt.Errorf("%s: shape %v, want [rows, dim]", p, shape)
		}
		if cols >= 0 && shape[1] != cols {
			return fmt.Errorf("%s: dimension %d, the first file has %d", p, shape[1], cols)
		}
		cols = shape[1]
		rows += shape[0]
	}
	w, err := npy.NewWriter(*out, rows, cols)
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, p := range fs.Args() {
		data, _, err := npy.ReadFloat32(p)
		if err != nil {
			return err
		}
		if err := w.Write(data); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return w.Close()
}
