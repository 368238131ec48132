package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/progress"
)

func init() {
	register(command{
		name:    "tokenize",
		summary: "WordPiece-encode JSONL text (HF-identical ids and type ids)",
		run:     runTokenize,
	})
	registerBench(command{
		name:    "tokenizer",
		summary: "WordPiece throughput on a BEIR corpus, 1 thread and all threads (tokens/s)",
		run:     runBenchTokenizer,
	})
}

// hfTokenizerTokensPerSec is HF tokenizers 0.23's encodeBatch throughput on
// the SciFact documents on one core of the project's 2-core VM
// (../shared/fixtures/tokenizer/README.md).
const hfTokenizerTokensPerSec = 455e3

func runBenchTokenizer(args []string) error {
	fs := newFlagSet("bench tokenizer", "[--model PATH] [--corpus corpus.jsonl[.gz]] [--reps N] [--max-length N]")
	model := fs.String("model", "data/vocab/vocab.txt", "model folder, vocab.txt or tokenizer.json")
	corpus := fs.String("corpus", "data/scifact/corpus.jsonl.gz", "BEIR corpus (title + \" \" + text per document)")
	reps := fs.Int("reps", 7, "timed passes per setting (the median is reported)")
	maxLen := fs.Int("max-length", 0, "truncate to N tokens (0 = none, as in the HF reference figure)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("--reps %d: must be >= 1", *reps)
	}
	tok, err := wordpiece.Load(*model)
	if err != nil {
		return err
	}
	docs, err := readCorpusTexts(*corpus)
	if err != nil {
		return err
	}
	threads := []int{1}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		threads = append(threads, n)
	}
	fmt.Printf("%d documents from %s; HF tokenizers 0.23 reference: %.0f tokens/s (1 core)\n", len(docs), *corpus, hfTokenizerTokensPerSec)
	fmt.Printf("%-8s %14s %14s %10s\n", "threads", "median tok/s", "best tok/s", "vs HF")
	for _, th := range threads {
		prev := runtime.GOMAXPROCS(th)
		tok.EncodeBatch(docs, *maxLen) // warm-up
		rates := make([]float64, 0, *reps)
		for r := 0; r < *reps; r++ {
			start := time.Now()
			n := 0
			for _, e := range tok.EncodeBatch(docs, *maxLen) {
				n += len(e.IDs)
			}
			rates = append(rates, float64(n)/time.Since(start).Seconds())
		}
		runtime.GOMAXPROCS(prev)
		sort.Float64s(rates)
		med := rates[len(rates)/2]
		fmt.Printf("%-8d %14.0f %14.0f %9.2fx\n", th, med, rates[len(rates)-1], med/hfTokenizerTokensPerSec)
	}
	return nil
}

// readCorpusTexts reads a BEIR corpus.jsonl (optionally gzipped) as
// Contriever's document strings: title + " " + text, or text when the
// title is empty.
func readCorpusTexts(path string) ([]string, error) {
	var docs []string
	if err := beir.ReadCorpus(path, func(d beir.Doc) error {
		docs = append(docs, d.Passage())
		return nil
	}); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s: %w", path, errNoRecords)
	}
	return docs, nil
}

func runTokenize(args []string) error {
	fs := newFlagSet("tokenize", "--model DIR|vocab.txt|tokenizer.json --input FILE.jsonl [--max-length N] --out FILE.jsonl")
	model := fs.String("model", "", "model folder, vocab.txt or tokenizer.json (required)")
	input := fs.String("input", "", "input JSONL, one {\"text\": ..., \"text_pair\"?: ...} per line (required)")
	out := fs.String("out", "", "output JSONL, one {\"ids\": [...], \"type_ids\": [...]} per input line (required)")
	maxLen := fs.Int("max-length", 0, "truncate to N tokens, specials included (longest_first for pairs); 0 = no truncation")
	cased := fs.Bool("cased", false, "treat a bare vocab.txt as cased (no lowercasing or accent stripping)")
	classic := fs.Bool("classic-truncation", false, "pair truncation as tokenizers <= 0.22 (default: 0.23's early-exit rule)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *model == "" || *input == "" || *out == "" {
		fs.Usage()
		return errors.New("--model, --input and --out are required")
	}
	if *maxLen < 0 {
		return fmt.Errorf("--max-length %d: must be >= 0", *maxLen)
	}
	cfg := wordpiece.LoadConfig{ClassicTruncation: *classic}
	if *cased {
		f := false
		cfg.Lowercase = &f
	}
	tok, err := wordpiece.LoadWith(*model, cfg)
	if err != nil {
		return err
	}
	in, err := os.Open(*input)
	if err != nil {
		return err
	}
	defer in.Close()
	var total int64
	if st, err := in.Stat(); err == nil {
		total = st.Size()
	}
	bar := progress.New("tokenize", total, "B", *quiet)
	var n int
	err = atomicfile.Write(*out, func(w io.Writer) (err error) {
		n, err = tokenizeJSONL(tok, in, *input, w, *maxLen, bar)
		return err
	})
	bar.Finish()
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "tokenize: %d lines -> %s\n", n, *out)
	}
	return nil
}

// errNoRecords is returned for an input without any JSON line.
var errNoRecords = errors.New("no input lines")

// tokenizeLine is one input line of `contriever tokenize`.
type tokenizeLine struct {
	Text     *string `json:"text"`
	TextPair *string `json:"text_pair"`
}

// tokenizeJSONL reads {"text": ..., "text_pair"?: ...} lines from in (named
// name in errors), encodes them with tok (maxLen as in Encode/EncodePair)
// in batches on all cores, and writes {"ids": [...], "type_ids": [...]}
// lines to out in input order. Blank lines are skipped; bad JSON, a missing
// or non-string text, or an input with no lines is an error naming the
// line. It returns the number of lines written.
func tokenizeJSONL(tok *wordpiece.Tokenizer, in io.Reader, name string, out io.Writer, maxLen int, bar *progress.Bar) (int, error) {
	const batch = 2048
	br := bufio.NewReaderSize(in, 1<<20)
	var (
		texts, pairs []string
		isPair       []bool
		lineNo, n    int
		buf          []byte
	)
	flush := func() error {
		// Singles and pairs are encoded as two batches, then interleaved
		// back into input order.
		var st, pa, pb []string
		for i, p := range isPair {
			if p {
				pa, pb = append(pa, texts[i]), append(pb, pairs[i])
			} else {
				st = append(st, texts[i])
			}
		}
		single := tok.EncodeBatch(st, maxLen)
		paired := tok.EncodePairBatch(pa, pb, maxLen)
		encs := make([]wordpiece.Encoding, 0, len(texts))
		for _, p := range isPair {
			if p {
				encs, paired = append(encs, paired[0]), paired[1:]
			} else {
				encs, single = append(encs, single[0]), single[1:]
			}
		}
		for _, e := range encs {
			buf = appendEncodingJSON(buf[:0], e)
			if _, err := out.Write(buf); err != nil {
				return err
			}
		}
		n += len(encs)
		texts, pairs, isPair = texts[:0], pairs[:0], isPair[:0]
		return nil
	}
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
			bar.Add(int64(len(line)))
			if t := bytes.TrimSpace(line); len(t) > 0 {
				var l tokenizeLine
				if jerr := json.Unmarshal(t, &l); jerr != nil {
					return n, fmt.Errorf("%s:%d: bad JSON: %w", name, lineNo, jerr)
				}
				if l.Text == nil {
					return n, fmt.Errorf("%s:%d: missing field \"text\"", name, lineNo)
				}
				texts = append(texts, *l.Text)
				if l.TextPair != nil {
					pairs = append(pairs, *l.TextPair)
					isPair = append(isPair, true)
				} else {
					pairs = append(pairs, "")
					isPair = append(isPair, false)
				}
				if len(texts) == batch {
					if ferr := flush(); ferr != nil {
						return n, ferr
					}
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
		}
	}
	if len(texts) > 0 {
		if err := flush(); err != nil {
			return n, err
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: %w", name, errNoRecords)
	}
	return n, nil
}

// appendEncodingJSON appends {"ids":[...],"type_ids":[...]}\n to dst.
func appendEncodingJSON(dst []byte, e wordpiece.Encoding) []byte {
	dst = append(dst, `{"ids":[`...)
	for i, id := range e.IDs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(id), 10)
	}
	dst = append(dst, `],"type_ids":[`...)
	for i, id := range e.TypeIDs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(id), 10)
	}
	return append(dst, "]}\n"...)
}
