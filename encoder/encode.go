package encoder

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
)

// Tokenizer gives the token ids of a text, with [CLS] in front and [SEP]
// at the end, truncated to at most maxLen ids (special tokens included).
// It must be safe for concurrent use.
type Tokenizer interface {
	EncodeIDs(text string, maxLen int) []int32
}

// Options control Encode.
type Options struct {
	// Pooling is PoolMean (Contriever, the default), PoolCLS, PoolMax or
	// PoolMeanSqrtLen.
	Pooling Pooling
	// Normalize L2-normalises each vector (Contriever does not).
	Normalize bool
	// ExcludePrompt leaves a prompt's tokens, and [CLS] with them, out of
	// the pooling of Embed and EmbedTo (sentence-transformers'
	// include_prompt false). Without a prompt it changes nothing.
	ExcludePrompt bool
	// LowerCase lowercases texts (prompt included) before tokenising them in
	// Embed and EmbedTo (sentence_bert_config.json's do_lower_case).
	LowerCase bool
	// MaxLength truncates each text to this many tokens, special tokens
	// included (0: 512, capped by max_position_embeddings).
	MaxLength int
	// BatchSize is the number of texts per forward pass (0: 32).
	BatchSize int
	// Precision of the linear layers (F32 by default); New prepares the
	// model's weights for it.
	Precision Precision
}

// DefaultMaxLength is the truncation length of BEIR evaluation.
const DefaultMaxLength = 512

// DefaultBatchSize is the default number of texts per forward pass.
const DefaultBatchSize = 32

// ErrEmpty reports an encoding request with nothing to encode.
var ErrEmpty = errors.New("encoder: empty token sequence")

// Encoder turns texts into vectors with a Model: it tokenises them, sorts
// them by length into batches to limit padding, runs the forward pass
// (both cores through the parallel sgemm and attention), pools, and
// returns the vectors in input order. Buffers are reused across batches
// and calls. An Encoder serialises its calls; use one per goroutine for
// concurrency.
type Encoder struct {
	model *Model
	tok   Tokenizer
	opts  Options
	conv  *Conventions // set by Folder.Open

	mu   sync.Mutex
	acts *Activations
}

// New returns an Encoder for model with tokenizer tok (which may be nil
// if only EncodeIDs is used).
func New(model *Model, tok Tokenizer, opts Options) (*Encoder, error) {
	if opts.MaxLength <= 0 {
		opts.MaxLength = DefaultMaxLength
	}
	if opts.MaxLength > model.Config.MaxPositionEmbeddings {
		opts.MaxLength = model.Config.MaxPositionEmbeddings
	}
	if opts.MaxLength < 2 {
		return nil, fmt.Errorf("encoder: max length %d leaves no room for [CLS] and [SEP]", opts.MaxLength)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if !opts.Pooling.valid() {
		return nil, fmt.Errorf("encoder: unknown pooling %v: %w", opts.Pooling, ErrUnsupportedPooling)
	}
	if err := model.Prepare(opts.Precision); err != nil {
		return nil, err
	}
	return &Encoder{model: model, tok: tok, opts: opts}, nil
}

// Release drops the encoder's activation buffers (they are reallocated
// by the next call), for long-lived processes that encode rarely.
func (e *Encoder) Release() {
	e.mu.Lock()
	e.acts = nil
	e.mu.Unlock()
}

// Model returns the encoder's model.
func (e *Encoder) Model() *Model { return e.model }

// Options returns the encoder's options, defaults filled in.
func (e *Encoder) Options() Options { return e.opts }

// Dim returns the vector dimension (the hidden size).
func (e *Encoder) Dim() int { return e.model.Config.HiddenSize }

// Tokenize returns the ids of each text, tokenised in parallel and cut at
// the encoder's MaxLength.
func (e *Encoder) Tokenize(texts []string) [][]int32 {
	return TokenizeAll(e.tok, texts, e.opts.MaxLength)
}

// TokenizeAll returns tok's ids of each text, cut at maxLen tokens (0: no
// limit), tokenised on GOMAXPROCS goroutines that take blocks of 16 texts.
func TokenizeAll(tok Tokenizer, texts []string, maxLen int) [][]int32 {
	ids := make([][]int32, len(texts))
	workers := min(runtime.GOMAXPROCS(0), len(texts))
	var wg sync.WaitGroup
	var next atomic.Int64
	const block = 16
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(block)) - block
				if i >= len(texts) {
					return
				}
				for j := i; j < min(i+block, len(texts)); j++ {
					ids[j] = tok.EncodeIDs(texts[j], maxLen)
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

// Encode embeds texts and returns the vectors flat, row i (Dim() wide)
// for texts[i]. It stops between batches when ctx is done.
func (e *Encoder) Encode(ctx context.Context, texts []string) ([]float32, error) {
	if e.tok == nil {
		return nil, errors.New("encoder: no tokenizer")
	}
	return e.EncodeIDs(ctx, e.Tokenize(texts), nil)
}

// EncodeIDs embeds token sequences (each with its [CLS] and [SEP], at
// most MaxLength long; longer ones are cut, keeping the final id) and
// returns the vectors flat in input order. progress, if not nil, is
// called with the number of sequences done after each batch.
func (e *Encoder) EncodeIDs(ctx context.Context, ids [][]int32, progress func(done int)) ([]float32, error) {
	out := make([]float32, len(ids)*e.Dim())
	if err := e.EncodeIDsTo(ctx, out, ids, progress); err != nil {
		return nil, err
	}
	return out, nil
}

// EncodeIDsTo is EncodeIDs writing into out [len(ids)·Dim()].
func (e *Encoder) EncodeIDsTo(ctx context.Context, out []float32, ids [][]int32, progress func(done int)) error {
	return e.EncodeIDsSkipTo(ctx, out, ids, 0, progress)
}

// EncodeIDsSkipTo is EncodeIDsTo with the first skip positions of every
// sequence left out of the pooling (not of the attention): the prompt
// positions that TokenizePrompted reports when ExcludePrompt is set.
func (e *Encoder) EncodeIDsSkipTo(ctx context.Context, out []float32, ids [][]int32, skip int, progress func(done int)) error {
	H := e.Dim()
	if len(out) < len(ids)*H {
		return fmt.Errorf("encoder: output holds %d values, need %d", len(out), len(ids)*H)
	}
	for i, s := range ids {
		if len(s) == 0 {
			return fmt.Errorf("%w (sequence %d)", ErrEmpty, i)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Longest first: the first batch sizes the buffers once.
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(ids[order[a]]) > len(ids[order[b]]) })
	bs := e.opts.BatchSize
	var b Batch
	done := 0
	for lo := 0; lo < len(order); lo += bs {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+bs, len(order))
		T := min(len(ids[order[lo]]), e.opts.MaxLength)
		B := hi - lo
		if e.acts == nil || e.acts.MaxT < T || e.acts.MaxB < bs {
			e.acts = nil // let the old buffers go before allocating
			e.acts = e.model.NewActivations(bs, T, false, false)
		}
		b.B, b.T = B, T
		b.IDs = resizeInt32(b.IDs, B*T)
		b.Mask = resizeInt32(b.Mask, B*T)
		b.TypeIDs = nil
		for r, idx := range order[lo:hi] {
			s := ids[idx]
			if len(s) > T {
				s = append(s[:T-1:T-1], s[len(s)-1])
			}
			row, mrow := b.IDs[r*T:r*T+T], b.Mask[r*T:r*T+T]
			copy(row, s)
			for t := range row {
				if t < len(s) {
					mrow[t] = 1
				} else {
					row[t] = int32(e.model.Config.PadTokenID)
					mrow[t] = 0
				}
			}
		}
		last, err := e.model.Forward(e.acts, &b, ForwardOptions{Precision: e.opts.Precision})
		if err != nil {
			return err
		}
		pooled := e.acts.Pooled[:B*H]
		PoolSkip(pooled, last, b.Mask, B, T, H, e.opts.Pooling, skip, e.opts.Normalize)
		for r, idx := range order[lo:hi] {
			copy(out[idx*H:idx*H+H], pooled[r*H:r*H+H])
		}
		done += B
		if progress != nil {
			progress(done)
		}
	}
	return nil
}

func resizeInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}
