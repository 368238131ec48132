package main

// `contriever train --recipe static-tuned`: the static model of --recipe
// static (or a static --init folder), then its token rows trained with
// package contrastive/statictune's contrastive objective on the corpus.
// The result is a StaticEmbedding folder like --recipe static's, so every
// command loads it.
//
// Layout of --out: init/ (the starting static model), model/ (the tuned
// model, saved at each checkpoint and at the end), state.bin (resumable
// state: the time budget clock and the trainer), train.csv and train.png.
//
// With --time the budget covers the whole command, the PPMI start
// included: the clock starts before the start is built, and the learning
// rate's warmup and decay end with the budget.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/contrastive/optim"
	"github.com/contriever-go/contriever/contrastive/statictune"
	"github.com/contriever-go/contriever/contrastive/trainlog"
	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/atomicfile"
)

// recipeStaticTuned names the recipe.
const recipeStaticTuned = "static-tuned"

// tunedTrainFlags are the flags of --recipe static-tuned beyond the shared
// ones (--batch-size, --temperature, --lr, --deletion, --seed, --steps,
// --time, --warmup, --checkpoint-every, --log-every, --resume).
type tunedTrainFlags struct {
	cropQuery, cropKey *string
	anchor             *float64
	symmetric          *bool
	group              *int
	disjointBelow      *int
	passes             *float64
	titleRate          *float64
	queue              *int
	separateQueries    *string
}

func registerTunedTrainFlags(fs *flag.FlagSet) *tunedTrainFlags {
	d := statictune.DefaultOptions()
	return &tunedTrainFlags{
		cropQuery:       fs.String("crop-query", fmt.Sprintf("%d:%d", d.QueryMin, d.QueryMax), "--recipe static-tuned: query crop length MIN:MAX in tokens"),
		cropKey:         fs.String("crop-key", fmt.Sprintf("%d:%d", d.KeyMin, d.KeyMax), "--recipe static-tuned: key crop length MIN:MAX in tokens"),
		anchor:          fs.Float64("anchor", d.Anchor, "--recipe static-tuned: pull of the rows towards the start (0: none)"),
		symmetric:       fs.Bool("symmetric", d.Symmetric, "--recipe static-tuned: add the key→query direction of InfoNCE"),
		group:           fs.Int("group", d.Group, "--recipe static-tuned: draw batches in topical groups of this many documents from one k-means cluster (0: uniform; an ablation, not the recipe)"),
		disjointBelow:   fs.Int("disjoint-below", -1, "--recipe static-tuned: cut the key crop outside the query crop in documents shorter than this many tokens (-1: the mean key crop, (MIN+MAX)/2 of --crop-key; 0: never)"),
		titleRate:       fs.Float64("title-rate", statictune.RecipeTitleRate, "--recipe static-tuned: probability that a document with a title gives its title as the query and a crop of the rest as the key (0: crops only)"),
		separateQueries: fs.String("separate-queries", "auto", "--recipe static-tuned: embed queries with their own token rows, an asymmetric model (auto: when titles are queries and at least half the documents have one; on; off)"),
		queue:           fs.Int("queue", d.Queue, "--recipe static-tuned: keep the keys of the last N pairs as extra negatives, without gradient (a MoCo queue; 0: in-batch negatives only)"),
		passes:          fs.Float64("passes", statictune.DefaultPasses, "--recipe static-tuned with --time: end the schedule (warmup and decay) after this many passes over the corpus's tokens when they come before the budget (0: always use the whole budget); without --lr the peak rate follows the passes the run makes (0.1 up to 30, 3/passes, 0.03 from 100)"),
	}
}

func parseSpan(name, s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ":")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("--%s %q: want MIN:MAX with 1 ≤ MIN ≤ MAX", name, s)
	}
	return lo, hi, nil
}

// tunedOptions maps the command line to statictune.Options.
func tunedOptions(a trainArgs, tf *tunedTrainFlags) (statictune.Options, error) {
	o := statictune.Options{Batch: a.batch, Temperature: a.temperature, Deletion: a.deletion, Symmetric: *tf.symmetric, Anchor: *tf.anchor, Group: *tf.group,
		TitleRate: *tf.titleRate, Queue: *tf.queue, Seed: a.seed}
	var err error
	if o.QueryMin, o.QueryMax, err = parseSpan("crop-query", *tf.cropQuery); err != nil {
		return o, err
	}
	if o.KeyMin, o.KeyMax, err = parseSpan("crop-key", *tf.cropKey); err != nil {
		return o, err
	}
	switch *tf.separateQueries {
	case "auto", "on", "off":
	default:
		return o, fmt.Errorf("--separate-queries %q: want auto, on or off", *tf.separateQueries)
	}
	switch o.DisjointBelow = *tf.disjointBelow; {
	case o.DisjointBelow == -1:
		o.DisjointBelow = (o.KeyMin + o.KeyMax) / 2
	case o.DisjointBelow < 0:
		return o, fmt.Errorf("--disjoint-below %d: want -1, 0 or a number of tokens", o.DisjointBelow)
	}
	return o, nil
}

// trainStaticTuned runs --recipe static-tuned.
func trainStaticTuned(a trainArgs, sf *staticTrainFlags, tf *tunedTrainFlags) error {
	if a.corpus == "" || a.out == "" || (a.steps <= 0 && a.budget <= 0) {
		return errors.New("--corpus, --out and a positive --steps or --time are required")
	}
	o, err := tunedOptions(a, tf)
	if err != nil {
		return err
	}
	dtype, err := parseDType(a.dtype)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if a.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.maxTime)
		defer cancel()
	}
	var logw io.Writer = os.Stderr
	if a.quiet {
		logw = io.Discard
	}
	if !(*tf.passes >= 0) || math.IsInf(*tf.passes, 0) {
		return fmt.Errorf("--passes %g: want 0 (none) or a positive number", *tf.passes)
	}
	if err := os.MkdirAll(a.out, 0o755); err != nil {
		return err
	}
	statePath := filepath.Join(a.out, contrastive.StateName)
	var saved []byte
	if a.resume {
		if saved, err = os.ReadFile(statePath); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
	}
	var clock *contrastive.BudgetClock
	if a.budget > 0 {
		if clock, err = contrastive.NewBudgetClock(contrastive.Budget{Total: a.budget, Warmup: 0.05, Kind: optim.Linear, Base: a.lr}, nil); err != nil {
			return err
		}
	}
	var trState []byte
	var savedRate float64
	if saved != nil {
		var clockState []byte
		if clockState, trState, savedRate, err = splitTunedState(saved); err != nil {
			return fmt.Errorf("%s: %w", statePath, err)
		}
		if (clock == nil) != (clockState == nil) {
			return fmt.Errorf("%s: saved by a run %s --time; resume with the same flags", statePath, map[bool]string{true: "with", false: "without"}[clockState != nil])
		}
		if clock != nil {
			if err := clock.UnmarshalBinary(clockState); err != nil {
				return fmt.Errorf("%s: %w", statePath, err)
			}
		}
	}
	if clock != nil {
		clock.Start() // the budget covers building the start
	}

	// The start: --init's static model, init/ of a resumed run, or a new
	// PPMI model.
	initDir := filepath.Join(a.out, "init")
	if a.initDir != "" {
		initDir = a.initDir
	}
	if a.initDir == "" && !(a.resume && static.IsModel(initDir)) {
		b := a
		b.out, b.quiet = initDir, true
		fmt.Fprintf(logw, "train: building the static start (PPMI + SVD) in %s\n", initDir)
		if err := trainStatic(b, sf); err != nil {
			return err
		}
	}
	start, err := static.Load(initDir)
	if err != nil {
		return fmt.Errorf("the start %s: %w (the %s recipe tunes a static model; --recipe bundled or paper trains a transformer)", initDir, err, a.recipe)
	}
	tok := start.Tokenizer()
	var docs [][]int32
	var titles []int // each document's title length in tokens (--title-rate)
	if err := data.ReadTitled(a.corpus, func(title, text string) error {
		ids := tok.AppendTokenize(nil, document.Passage(title, text))
		docs = append(docs, ids)
		if o.TitleRate > 0 {
			// WordPiece splits at whitespace, so the passage's first
			// tokens are the title's.
			titles = append(titles, len(tok.AppendTokenize(nil, title)))
		}
		return ctx.Err()
	}); err != nil {
		return err
	}
	if n := statictune.Drawable(docs); n >= 2 && n < o.Batch {
		// A corpus smaller than the batch: every step holds all of it
		// (the same rule on --resume, so the state still matches).
		fmt.Fprintf(logw, "train: %d documents to draw from, fewer than the batch of %d: batch %d, the whole corpus each step\n", n, o.Batch, n)
		o.Batch = n
	}
	switch *tf.separateQueries {
	case "on":
		o.SeparateQueries = true
	case "auto":
		o.SeparateQueries = statictune.UseSeparateQueries(o.TitleRate, docs, titles)
	}
	w := slices.Clone(start.Weight())
	tr, err := statictune.New(w, start.Dim(), docs, o)
	if err != nil {
		return err
	}
	if titles != nil {
		if err := tr.SetTitles(titles); err != nil {
			return err
		}
	}
	// An asymmetric start (an --init model tuned with query rows): its
	// query rows start this run's, so that step 0 is the start; a run
	// whose queries share the rows drops them.
	var queryStart []float32
	switch {
	case start.Asymmetric() && o.SeparateQueries:
		queryStart = start.QueryWeight()
		if err := tr.SetQueryStart(queryStart); err != nil {
			return err
		}
	case start.Asymmetric():
		fmt.Fprintf(logw, "train: the start %s has query rows of its own; this run's queries share the document rows (--separate-queries %s), so the model it makes drops them\n", initDir, *tf.separateQueries)
	}
	if trState != nil {
		if err := tr.UnmarshalBinary(trState); err != nil {
			if savedWithoutDisjointBelow(start.Weight(), queryStart, start.Dim(), docs, titles, o, trState) {
				return fmt.Errorf("%s: %w (it was saved with overlapping crops in every document, as before --disjoint-below existed: resume it with --disjoint-below 0)", statePath, err)
			}
			if savedBeforeTitles(start.Weight(), start.Dim(), docs, o, trState) {
				return fmt.Errorf("%s: %w (it was saved by the recipe before titles as queries and separate query rows: resume it with --title-rate 0 --separate-queries off)", statePath, err)
			}
			return fmt.Errorf("%s: %w", statePath, err)
		}
		fmt.Fprintf(logw, "train: resumed at step %d\n", tr.Steps())
	}
	if clock != nil {
		// A small corpus: the schedule ends after --passes over its
		// tokens, if that comes before the budget.
		var h int64
		if *tf.passes > 0 {
			h = tr.StepsForPasses(*tf.passes)
		}
		if trState != nil && clock.Horizon() != h {
			return fmt.Errorf("%s: saved with a schedule ending at step %d (0: the budget), this run's --passes %g ends it at %d; resume with the same --passes", statePath, clock.Horizon(), *tf.passes, h)
		}
		clock.SetHorizon(h)
		if h > 0 {
			fmt.Fprintf(logw, "train: %g passes over the corpus's tokens take %d steps: the schedule ends there or with the budget, whichever comes first\n", *tf.passes, h)
		}
	}
	// The peak rate: --lr when given, else the recipe's rate for the
	// passes the run makes (statictune.RateForPasses): exact for --steps;
	// for --time, first that of the horizon, then, from probeSteps steps to
	// the warmup's end, that of the passes the measured speed lets the
	// budget make (kept in the state, so a resumed run keeps it).
	rate, decided := a.lr, true
	if !a.lrGiven {
		switch {
		case clock == nil:
			rate = statictune.RateForPasses(float64(a.steps) * tr.PassesPerStep())
		case savedRate > 0:
			rate = savedRate
		default:
			rate, decided = statictune.RateForPasses(float64(clock.Horizon())*tr.PassesPerStep()), false
		}
	}
	sched := contrastive.LinearSchedule(rate, a.warmup, a.steps)
	var extras string
	if o.TitleRate > 0 {
		extras += fmt.Sprintf(", titles as queries at rate %g", o.TitleRate)
	}
	if o.Queue > 0 {
		extras += fmt.Sprintf(", a queue of %d keys", o.Queue)
	}
	if o.SeparateQueries {
		extras += ", separate query rows"
	} else if *tf.separateQueries == "auto" && o.TitleRate > 0 {
		extras += fmt.Sprintf(", query rows shared (fewer than %g of the documents have a title)", statictune.SeparateQueriesMinTitled)
	}
	fmt.Fprintf(logw, "train: static-tuned, %d documents, %d dims, batch %d, τ %g, crops %d–%d / %d–%d tokens (disjoint below %d)%s, lr %g%s (× rms %.3g)\n",
		len(docs), start.Dim(), o.Batch, o.Temperature, o.QueryMin, o.QueryMax, o.KeyMin, o.KeyMax, o.DisjointBelow, extras, rate,
		map[bool]string{true: "", false: " until the speed is measured"}[decided], tr.RMS())

	csvPath := filepath.Join(a.out, "train.csv")
	lg, err := trainlog.Resume(csvPath, nil, tr.Steps())
	if err != nil {
		return err
	}
	defer lg.Close()
	save := func() error {
		if clock != nil {
			clock.Pause()
			defer clock.Start()
		}
		m, err := static.New(tok, tr.Weight(), start.Dim())
		if o.SeparateQueries {
			m, err = static.NewAsymmetric(tok, tr.Weight(), tr.QueryWeight(), start.Dim())
		}
		if err != nil {
			return err
		}
		m.Provenance = &static.Provenance{Recipe: static.RecipeTuned, Steps: tr.Steps(), Seed: o.Seed, Corpus: a.corpus, Passes: float64(tr.Steps()) * tr.PassesPerStep(), LR: rate}
		if a.budget > 0 {
			m.Provenance.Budget = a.budget.String()
		}
		if err := static.SaveDType(filepath.Join(a.out, "model"), m, tunedCard(a, o, tr, initDir, clock, rate), dtype); err != nil {
			return err
		}
		st, err := tr.MarshalBinary()
		if err != nil {
			return err
		}
		var cs []byte
		if clock != nil {
			if cs, err = clock.MarshalBinary(); err != nil {
				return err
			}
		}
		kept := rate
		if !decided {
			kept = 0 // decided by the resumed run
		}
		if err := atomicfile.WriteFile(statePath, joinTunedState(cs, st, kept)); err != nil {
			return err
		}
		if _, rows, err := trainlog.Read(csvPath); err == nil && len(rows) > 1 {
			if err := trainlog.Plot(filepath.Join(a.out, "train.png"), rows); err != nil {
				fmt.Fprintf(logw, "train: plot: %v\n", err)
			}
		}
		return nil
	}
	t0 := time.Now()
	var lossSum float64
	var n, pairs int64
	tLog := time.Now()
	var probe speedProbe
	if !decided {
		probe.add(clock.Elapsed())
	}
	for {
		if !decided && probe.steps() >= probeSteps {
			var e probeEstimate
			e, decided = probe.estimate(clock, tr.Steps(), tr.PassesPerStep())
			rate = e.rate
			if decided {
				fmt.Fprintf(logw, "train: %s a step over steps %d–%d: %.0f steps to %s, %.3g passes: lr %g\n", e.perStep.Round(time.Millisecond), tr.Steps()-int64(e.window), tr.Steps(), e.steps, e.bound, e.passes, rate)
			}
		}
		if a.steps > 0 && tr.Steps() >= a.steps || a.stopAt > 0 && tr.Steps() >= a.stopAt {
			break
		}
		var lr float64
		if clock != nil {
			f, ok := clock.NextFactor()
			if !ok {
				break
			}
			lr = rate * f
		} else {
			lr = sched.LR(int(tr.Steps()))
		}
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return errors.Join(err, serr)
			}
			fmt.Fprintf(os.Stderr, "train: stopped at step %d; state saved in %s (continue with --resume)\n", tr.Steps(), statePath)
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
		lossSum += tr.Step(lr)
		if !decided {
			probe.add(clock.Elapsed())
		}
		n++
		pairs += int64(o.Batch)
		if tr.Steps()%a.logEvery == 0 {
			rate := float64(pairs) / time.Since(tLog).Seconds()
			if err := lg.Write(trainlog.Row{Step: tr.Steps(), Loss: lossSum / float64(n), LR: lr, PairsPerS: rate}); err != nil {
				return err
			}
			left := ""
			if clock != nil {
				left = fmt.Sprintf(", %s of %s", clock.Elapsed().Round(time.Second), a.budget)
			} else if a.steps > 0 {
				left = fmt.Sprintf(" of %d", a.steps)
			}
			fmt.Fprintf(logw, "train: step %d%s, loss %.4f, lr %.3g, %.0f pairs/s\n", tr.Steps(), left, lossSum/float64(n), lr, rate)
			lossSum, n, pairs, tLog = 0, 0, 0, time.Now()
		}
		if a.checkpointEvery > 0 && tr.Steps()%a.checkpointEvery == 0 {
			if err := save(); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	fmt.Fprintf(logw, "train: %d steps in %s; model saved in %s\n", tr.Steps(), time.Since(t0).Round(time.Second), filepath.Join(a.out, "model"))
	return nil
}

// The state file of static-tuned: magic, the peak rate (float64; 0: not
// decided yet), the clock state's length and bytes (length 0: no --time),
// then the trainer's state. The first version had no rate.
const (
	tunedStateMagic   = "CTSTRUN2"
	tunedStateMagicV1 = "CTSTRUN1"
)

// A --time run sets its rate from the passes the budget allows at the
// speed of the later half of the steps it has timed: from probeSteps steps
// on, again at every step, until its warmup ends (or probeMaxSteps steps
// are timed); the rate of the warmup's end is kept.
const (
	probeSteps    = 40
	probeMaxSteps = 1 << 16
)

// speedProbe estimates the training time of a step from the later half of
// the steps timed so far. The first steps of a run are slower than the
// rest (rows touched for the first time get their optimiser moments, the
// caches are cold): on SciFact 186 ms a step over the first 10 and 94 ms
// from the 40th on, so an average from the start underestimates the steps
// a budget allows (363 against the 608 made in 60 s).
type speedProbe struct {
	at []time.Duration // training time before the first step and after each
}

// add records the training time after a step (the first call: before the
// first).
func (p *speedProbe) add(elapsed time.Duration) { p.at = append(p.at, elapsed) }

// steps returns the number of steps timed.
func (p *speedProbe) steps() int { return max(0, len(p.at)-1) }

// probeEstimate is what the probe makes of the speed so far.
type probeEstimate struct {
	perStep       time.Duration
	window        int     // the last steps perStep is the mean of
	steps, passes float64 // where the schedule will end
	bound         string  // what ends it: the budget or the --passes cap
	rate          float64 // statictune.RateForPasses(passes)
}

// estimate returns the rate for the passes the rest of clock's budget
// allows at the probe's speed (or its horizon's, when that comes first),
// after done steps of passesPerStep passes each, and whether it is final:
// the warmup is over, or probeMaxSteps are timed. Before that, a run takes
// it again at every step, so that the rate follows the speed as it
// settles.
func (p *speedProbe) estimate(clock *contrastive.BudgetClock, done int64, passesPerStep float64) (probeEstimate, bool) {
	e := probeEstimate{bound: "the budget"}
	e.perStep, e.window = p.perStep()
	left := clock.Budget().Total - clock.Elapsed()
	e.steps = float64(done) + float64(left)/float64(max(e.perStep, time.Microsecond))
	if h := clock.Horizon(); h > 0 && float64(h) <= e.steps {
		e.steps, e.bound = float64(h), "the --passes cap"
	}
	e.passes = e.steps * passesPerStep
	e.rate = statictune.RateForPasses(e.passes)
	return e, clock.Progress() >= clock.Budget().Warmup || p.steps() >= probeMaxSteps
}

// perStep returns the mean training time of a step over the later half of
// the steps timed, and how many steps that is (0, 0 before two steps).
func (p *speedProbe) perStep() (time.Duration, int) {
	n := p.steps()
	if n < 2 {
		return 0, 0
	}
	h := n / 2
	return (p.at[n] - p.at[h]) / time.Duration(n-h), n - h
}

func joinTunedState(clock, trainer []byte, rate float64) []byte {
	out := append([]byte(tunedStateMagic), binary.LittleEndian.AppendUint64(nil, math.Float64bits(rate))...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(clock)))
	out = append(out, clock...)
	return append(out, trainer...)
}

func splitTunedState(b []byte) (clock, trainer []byte, rate float64, err error) {
	switch {
	case len(b) >= 20 && bytes.Equal(b[:8], []byte(tunedStateMagic)):
		rate = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		if !(rate >= 0) || math.IsInf(rate, 0) {
			return nil, nil, 0, fmt.Errorf("%w: learning rate %g in the state", contrastive.ErrCorrupt, rate)
		}
		b = b[16:]
	case len(b) >= 12 && bytes.Equal(b[:8], []byte(tunedStateMagicV1)):
		b = b[8:]
	default:
		return nil, nil, 0, fmt.Errorf("%w: not a static-tuned state", contrastive.ErrCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b)-4 {
		return nil, nil, 0, fmt.Errorf("%w: truncated state", contrastive.ErrCorrupt)
	}
	if n > 0 {
		clock = b[4 : 4+n]
	}
	return clock, b[4+n:], rate, nil
}

func tunedCard(a trainArgs, o statictune.Options, tr *statictune.Trainer, initDir string, clock *contrastive.BudgetClock, rate float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Static embedding model, contrastively tuned (static-tuned)\n\n")
	fmt.Fprintf(&b, "Built by `contriever train --recipe static-tuned` from the corpus alone: the PPMI + SVD static model (`--recipe static`, in %s), then its token rows trained with in-batch InfoNCE on crop pairs from the corpus (package contrastive/statictune). A text is the normalised sum of its token rows ([CLS]/[SEP] not added), compared by cosine; sentence-transformers loads the folder as a StaticEmbedding model.\n\n", initDir)
	fmt.Fprintf(&b, "| setting | value |\n|---|---|\n| corpus | %s |\n| steps | %d |\n", a.corpus, tr.Steps())
	if clock != nil {
		fmt.Fprintf(&b, "| time budget | %s (training time so far %s, the start's build included) |\n", a.budget, clock.Elapsed().Round(time.Second))
		if h := clock.Horizon(); h > 0 {
			fmt.Fprintf(&b, "| schedule | ends at step %d (%.4g passes over the corpus's tokens) or with the budget, whichever comes first |\n", h, float64(h)*tr.PassesPerStep())
		}
	}
	fmt.Fprintf(&b, "| batch | %d pairs, in-batch negatives%s |\n| τ | %g |\n", o.Batch, map[bool]string{true: ", both directions", false: ""}[o.Symmetric], o.Temperature)
	fmt.Fprintf(&b, "| crops | query %d–%d tokens, key %d–%d tokens, token deletion %g; disjoint in documents shorter than %d tokens |\n", o.QueryMin, o.QueryMax, o.KeyMin, o.KeyMax, o.Deletion, o.DisjointBelow)
	if o.TitleRate > 0 {
		fmt.Fprintf(&b, "| titles as queries | with probability %g a document's title is the query and a crop of the rest the key |\n", o.TitleRate)
	}
	if o.SeparateQueries {
		fmt.Fprintf(&b, "| query rows | separate: queries are embedded with their own token rows, started as the key rows and trained beside them (a Router folder: sentence-transformers' encode_query and encode_document) |\n")
	}
	if o.Queue > 0 {
		fmt.Fprintf(&b, "| queue | the keys of the last %d pairs as extra negatives, without gradient (MoCo) |\n", o.Queue)
	}
	fmt.Fprintf(&b, "| optimiser | lazy Adam (β 0.9/0.999) on the touched rows, peak lr %g × the start's rms entry (%.4g)%s, linear warmup and decay |\n| anchor | %g |\n| seed | %d |\n\n", rate, tr.RMS(), map[bool]string{true: "", false: " (the recipe's rate for the run's passes)"}[a.lrGiven], o.Anchor, o.Seed)
	fmt.Fprintf(&b, "The recipe's settings were chosen on SciFact **train** queries (see the project README's ablation table).\n")
	return b.String()
}

// restores reports whether the trainer state st restores into a trainer
// made with o from the rows w (dim wide; with separate query rows, those
// of queryStart when not nil), docs and, with titles as queries, their
// title lengths.
func restores(w, queryStart []float32, dim int, docs [][]int32, titles []int, o statictune.Options, st []byte) bool {
	tr, err := statictune.New(slices.Clone(w), dim, docs, o)
	if err != nil {
		return false
	}
	if o.TitleRate > 0 && titles != nil {
		if err := tr.SetTitles(titles); err != nil {
			return false
		}
	}
	if o.SeparateQueries && queryStart != nil {
		if err := tr.SetQueryStart(queryStart); err != nil {
			return false
		}
	}
	return tr.UnmarshalBinary(st) == nil
}

// savedWithoutDisjointBelow reports whether a state that does not restore
// under o would restore with o.DisjointBelow 0, the recipe before that
// option existed (only called when restoring has failed).
func savedWithoutDisjointBelow(w, queryStart []float32, dim int, docs [][]int32, titles []int, o statictune.Options, st []byte) bool {
	if o.DisjointBelow == 0 {
		return false
	}
	o.DisjointBelow = 0
	return restores(w, queryStart, dim, docs, titles, o, st)
}

// savedBeforeTitles reports whether a state that does not restore under
// o would restore without titles as queries and separate query rows, the
// recipe before they were its defaults (only called when restoring has
// failed).
func savedBeforeTitles(w []float32, dim int, docs [][]int32, o statictune.Options, st []byte) bool {
	if o.TitleRate == 0 && !o.SeparateQueries {
		return false
	}
	o.TitleRate, o.SeparateQueries = 0, false
	return restores(w, nil, dim, docs, nil, o, st)
}

// tunedSteps reads the step count of a static-tuned state file.
func tunedSteps(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	_, st, _, err := splitTunedState(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return statictune.StateSteps(st)
}
