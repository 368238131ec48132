package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/contriever-go/contriever/document"
	"github.com/contriever-go/contriever/encoder"
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
	fs := newFlagSet("embed", "--model DIR --input FILE.jsonl[.gz] --out FILE.npy [--pooling mean|cls] [--normalize] [--max-length 512] [--batch-size 32] [--precision f32|bf16|int8] [--quiet]")
	model := fs.String("model", "", "HF model folder: config.json, model.safetensors or pytorch_model.bin, vocab.txt or tokenizer.json (required)")
	input := fs.String("input", "", "JSONL input (optionally gzipped): BEIR corpus lines {\"title\", \"text\"} or {\"text\": ...} (required)")
	out := fs.String("out", "", "output .npy, float32 [n, dim] in input order (required)")
	pooling := fs.String("pooling", "mean", "mean (Contriever: over all tokens incl. [CLS]/[SEP]) or cls")
	normalize := fs.Bool("normalize", false, "L2-normalise each vector (Contriever does not)")
	maxLen := fs.Int("max-length", encoder.DefaultMaxLength, "truncate to N tokens, [CLS] and [SEP] included")
	batch := fs.Int("batch-size", encoder.DefaultBatchSize, "texts per forward pass")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	precName := fs.String("precision", "f32", "arithmetic of the encoder's linear layers: f32, bf16 or int8")
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
	pool, err := encoder.ParsePooling(*pooling)
	if err != nil {
		return err
	}
	if *maxLen < 2 {
		return fmt.Errorf("--max-length %d: must be at least 2", *maxLen)
	}
	if *batch <= 0 {
		return fmt.Errorf("--batch-size %d: must be positive", *batch)
	}
	// Read the input first: a bad line fails before the model loads.
	texts, err := readEmbedInput(*input)
	if err != nil {
		return err
	}
	enc, err := encoder.Open(*model, encoder.Options{Pooling: pool, Normalize: *normalize, MaxLength: *maxLen, BatchSize: *batch, Precision: prec})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := progress.New("embed", int64(len(texts)), "texts", *quiet)
	dim := enc.Dim()
	err = writeEmbeddings(ctx, enc, texts, *out, bar)
	bar.Finish()
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "embed: %d × %d float32 (%s) -> %s\n", len(texts), dim, prec.Arithmetic(), *out)
	}
	return nil
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

// writeEmbeddings embeds texts embedChunk at a time and streams the
// vectors, in input order, into a float32 [len(texts), dim] .npy file at
// path (internal/npy: a temporary file renamed into place when complete).
// Texts are released as they are embedded.
func writeEmbeddings(ctx context.Context, enc *encoder.Encoder, texts []string, path string, bar *progress.Bar) error {
	dim := enc.Dim()
	w, err := npy.NewWriter(path, len(texts), dim)
	if err != nil {
		return err
	}
	defer w.Abort()
	vec := make([]float32, 0, embedChunk*dim)
	for lo := 0; lo < len(texts); lo += embedChunk {
		hi := min(lo+embedChunk, len(texts))
		ids := enc.Tokenize(texts[lo:hi])
		vec = vec[:(hi-lo)*dim]
		last := 0
		if err := enc.EncodeIDsTo(ctx, vec, ids, func(done int) {
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
