package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/internal/npy"
)

func init() {
	registerBench(command{
		name:    "cosine",
		summary: "compare two embedding files (.npy) row by row: mean and smallest cosine, relative L2, max |Δ|",
		run:     runBenchCosine,
	})
}

// runBenchCosine compares the embeddings of one corpus computed two ways
// (f32 and a reduced precision: `embed --precision`, or the cache files
// that `beir --precision` names), as the precision acceptance asks: the
// mean cosine of each vector with its reference.
func runBenchCosine(args []string) error {
	fs := newFlagSet("bench cosine", "--ref REF.npy --other OTHER.npy [--min-mean-cos F] [--json]")
	ref := fs.String("ref", "", "reference embeddings, float32 [n, dim] .npy (e.g. f32) (required)")
	other := fs.String("other", "", "embeddings to compare, same shape (required)")
	minCos := fs.Float64("min-mean-cos", 0, "fail when the mean cosine is below this")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *ref == "" || *other == "" {
		fs.Usage()
		return errors.New("--ref and --other are required")
	}
	r, rshape, err := npy.ReadFloat32(*ref)
	if err != nil {
		return err
	}
	o, oshape, err := npy.ReadFloat32(*other)
	if err != nil {
		return err
	}
	if len(rshape) != 2 || len(oshape) != 2 || rshape[0] != oshape[0] || rshape[1] != oshape[1] {
		return fmt.Errorf("shapes differ or are not [n, dim]: %s %v, %s %v", *ref, rshape, *other, oshape)
	}
	d := encoder.CompareVectors(o, r, rshape[0], rshape[1])
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"ref": *ref, "other": *other, "rows": rshape[0], "dim": rshape[1],
			"mean_cos": d.MeanCos, "min_cos": d.MinCos, "rel_l2": d.RelL2, "max_abs": d.MaxAbs}); err != nil {
			return err
		}
	} else {
		fmt.Printf("%8s %5s %10s %12s %10s %10s %10s\n", "rows", "dim", "mean_cos", "1-mean_cos", "min_cos", "rel_l2", "max_abs")
		fmt.Printf("%8d %5d %10.6f %12.3g %10.6f %10.3g %10.3g\n", rshape[0], rshape[1], d.MeanCos, 1-d.MeanCos, d.MinCos, d.RelL2, d.MaxAbs)
	}
	if d.MeanCos < *minCos {
		return fmt.Errorf("mean cosine %.6f below --min-mean-cos %g", d.MeanCos, *minCos)
	}
	return nil
}
