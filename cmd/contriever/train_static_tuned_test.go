package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/contrastive/statictune"
	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/fixture"
)

// TestTrainStaticTuned runs --recipe static-tuned for a few steps: the
// folder loads as a static model that differs from its start, beir runs
// with it, the loss curve is written, a run stopped and resumed ends with
// the same weights as one run straight through, and a time budget ends a
// run by itself.
func TestTrainStaticTuned(t *testing.T) {
	data := writeNoHitsDataset(t)
	base := tinyTunedArgs(t, data, "--log-every", "2")
	straight := filepath.Join(t.TempDir(), "straight")
	if err := runTrain(append(slices.Clone(base), "--out", straight, "--steps", "6")); err != nil {
		t.Fatal(err)
	}
	start, err := static.Load(filepath.Join(straight, "init"))
	if err != nil {
		t.Fatal(err)
	}
	tuned, err := static.Load(filepath.Join(straight, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(start.Weight(), tuned.Weight()) {
		t.Error("the tuned model equals its start")
	}
	card, _ := os.ReadFile(filepath.Join(straight, "model", "README.md"))
	if !strings.Contains(string(card), "| steps | 6 |") {
		t.Errorf("model card:\n%s", card)
	}
	// No --lr: the recipe's rate for the passes the 6 steps make.
	if p := tuned.Provenance; p == nil || p.LR != statictune.RateForPasses(p.Passes) || !strings.Contains(string(card), fmt.Sprintf("peak lr %g × ", p.LR)) {
		t.Errorf("provenance %+v, card:\n%s", p, card)
	}
	if _, rows, err := trainlog.Read(filepath.Join(straight, "train.csv")); err != nil || len(rows) != 3 {
		t.Errorf("train.csv: %d rows, %v", len(rows), err)
	}
	if _, err := os.Stat(filepath.Join(straight, "train.png")); err != nil {
		t.Error(err)
	}
	if _, err := beirCaptureStdout(t, func() error {
		return runBeir([]string{"--data", data, "--method", "dense", "--model", filepath.Join(straight, "model"), "--json", "--quiet"})
	}); err != nil {
		t.Fatal(err)
	}

	resumed := filepath.Join(t.TempDir(), "resumed")
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--steps", "6", "--stop-at", "3")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--steps", "6", "--resume")); err != nil {
		t.Fatal(err)
	}
	again, err := static.Load(filepath.Join(resumed, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Weight(), tuned.Weight()) || !slices.Equal(again.QueryWeight(), tuned.QueryWeight()) {
		t.Error("a resumed run differs from one run straight through")
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--steps", "6", "--resume", "--batch-size", "4")); err == nil {
		t.Error("resuming with another batch size: no error")
	}

	// A state saved with overlapping crops everywhere (as before
	// --disjoint-below) is refused under the default rule with the flag
	// that resumes it, and resumes with that flag.
	older := filepath.Join(t.TempDir(), "older")
	if err := runTrain(append(slices.Clone(base), "--out", older, "--steps", "6", "--stop-at", "3", "--disjoint-below", "0")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", older, "--steps", "6", "--resume")); err == nil || !strings.Contains(err.Error(), "resume it with --disjoint-below 0") {
		t.Errorf("resuming a state saved without the rule: %v", err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", older, "--steps", "6", "--resume", "--disjoint-below", "0")); err != nil {
		t.Errorf("resuming with --disjoint-below 0: %v", err)
	}

	timed := filepath.Join(t.TempDir(), "timed")
	if err := runTrain(append(slices.Clone(base), "--out", timed, "--time", "1500ms", "--init", filepath.Join(straight, "init"))); err != nil {
		t.Fatal(err)
	}
	if !static.IsModel(filepath.Join(timed, "model")) {
		t.Error("--time: no model")
	}
}

// TestTrainStaticTunedTitlesQueue runs the recipe with titles as queries
// and a MoCo queue: both change the weights a run ends with, the card
// names them, and a run stopped and resumed (the queue and the titles in
// its state) ends where one run straight through does.
func TestTrainStaticTunedTitlesQueue(t *testing.T) {
	data := writeNoHitsDataset(t)
	base := tinyTunedArgs(t, data, "--steps", "6")
	load := func(dir string) []float32 {
		t.Helper()
		m, err := static.Load(filepath.Join(dir, "model"))
		if err != nil {
			t.Fatal(err)
		}
		return m.Weight()
	}
	plain := filepath.Join(t.TempDir(), "plain")
	if err := runTrain(append(slices.Clone(base), "--out", plain, "--title-rate", "0", "--queue", "0")); err != nil {
		t.Fatal(err)
	}
	extra := []string{"--title-rate", "0.5", "--queue", "20"}
	straight := filepath.Join(t.TempDir(), "straight")
	if err := runTrain(append(append(slices.Clone(base), extra...), "--out", straight)); err != nil {
		t.Fatal(err)
	}
	w := load(straight)
	if slices.Equal(w, load(plain)) {
		t.Error("titles and a queue left the weights as without them")
	}
	for _, flags := range [][]string{{"--title-rate", "0.5", "--queue", "0"}, {"--title-rate", "0", "--queue", "20"}} {
		one := filepath.Join(t.TempDir(), "one")
		if err := runTrain(append(append(slices.Clone(base), flags...), "--out", one)); err != nil {
			t.Fatal(err)
		}
		if v := load(one); slices.Equal(v, w) || slices.Equal(v, load(plain)) {
			t.Errorf("%v: the weights do not depend on it", flags)
		}
	}
	card, _ := os.ReadFile(filepath.Join(straight, "model", "README.md"))
	if !strings.Contains(string(card), "| titles as queries | with probability 0.5 ") || !strings.Contains(string(card), "| queue | the keys of the last 20 pairs") {
		t.Errorf("model card:\n%s", card)
	}
	resumed := filepath.Join(t.TempDir(), "resumed")
	if err := runTrain(append(append(slices.Clone(base), extra...), "--out", resumed, "--stop-at", "3")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(append(slices.Clone(base), extra...), "--out", resumed, "--resume")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(load(resumed), w) {
		t.Error("a resumed run differs from one run straight through")
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--resume", "--title-rate", "0.5", "--queue", "8")); err == nil {
		t.Error("resuming with another queue: no error")
	}
}

// TestTrainStaticTunedSmallCorpus trains the default recipe (batch 1024)
// on a corpus of 60 documents: the batch becomes the whole corpus instead
// of the run failing, the card says so, and a stopped run resumes under
// the same rule.
func TestTrainStaticTunedSmallCorpus(t *testing.T) {
	data := writeNoHitsDataset(t)
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	out := filepath.Join(t.TempDir(), "small")
	args := []string{"--corpus", data, "--vocab", vocab, "--static-dim", "8", "--static-window", "3", "--quiet", "--out", out, "--steps", "4"}
	if err := runTrain(append(slices.Clone(args), "--stop-at", "2")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(args), "--resume")); err != nil {
		t.Fatal(err)
	}
	card, err := os.ReadFile(filepath.Join(out, "model", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(card), "| batch | 60 pairs") || !strings.Contains(string(card), "| steps | 4 |") {
		t.Errorf("model card:\n%s", card)
	}
}

// TestTunedDisjointBelow checks --disjoint-below: by default the mean key
// crop, the recipe's statictune.DefaultOptions value with the default
// crops; 0 turns it off; other negatives are refused.
func TestTunedDisjointBelow(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
		bad  bool
	}{
		{nil, statictune.DefaultOptions().DisjointBelow, false},
		{[]string{"--crop-key", "2:6"}, 4, false},
		{[]string{"--disjoint-below", "0"}, 0, false},
		{[]string{"--disjoint-below", "100"}, 100, false},
		{[]string{"--disjoint-below", "-2"}, 0, true},
	} {
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		tf := registerTunedTrainFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		o, err := tunedOptions(trainArgs{}, tf)
		if (err != nil) != c.bad {
			t.Errorf("%v: error %v", c.args, err)
			continue
		}
		if !c.bad && o.DisjointBelow != c.want {
			t.Errorf("%v: DisjointBelow %d, want %d", c.args, o.DisjointBelow, c.want)
		}
	}
}

// TestTrainStaticTunedPasses runs --time on a corpus small enough to be
// passed over many times within the budget: the run ends by itself after
// --passes over the corpus's tokens (the first step count whose crops
// cover them, in expectation), the card and the provenance say so, the
// learning rate rises and decays to that step, and a stopped run resumes
// only with the same --passes, to the same step.
func TestTrainStaticTunedPasses(t *testing.T) {
	base := tinyTunedArgs(t, writeNoHitsDataset(t), "--log-every", "1", "--time", "2m")
	out := filepath.Join(t.TempDir(), "capped")
	if err := runTrain(append(slices.Clone(base), "--out", out, "--passes", "3")); err != nil {
		t.Fatal(err)
	}
	m, err := static.Load(filepath.Join(out, "model"))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Provenance
	if p == nil || p.Budget != "2m0s" || p.Steps < 2 {
		t.Fatalf("provenance %+v", p)
	}
	// Steps is the first count whose expected coverage reaches 3 passes.
	perStep := p.Passes / float64(p.Steps)
	if p.Passes < 3 || p.Passes-perStep >= 3 {
		t.Errorf("%d steps cover %.3f passes (%.3f per step); want the first count that reaches 3", p.Steps, p.Passes, perStep)
	}
	card, _ := os.ReadFile(filepath.Join(out, "model", "README.md"))
	if want := fmt.Sprintf("| schedule | ends at step %d (", p.Steps); !strings.Contains(string(card), want) {
		t.Errorf("model card lacks %q:\n%s", want, card)
	}
	// The rate of a run of 3 passes (whether set from the horizon or, after
	// probeSteps, from the speed: the passes end the run either way).
	if want := fmt.Sprintf("peak lr %g × ", statictune.RateForPasses(p.Passes)); !strings.Contains(string(card), want) || statictune.RateForPasses(p.Passes) != statictune.MaxRate {
		t.Errorf("model card lacks %q:\n%s", want, card)
	}
	_, rows, err := trainlog.Read(filepath.Join(out, "train.csv"))
	if err != nil || int64(len(rows)) != p.Steps {
		t.Fatalf("train.csv: %d rows for %d steps, %v", len(rows), p.Steps, err)
	}
	peak := 0
	for i, r := range rows {
		if r.LR > rows[peak].LR {
			peak = i
		}
	}
	if last := rows[len(rows)-1].LR; peak == len(rows)-1 || last >= rows[peak].LR/2 {
		t.Errorf("lr peaks at row %d of %d and ends at %g (peak %g): the decay should end with the passes", peak, len(rows), last, rows[peak].LR)
	}

	// Stopped midway, it resumes with the same --passes to the same model,
	// and refuses another.
	resumed := filepath.Join(t.TempDir(), "resumed")
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--passes", "3", "--stop-at", "2", "--init", filepath.Join(out, "init"))); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--passes", "0", "--resume", "--init", filepath.Join(out, "init"))); err == nil || !strings.Contains(err.Error(), "same --passes") {
		t.Errorf("resuming with --passes 0: %v", err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--passes", "3", "--resume", "--init", filepath.Join(out, "init"))); err != nil {
		t.Fatal(err)
	}
	again, err := static.Load(filepath.Join(resumed, "model"))
	if err != nil || again.Provenance.Steps != p.Steps {
		t.Fatalf("resumed: %+v, %v", again.Provenance, err)
	}
	// --lr given: that rate, whatever the passes.
	given := filepath.Join(t.TempDir(), "given")
	if err := runTrain(append(slices.Clone(base), "--out", given, "--passes", "3", "--lr", "0.07", "--init", filepath.Join(out, "init"))); err != nil {
		t.Fatal(err)
	}
	if card, _ := os.ReadFile(filepath.Join(given, "model", "README.md")); !strings.Contains(string(card), "peak lr 0.07 × ") {
		t.Errorf("--lr 0.07: card\n%s", card)
	}
	g, err := static.Load(filepath.Join(given, "model"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Provenance == nil || g.Provenance.LR != 0.07 {
		t.Errorf("--lr 0.07: provenance %+v", g.Provenance)
	}
	for _, bad := range []string{"-1", "NaN", "+Inf"} {
		if err := runTrain(append(slices.Clone(base), "--out", filepath.Join(t.TempDir(), "bad"), "--passes", bad)); err == nil || !strings.Contains(err.Error(), "--passes") {
			t.Errorf("--passes %s: %v", bad, err)
		}
	}
}

// TestTunedState checks the static-tuned state file's framing: the rate,
// the clock and the trainer's bytes come back; a first-version file (no
// rate) reads with rate 0; damaged ones are errors.
func TestTunedState(t *testing.T) {
	b := joinTunedState([]byte("clock"), []byte("trainer"), 0.06)
	c, tr, rate, err := splitTunedState(b)
	if err != nil || string(c) != "clock" || string(tr) != "trainer" || rate != 0.06 {
		t.Fatalf("%q %q %g %v", c, tr, rate, err)
	}
	v1 := append([]byte(tunedStateMagicV1), b[16:]...)
	if c, tr, rate, err := splitTunedState(v1); err != nil || string(c) != "clock" || string(tr) != "trainer" || rate != 0 {
		t.Fatalf("version 1: %q %q %g %v", c, tr, rate, err)
	}
	nan := joinTunedState(nil, []byte("t"), math.NaN())
	for name, bad := range map[string][]byte{"empty": nil, "magic": []byte("CTSTRUN9............"), "truncated": b[:20], "NaN rate": nan} {
		if _, _, _, err := splitTunedState(bad); !errors.Is(err, contrastive.ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzTunedState feeds arbitrary bytes to splitTunedState: an error, or
// parts that join back into the same bytes (for the current version).
func FuzzTunedState(f *testing.F) {
	f.Add(joinTunedState([]byte("clock"), []byte("trainer"), 0.03))
	f.Add(joinTunedState(nil, nil, 0))
	f.Add([]byte(tunedStateMagicV1 + "\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, tr, rate, err := splitTunedState(data)
		if err != nil {
			return
		}
		if !(rate >= 0) {
			t.Fatalf("rate %g accepted", rate)
		}
		if string(data[:8]) == tunedStateMagic && !bytes.Equal(joinTunedState(c, tr, rate), data) {
			t.Fatal("round trip changed the state")
		}
	})
}

// TestSpeedProbe checks the estimate a --time run sets its rate from: the
// later half of the steps timed, so that slow first steps do not make it
// underestimate the steps a budget allows.
func TestSpeedProbe(t *testing.T) {
	var p speedProbe
	if d, w := p.perStep(); d != 0 || w != 0 || p.steps() != 0 {
		t.Fatalf("empty probe: %v over %d, %d steps", d, w, p.steps())
	}
	e := 3 * time.Second // the start's build, before the first step
	p.add(e)
	for i := 0; i < probeSteps; i++ {
		step := 100 * time.Millisecond
		if i < probeSteps/4 {
			step = 300 * time.Millisecond // slow first steps
		}
		e += step
		p.add(e)
	}
	if p.steps() != probeSteps {
		t.Errorf("%d steps timed, want %d", p.steps(), probeSteps)
	}
	if got, w := p.perStep(); got != 100*time.Millisecond || w != probeSteps/2 {
		t.Errorf("perStep %v over %d steps, want 100ms over %d (the later half; the whole mean is %v)", got, w, probeSteps/2, (e-3*time.Second)/probeSteps)
	}
	for range probeSteps {
		e += 50 * time.Millisecond
		p.add(e)
	}
	if got, w := p.perStep(); got != 50*time.Millisecond || w != probeSteps {
		t.Errorf("perStep %v over %d steps, want 50ms over %d", got, w, probeSteps)
	}
}

// TestSpeedProbeEstimate checks the rate a --time run takes from the probe:
// the passes the rest of the budget allows at the measured speed, or the
// horizon's when that comes first, provisional until the warmup ends.
func TestSpeedProbeEstimate(t *testing.T) {
	var now time.Time
	clock, err := contrastive.NewBudgetClock(contrastive.Budget{Total: 100 * time.Second, Warmup: 0.05, Kind: optim.Linear, Base: 1}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	var p speedProbe
	clock.Start()
	p.add(clock.Elapsed())
	step := func(d time.Duration) {
		if _, ok := clock.NextFactor(); !ok {
			t.Fatal("budget spent")
		}
		now = now.Add(d)
		p.add(clock.Elapsed())
	}
	for range probeSteps {
		step(100 * time.Millisecond)
	}
	// 4 s spent: 96 s left at 100 ms a step is 960 more, 1,000 in all,
	// 10 passes at 0.01 a step; the warmup (5 s) is not over.
	e, final := p.estimate(clock, probeSteps, 0.01)
	if final || e.bound != "the budget" || math.Abs(e.steps-1000) > 1e-6 || math.Abs(e.passes-10) > 1e-6 || e.rate != statictune.RateForPasses(10) {
		t.Fatalf("after %d steps: %+v, final %v", probeSteps, e, final)
	}
	// Faster steps move the estimate, and once the warmup is over it is
	// final.
	for clock.Progress() < 0.05 {
		step(25 * time.Millisecond)
	}
	e2, final := p.estimate(clock, int64(p.steps()), 0.1)
	if !final || e2.steps <= e.steps || e2.perStep >= e.perStep {
		t.Fatalf("after the warmup: %+v (before %+v), final %v", e2, e, final)
	}
	if want := statictune.RateForPasses(e2.passes); e2.rate != want || want >= statictune.MaxRate {
		t.Errorf("rate %g for %.1f passes, want %g below the maximum", e2.rate, e2.passes, want)
	}
	// A horizon before the budget's end ends the schedule there.
	clock.SetHorizon(int64(p.steps()) + 10)
	e3, _ := p.estimate(clock, int64(p.steps()), 0.1)
	if e3.bound != "the --passes cap" || e3.steps != float64(p.steps()+10) {
		t.Errorf("with a horizon: %+v", e3)
	}
}

// tinyTunedArgs returns the train flags of a static-tuned run on the
// dataset in data small enough for a test (8 dimensions, batches of 8,
// short crops), then extra.
func tinyTunedArgs(t *testing.T, data string, extra ...string) []string {
	vocab := fixture.Repo(t, "data", "vocab", "vocab.txt")
	return append([]string{"--recipe", "static-tuned", "--corpus", data, "--vocab", vocab, "--static-dim", "8", "--static-window", "3",
		"--batch-size", "8", "--crop-query", "1:3", "--crop-key", "2:6", "--quiet"}, extra...)
}

// TestTrainStaticTunedSeparateQueries checks the recipe's query rows: on
// a corpus whose documents have titles, the default run makes an
// asymmetric model (its card says so) that resumes bit for bit, both
// sides; --separate-queries off, or a corpus without titles, makes a
// symmetric one; a state saved by the recipe before titles and query rows
// is refused with the flags that resume it, and resumes with them.
func TestTrainStaticTunedSeparateQueries(t *testing.T) {
	data := writeNoHitsDataset(t) // every document has a title
	base := tinyTunedArgs(t, data, "--steps", "6")
	load := func(dir string) *static.Model {
		t.Helper()
		m, err := static.Load(filepath.Join(dir, "model"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	straight := filepath.Join(t.TempDir(), "straight")
	if err := runTrain(append(slices.Clone(base), "--out", straight)); err != nil {
		t.Fatal(err)
	}
	m := load(straight)
	if !m.Asymmetric() || slices.Equal(m.QueryWeight(), m.Weight()) {
		t.Fatal("the default run on a titled corpus made no separate query rows")
	}
	if card, _ := os.ReadFile(filepath.Join(straight, "model", "README.md")); !strings.Contains(string(card), "| query rows | separate") || !strings.Contains(string(card), "| titles as queries | with probability 0.2 ") {
		t.Errorf("card:\n%s", card)
	}
	resumed := filepath.Join(t.TempDir(), "resumed")
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--stop-at", "3")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", resumed, "--resume")); err != nil {
		t.Fatal(err)
	}
	if r := load(resumed); !slices.Equal(r.Weight(), m.Weight()) || !slices.Equal(r.QueryWeight(), m.QueryWeight()) {
		t.Error("a resumed run differs from one run straight through")
	}
	// From an asymmetric start (--init the model just made), the query
	// rows start at its query rows: with a negligible rate they end there.
	again := filepath.Join(t.TempDir(), "again")
	if err := runTrain(append(tinyTunedArgs(t, data, "--steps", "2", "--lr", "1e-9"), "--out", again, "--init", filepath.Join(straight, "model"))); err != nil {
		t.Fatal(err)
	}
	near := func(a, b []float32) bool {
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6 {
				return false
			}
		}
		return true
	}
	if a := load(again); !a.Asymmetric() || !near(a.QueryWeight(), m.QueryWeight()) || near(a.QueryWeight(), m.Weight()) || !near(a.Weight(), m.Weight()) {
		t.Error("a run from an asymmetric start did not start its query rows at the start's")
	}
	off := filepath.Join(t.TempDir(), "off")
	if err := runTrain(append(slices.Clone(base), "--out", off, "--separate-queries", "off")); err != nil {
		t.Fatal(err)
	}
	if load(off).Asymmetric() {
		t.Error("--separate-queries off made an asymmetric model")
	}
	if err := runTrain(append(slices.Clone(base), "--out", t.TempDir(), "--separate-queries", "maybe")); err == nil {
		t.Error("--separate-queries maybe: no error")
	}
	// The same corpus without titles: auto keeps one table of rows.
	untitled := t.TempDir()
	corpus, _ := os.ReadFile(filepath.Join(data, "corpus.jsonl"))
	os.WriteFile(filepath.Join(untitled, "corpus.jsonl"), []byte(regexp.MustCompile(`"title":"doc \d+"`).ReplaceAllString(string(corpus), `"title":""`)), 0o644)
	bare := filepath.Join(t.TempDir(), "bare")
	if err := runTrain(append(tinyTunedArgs(t, untitled, "--steps", "6"), "--out", bare)); err != nil {
		t.Fatal(err)
	}
	if load(bare).Asymmetric() {
		t.Error("a corpus without titles got separate query rows")
	}
	// A state of the recipe before titles and query rows.
	older := filepath.Join(t.TempDir(), "older")
	oldFlags := []string{"--title-rate", "0", "--separate-queries", "off"}
	if err := runTrain(append(append(slices.Clone(base), oldFlags...), "--out", older, "--stop-at", "3")); err != nil {
		t.Fatal(err)
	}
	if err := runTrain(append(slices.Clone(base), "--out", older, "--resume")); err == nil || !strings.Contains(err.Error(), "resume it with --title-rate 0 --separate-queries off") {
		t.Errorf("resuming a state of the older recipe: %v", err)
	}
	if err := runTrain(append(append(slices.Clone(base), oldFlags...), "--out", older, "--resume")); err != nil {
		t.Errorf("resuming it with the older recipe's flags: %v", err)
	}
}
