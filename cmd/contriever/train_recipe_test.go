package main

import (
	"testing"
)

// TestRecipes: every flag a recipe names is a train flag and takes its
// value; a flag given on the command line overrides the recipe; paper is
// Contriever's settings and validated the bundled model's.
func TestRecipes(t *testing.T) {
	for recipe, vals := range recipeFlags {
		var a trainArgs
		fs, _, _ := trainFlagSet(&a)
		if err := fs.Parse([]string{"--lr", "1e-3", "--recipe", recipe}); err != nil {
			t.Fatal(err)
		}
		if err := applyRecipe(fs, recipe); err != nil {
			t.Fatal(err)
		}
		for name, v := range vals {
			f := fs.Lookup(name)
			if f == nil {
				t.Fatalf("%s: no flag --%s", recipe, name)
			}
			if name != "lr" && f.Value.String() != v {
				t.Errorf("%s: --%s %s, want %s", recipe, name, f.Value, v)
			}
		}
		if a.lr != 1e-3 {
			t.Errorf("%s: the command line's --lr was overridden: %g", recipe, a.lr)
		}
	}
	var a trainArgs
	fs, _, _ := trainFlagSet(&a)
	fs.Parse([]string{"--recipe", recipePaper})
	applyRecipe(fs, recipePaper)
	if a.temperature != 0.05 || a.ratioMin != 0.05 || a.ratioMax != 0.5 || a.deletion != 0.1 || a.noDropout || a.lr != 5e-5 || a.residualScale != 1 {
		t.Errorf("paper: %+v", a)
	}
	fs, _, _ = trainFlagSet(&a)
	fs.Parse(nil)
	applyRecipe(fs, a.recipe)
	if a.recipe != recipeValidated || !isTunedRecipe(a.recipe) || a.batch != 1024 || a.temperature != 0.05 {
		t.Errorf("default (validated, static-tuned): %+v", a)
	}
	if v, ok := recipeFlags[recipeValidated]["lr"]; ok {
		t.Errorf("the validated recipe sets --lr %s; its rate follows the passes unless --lr is given", v)
	}
	a = trainArgs{}
	fs, _, _ = trainFlagSet(&a)
	fs.Parse([]string{"--recipe", recipeBundled})
	applyRecipe(fs, a.recipe)
	if a.temperature != 0.2 || a.ratioMax != 0.25 || !a.noDropout || a.lr != 3e-4 || a.residualScale != 0 || a.positionScale != 0.1 || a.batch != 128 {
		t.Errorf("bundled: %+v", a)
	}
}
