package main

// The recipes of `contriever train --recipe`: named sets of training flag
// values. A recipe sets each of its flags that the command line does not
// set, so any flag still overrides it.
//
// validated is the CLI default: the static-tuned recipe (the PPMI static
// model, then its token rows trained contrastively on the corpus; package
// contrastive/statictune), whose settings were chosen on SciFact TRAIN
// queries (the README's ablation table). static-tuned names the same
// recipe.
//
// bundled is the bundled transformer model's recipe
// (models/contriever-small-scifact), whose settings were chosen in an
// earlier session while watching SciFact TEST every 200 steps; it stays
// for reproducing that model. It was the default before static-tuned
// cleared the static floor on train.
//
// paper is Contriever's own settings (Izacard et al. 2021; REFERENCE.md
// §2): τ 0.05, crops U(0.05, 0.5) of the chunk, token deletion 0.1,
// BERT's dropout on, lr 5e-5, BERT's initialisation (no identity-block
// start); in-batch negatives and batch 64 (today's defaults; --objective
// moco for the paper's queue).

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

// staticTunedFlags are the settings of the static-tuned (validated)
// recipe beyond statictune.DefaultOptions (crops, one direction) and its
// rate, which follows the passes a run makes unless --lr is given
// (statictune.RateForPasses).
var staticTunedFlags = map[string]string{
	"batch-size": "1024", "temperature": "0.05", "deletion": "0", "checkpoint-every": "500",
}

// isTunedRecipe reports whether recipe trains a static model
// (static-tuned, validated).
func isTunedRecipe(recipe string) bool {
	return recipe == recipeStaticTuned || recipe == recipeValidated
}

// recipeFlags maps each training recipe to its flag values.
var recipeFlags = map[string]map[string]string{
	recipeBundled: {
		"config": "small", "objective": "inbatch", "residual-scale": "0", "position-scale": "0.1", "no-dropout": "true",
		"batch-size": "128", "lr": "3e-4", "temperature": "0.2", "ratio-min": "0.05", "ratio-max": "0.25", "deletion": "0.1", "chunk": "256",
	},
	recipeStaticTuned: staticTunedFlags,
	recipeValidated:   staticTunedFlags,
	recipePaper: {
		"objective": "inbatch", "residual-scale": "1", "position-scale": "1", "no-dropout": "false",
		"batch-size": "64", "lr": "5e-5", "temperature": "0.05", "ratio-min": "0.05", "ratio-max": "0.5", "deletion": "0.1", "chunk": "256",
	},
}

// applyRecipe sets the recipe's flags that were not given on the command
// line (fs already parsed).
func applyRecipe(fs *flag.FlagSet, recipe string) error {
	vals, ok := recipeFlags[recipe]
	if !ok {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range vals {
		if set[name] || fs.Lookup(name) == nil {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("recipe %s: --%s %s: %w", recipe, name, v, err)
		}
	}
	return nil
}

// recipeString lists a recipe's settings as flags, sorted (for logs and
// manifests).
func recipeString(recipe string) string {
	vals := recipeFlags[recipe]
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "--%s %s", n, vals[n])
	}
	return b.String()
}
