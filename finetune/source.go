package finetune

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"

	"github.com/contriever-go/contriever/contrastive/data"
	"github.com/contriever-go/contriever/encoder"
)

// SourceOptions configure a Source.
type SourceOptions struct {
	// HardRatio is the probability that a query's negative is one of its
	// hard negatives (when it has any beyond SkipHard); otherwise it is a
	// random negative. Contriever-msmarco's phase 2 uses 0.1; phase 1 0.
	HardRatio float64
	// SkipHard ignores the first SkipHard hard negatives of each example
	// (Contriever's negative_hard_min_idx).
	SkipHard int
	// MaxLen truncates queries and passages to this many tokens, [CLS]
	// and [SEP] included (Contriever fine-tunes at 256).
	MaxLen int
	// Seed determines the example order and every draw.
	Seed uint64
	// QueryPrompt is prepended to every query and DocPrompt to every
	// passage before tokenising: the model's prompts (engine.ReadModel),
	// so that it is fine-tuned on the texts it embeds at search time.
	QueryPrompt, DocPrompt string
}

// Source feeds supervised fine-tuning batches to a contrastive.Trainer:
// for each query its tokenised text, one positive passage (uniform among
// its positives) and one negative passage, hard with probability
// HardRatio, else random. Examples are visited in a random order, redrawn
// for each epoch from the seed. Source implements contrastive.Source; its
// state (epoch, position and generator) survives MarshalBinary and
// UnmarshalBinary exactly.
type Source struct {
	set *Set
	tok encoder.Tokenizer
	opt SourceOptions
	fp  uint64

	epoch uint64
	pos   int
	perm  []int
	pcg   *rand.PCG
	r     *rand.Rand

	hardUsed, randUsed int64
}

// NewSource returns a source over set's examples, tokenised with tok.
func NewSource(set *Set, tok encoder.Tokenizer, opt SourceOptions) (*Source, error) {
	if err := set.Validate(); err != nil {
		return nil, err
	}
	if !(opt.HardRatio >= 0 && opt.HardRatio <= 1) || opt.SkipHard < 0 || opt.MaxLen < 2 {
		return nil, fmt.Errorf("finetune: hard ratio %g must be in [0, 1], skip %d ≥ 0, max length %d ≥ 2", opt.HardRatio, opt.SkipHard, opt.MaxLen)
	}
	if len(set.Passages) < 2 {
		return nil, fmt.Errorf("finetune: %d passage(s): random negatives need at least 2", len(set.Passages))
	}
	s := &Source{set: set, tok: tok, opt: opt, pcg: rand.NewPCG(opt.Seed, 0x66696e65)}
	s.r = rand.New(s.pcg)
	s.fp = s.fingerprint()
	s.shuffle()
	return s, nil
}

// fingerprint identifies the data and options a state belongs to.
func (s *Source) fingerprint() uint64 {
	h := fnv.New64a()
	var b [8]byte
	put := func(x uint64) { binary.LittleEndian.PutUint64(b[:], x); h.Write(b[:]) }
	put(uint64(len(s.set.Passages)))
	put(uint64(len(s.set.Examples)))
	put(math.Float64bits(s.opt.HardRatio))
	put(uint64(s.opt.SkipHard))
	put(uint64(s.opt.MaxLen))
	if s.opt.QueryPrompt != "" || s.opt.DocPrompt != "" {
		io.WriteString(h, s.opt.QueryPrompt+"\x00"+s.opt.DocPrompt)
	}
	for _, ex := range s.set.Examples {
		io.WriteString(h, ex.Query)
		put(uint64(len(ex.Positives))<<40 | uint64(len(ex.HardNegatives))<<20 | uint64(len(ex.Negatives)))
	}
	return h.Sum64()
}

func (s *Source) shuffle() {
	r := rand.New(rand.NewPCG(s.opt.Seed, 0x6570000000+s.epoch))
	s.perm = r.Perm(len(s.set.Examples))
}

// Epoch is the number of full passes over the examples done.
func (s *Source) Epoch() int { return int(s.epoch) }

// NegativeCounts returns how many hard and random negatives were drawn so
// far (since the source was made or restored).
func (s *Source) NegativeCounts() (hard, random int64) { return s.hardUsed, s.randUsed }

// Triple is one training example as drawn: indices of the example, its
// positive and its negative passage, and whether the negative is hard.
type Triple struct {
	Example, Positive, Negative int
	Hard                        bool
}

// NextTriples draws the next b triples (what Next tokenises).
func (s *Source) NextTriples(b int) []Triple {
	ts := make([]Triple, b)
	for i := range ts {
		if s.pos == len(s.perm) {
			s.epoch++
			s.pos = 0
			s.shuffle()
		}
		e := s.perm[s.pos]
		s.pos++
		ex := &s.set.Examples[e]
		t := Triple{Example: e, Positive: int(ex.Positives[s.r.IntN(len(ex.Positives))])}
		hard := ex.HardNegatives[min(s.opt.SkipHard, len(ex.HardNegatives)):]
		if len(hard) > 0 && s.r.Float64() < s.opt.HardRatio {
			t.Negative, t.Hard = int(hard[s.r.IntN(len(hard))]), true
			s.hardUsed++
		} else {
			t.Negative = s.randomNegative(ex)
			s.randUsed++
		}
		ts[i] = t
	}
	return ts
}

// randomNegative is one of the example's given negatives, or else a
// uniform passage of the set that is not one of its positives.
func (s *Source) randomNegative(ex *Example) int {
	if len(ex.Negatives) > 0 {
		return int(ex.Negatives[s.r.IntN(len(ex.Negatives))])
	}
	n := len(s.set.Passages)
	for {
		j := s.r.IntN(n)
		pos := false
		for _, p := range ex.Positives {
			if int(p) == j {
				pos = true
				break
			}
		}
		if !pos || len(ex.Positives) >= n {
			return j
		}
	}
}

// Next returns the next batch of b queries, their positives and their
// negatives (contrastive.Source).
func (s *Source) Next(b int) data.Batch {
	ts := s.NextTriples(b)
	q := make([][]int32, b)
	p := make([][]int32, b)
	n := make([][]int32, b)
	L := s.opt.MaxLen
	for i, t := range ts {
		q[i] = s.tok.EncodeIDs(s.opt.QueryPrompt+s.set.Examples[t.Example].Query, L)
		p[i] = s.tok.EncodeIDs(s.opt.DocPrompt+s.set.Passages[t.Positive].Passage(), L)
		n[i] = s.tok.EncodeIDs(s.opt.DocPrompt+s.set.Passages[t.Negative].Passage(), L)
	}
	return data.Batch{Q: data.Pack(q), K: data.Pack(p), N: data.Pack(n)}
}

// ErrBadState reports a saved source state that is damaged or belongs to
// other data or options.
var ErrBadState = errors.New("finetune: source state does not fit this data")

const stateMagic = "FTSRC001"

// MarshalBinary saves the source's position and generator state.
func (s *Source) MarshalBinary() ([]byte, error) {
	g, err := s.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := []byte(stateMagic)
	b = binary.LittleEndian.AppendUint64(b, s.fp)
	b = binary.LittleEndian.AppendUint64(b, s.opt.Seed)
	b = binary.LittleEndian.AppendUint64(b, s.epoch)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.pos))
	return append(b, g...), nil
}

// UnmarshalBinary restores a state saved by MarshalBinary on a source over
// the same data with the same options (else ErrBadState).
func (s *Source) UnmarshalBinary(b []byte) error {
	if len(b) < len(stateMagic)+32 || string(b[:len(stateMagic)]) != stateMagic {
		return fmt.Errorf("%w: not a fine-tuning source state", ErrBadState)
	}
	b = b[len(stateMagic):]
	fp, seed := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	epoch, pos := binary.LittleEndian.Uint64(b[16:]), binary.LittleEndian.Uint64(b[24:])
	if fp != s.fp || seed != s.opt.Seed {
		return fmt.Errorf("%w: saved for other data, options or seed", ErrBadState)
	}
	if pos > uint64(len(s.set.Examples)) {
		return fmt.Errorf("%w: position %d of %d examples", ErrBadState, pos, len(s.set.Examples))
	}
	pcg := rand.NewPCG(0, 0)
	if err := pcg.UnmarshalBinary(b[32:]); err != nil {
		return fmt.Errorf("%w: %v", ErrBadState, err)
	}
	*s.pcg = *pcg
	s.epoch, s.pos = epoch, int(pos)
	s.shuffle()
	return nil
}
