package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/internal/gzfile"
	"github.com/contriever-go/contriever/internal/npy"
	"github.com/contriever-go/contriever/internal/progress"
)

func init() {
	register(command{
		name:    "embed",
		summary: "embed JSONL texts (BEIR corpus or queries) into a float32 .npy",
		run:     runEmbed,
	})
}

// embedChunk is how many input lines are tokenised, sorted by length and
// embedded at a time: it bounds memory on large corpora while leaving
// enough texts to batch by length.
const embedChunk = 8192

func runEmbed(args []string) error {
	fs := newFlagSet("embed", "--model DIR --input FILE.jsonl[.gz] --out FILE.npy [--prompt-name NAME | --prompt TEXT] [--pooling mean|cls|max|mean_sqrt_len] [--normalize] [--max-length N] [--batch-size 32] [--precision f32|bf16|int8] [--shard i/n] [--quiet]")
	model := fs.String("model", "", "model folder: HF (config.json, model.safetensors or pytorch_model.bin, vocab.txt or tokenizer.json), sentence-transformers (modules.json and the rest, followed in full) or static (a StaticEmbedding modules.json) (required)")
	input := fs.String("input", "", "JSONL input (optionally gzipped): BEIR corpus lines {\"title\", \"text\"} or {\"text\": ...} (required)")
	out := fs.String("out", "", "output .npy, float32 [n, dim] in input order (required)")
	promptName := fs.String("prompt-name", "", "prepend the model's prompt of this name (config_sentence_transformers.json \"prompts\"), e.g. query; default: the model's default_prompt_name, if any")
	prompt := fs.String("prompt", "", "prepend this text to every input (instead of --prompt-name)")
	pooling := fs.String("pooling", "mean", "override the folder's pooling: mean, cls, max or mean_sqrt_len (default: the folder's 1_Pooling, mean for a plain HF folder)")
	normalize := fs.Bool("normalize", false, "override the folder's normalisation (default: L2-normalise when modules.json has Normalize; a plain HF folder does not)")
	maxLen := fs.Int("max-length", encoder.DefaultMaxLength, "override the folder's truncation, in tokens with [CLS] and [SEP] (default: max_seq_length, 512 for a plain HF folder)")
	batch := fs.Int("batch-size", encoder.DefaultBatchSize, "texts per forward pass")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	precName := fs.String("precision", "f32", "arithmetic of the encoder's linear layers: f32, bf16 or int8")
	shard := fs.String("shard", "", "embed only shard i of n (\"i/n\"): the i-th of n contiguous, nearly equal ranges of input lines; `embed-merge` joins the shards' files in order")
	every := fs.Int("sort-window", embedChunk, "texts tokenised and sorted by length together (batches are formed within); a checkpoint (OUT.part, OUT.part.json) follows every batch, so a killed run loses at most one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	prec, err := encoder.ParsePrecision(*precName)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *model == "" || *input == "" || *out == "" {
		fs.Usage()
		return errors.New("--model, --input and --out are required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["prompt"] && set["prompt-name"] {
		return errors.New("--prompt and --prompt-name: give one or the other")
	}
	var pool encoder.Pooling
	if set["pooling"] {
		p, err := encoder.ParsePooling(*pooling)
		if err != nil {
			return fmt.Errorf("--pooling: %w", err)
		}
		pool = p
	}
	if *maxLen < 2 {
		return fmt.Errorf("--max-length %d: must be at least 2", *maxLen)
	}
	if *batch <= 0 {
		return fmt.Errorf("--batch-size %d: must be positive", *batch)
	}
	if *every <= 0 {
		return fmt.Errorf("--sort-window %d: must be positive", *every)
	}
	if static.IsModel(*model) {
		if prec != encoder.F32 {
			return fmt.Errorf("--precision %s: model %s: %w", prec, *model, engine.ErrStaticPrecision)
		}
		query := false
		switch {
		case !set["prompt-name"]:
		case *promptName == "query":
			query = true // an asymmetric model's query vectors (encode_query)
		case *promptName != "document" && *promptName != "passage":
			return fmt.Errorf("--prompt-name %q: model %s is a static model, which has no prompts; --prompt-name query embeds the inputs as queries, document (the default) as documents", *promptName, *model)
		}
		return embedStatic(*model, *input, *out, set["prompt"], *prompt, query, pool, *normalize, set["normalize"], *maxLen, *quiet)
	}
	folder, err := encoder.ReadFolder(*model)
	if err != nil {
		return err
	}
	conv := &folder.Conventions
	if set["pooling"] {
		conv.Pooling = pool
	}
	if set["normalize"] {
		conv.Normalize = *normalize
	}
	if set["max-length"] {
		conv.MaxLength = *maxLen
	}
	var text *string // the prompt, nil for none
	switch {
	case set["prompt"]:
		text = prompt
	case set["prompt-name"]:
		p, err := conv.Prompt(*promptName)
		if err != nil {
			return fmt.Errorf("--prompt-name: model folder %s: %w", *model, err)
		}
		text = &p
	default:
		text = conv.DefaultPrompt()
	}
	// Read the input first: a bad line fails before the model loads.
	texts, err := readEmbedInput(*input)
	if err != nil {
		return err
	}
	if *shard != "" {
		lo, hi, err := parseShard(*shard, len(texts))
		if err != nil {
			return err
		}
		if lo == hi {
			return fmt.Errorf("--shard %s: no lines (the input has %d)", *shard, len(texts))
		}
		texts = texts[lo:hi]
	}
	promptKey := "none"
	if text != nil {
		promptKey = fmt.Sprintf("%q", *text)
	}
	// A reduced precision is part of the checkpoint key (as the arithmetic
	// the kernels run), so a run resumes only vectors of its own kernels;
	// f32 keeps the key of checkpoints written before precisions existed.
	convKey := conv.String()
	if prec != encoder.F32 {
		convKey += " precision=" + prec.Arithmetic()
	}
	key, err := embedKey(*input, *model, convKey, *batch, fmt.Sprintf("%s|window %d|prompt %s", *shard, *every, promptKey))
	if err != nil {
		return err
	}
	folder.Precision = prec
	enc, err := folder.Open(*batch)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := progress.New("embed", int64(len(texts)), "texts", *quiet)
	dim := enc.Dim()
	t0 := time.Now()
	n := len(texts)
	done, err := writeEmbeddingsResumable(ctx, enc, texts, text, *out, key, *every, *batch, bar, *quiet)
	bar.Finish()
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "embed: %d × %d float32 (%s) -> %s\n", n, dim, prec.Arithmetic(), *out)
		// Throughput of this run's own work (a resumed run counts the
		// texts it embedded, not those of the checkpoint).
		if sec := time.Since(t0).Seconds(); done > 0 && sec > 0 {
			fmt.Fprintf(os.Stderr, "embed: throughput %.1f docs/s (%d texts in %.1fs; model %s, dim %d, pooling %s, normalize %v, max-length %d, batch %d, %d threads)\n",
				float64(done)/sec, done, sec, *model, dim, conv.Pooling, conv.Normalize, conv.MaxLength, *batch, runtime.GOMAXPROCS(0))
		}
	}
	return nil
}

// embedStatic embeds with a static model (engine.OpenEmbedder: a table
// lookup and a normalised mean; --prompt prepended when given, a static
// folder declaring no prompts; --pooling cls refused).
func embedStatic(model, input, out string, hasPrompt bool, prompt string, query bool, pool encoder.Pooling, normalize, setNormalize bool, maxLen int, quiet bool) error {
	if setNormalize && !normalize {
		return fmt.Errorf("model %s: a static model always normalises; --normalize=false does not apply", model)
	}
	texts, err := readEmbedInput(input)
	if err != nil {
		return err
	}
	enc, err := engine.OpenEmbedder(model, encoder.Options{Pooling: pool, MaxLength: maxLen}, 1)
	if err != nil {
		return err
	}
	defer enc.Close()
	var p *string
	if hasPrompt {
		p = &prompt
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := progress.New("embed", int64(len(texts)), "texts", quiet)
	n, dim := len(texts), enc.Dim()
	err = writeEmbeddings(ctx, func(ctx context.Context, dst []float32, texts []string, progress func(int)) error {
		if query {
			return engine.EmbedQueriesPromptedTo(ctx, enc, dst, texts, p, progress)
		}
		return engine.EmbedPromptedTo(ctx, enc, dst, texts, p, progress)
	}, dim, texts, out, bar)
	bar.Finish()
	if err == nil && !quiet {
		fmt.Fprintf(os.Stderr, "embed: %d × %d float32 -> %s\n", n, dim, out)
	}
	return err
}

// embedLine is one input line: a BEIR corpus document or a query.
type embedLine struct {
	Title *string `json:"title"`
	Text  *string `json:"text"`
}

// readEmbedInput reads the texts of a JSONL file (gzip detected from the
// content): title + " " + text, or text alone when the title is absent or
// empty. Blank lines are skipped; bad JSON, a missing or non-string "text"
// and an empty file are errors naming the file and line.
func readEmbedInput(path string) ([]string, error) {
	rc, err := gzfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return parseEmbedJSONL(rc, path)
}

// parseEmbedJSONL parses the input lines (see readEmbedInput).
func parseEmbedJSONL(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var texts []string
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec embedLine
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s:%d: bad JSON: %v", name, line, err)
		}
		if rec.Text == nil {
			return nil, fmt.Errorf("%s:%d: missing \"text\" field", name, line)
		}
		text := *rec.Text
		if rec.Title != nil {
			text = document.Passage(*rec.Title, text)
		}
		texts = append(texts, text)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%s: no input lines (empty file)", name)
	}
	return texts, nil
}

// embedFunc embeds texts into dst (len(texts)·dim floats), calling
// progress with the number done.
type embedFunc func(ctx context.Context, dst []float32, texts []string, progress func(done int)) error

// writeEmbeddings embeds texts embedChunk at a time and streams the
// vectors, in input order, into a float32 [len(texts), dim] .npy file at
// path (internal/npy: a temporary file renamed into place when complete),
// through embed (the prompt applied by the caller). Texts are released as
// they are embedded.
func writeEmbeddings(ctx context.Context, embed embedFunc, dim int, texts []string, path string, bar *progress.Bar) error {
	w, err := npy.NewWriter(path, len(texts), dim)
	if err != nil {
		return err
	}
	defer w.Abort()
	vec := make([]float32, 0, embedChunk*dim)
	for lo := 0; lo < len(texts); lo += embedChunk {
		hi := min(lo+embedChunk, len(texts))
		vec = vec[:(hi-lo)*dim]
		last := 0
		if err := embed(ctx, vec, texts[lo:hi], func(done int) {
			bar.Add(int64(done - last))
			last = done
		}); err != nil {
			return err
		}
		if err := w.Write(vec); err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			texts[i] = "" // let the text go
		}
	}
	return w.Close()
}
