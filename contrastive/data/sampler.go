package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
)

// CropConfig is the unsupervised recipe's example generation (Contriever's
// defaults from DefaultCrop).
type CropConfig struct {
	// ChunkLen is the length of the chunks cut from the stream (256).
	ChunkLen int
	// RatioMin and RatioMax bound the crop ratio, drawn uniformly for each
	// view (0.05 and 0.5). A view has int(ChunkLen·ratio) tokens, at least 1.
	RatioMin, RatioMax float64
	// DeleteProb is the probability of deleting each token of a view (0.1).
	DeleteProb float64
	// CLS and SEP are added around each view.
	CLS, SEP int32
}

// DefaultCrop returns Contriever's settings with BERT's [CLS] = 101 and
// [SEP] = 102.
func DefaultCrop() CropConfig {
	return CropConfig{ChunkLen: 256, RatioMin: 0.05, RatioMax: 0.5, DeleteProb: 0.1, CLS: 101, SEP: 102}
}

// Validate reports an unusable configuration.
func (c CropConfig) Validate() error {
	if c.ChunkLen < 1 {
		return fmt.Errorf("data: chunk length %d < 1", c.ChunkLen)
	}
	if !(c.RatioMin >= 0 && c.RatioMin <= c.RatioMax && c.RatioMax <= 1) {
		return fmt.Errorf("data: crop ratios [%g, %g] not within 0 ≤ min ≤ max ≤ 1", c.RatioMin, c.RatioMax)
	}
	if !(c.DeleteProb >= 0 && c.DeleteProb < 1) {
		return fmt.Errorf("data: deletion probability %g not in [0, 1)", c.DeleteProb)
	}
	return nil
}

// View is a batch of B token sequences padded on the right with 0 to the
// longest, S tokens: IDs and Mask are B×S, row-major, Mask 1 on real tokens
// and 0 on padding.
type View struct {
	IDs, Mask []int32
	B, S      int
}

// Pack builds a View from sequences that already carry their special
// tokens, padding each on the right with 0 to the longest.
func Pack(seqs [][]int32) View {
	s := 0
	for _, q := range seqs {
		s = max(s, len(q))
	}
	v := View{IDs: make([]int32, len(seqs)*s), Mask: make([]int32, len(seqs)*s), B: len(seqs), S: s}
	for i, q := range seqs {
		copy(v.IDs[i*s:], q)
		for j := range q {
			v.Mask[i*s+j] = 1
		}
	}
	return v
}

// Wrap returns [cls] + ids + [sep], cutting ids so that the result has at
// most maxLen tokens (maxLen ≤ 0: no limit; maxLen < 2 keeps just the
// special tokens). Fine-tuning uses it to truncate passages at 256 tokens,
// specials included.
func Wrap(ids []int32, cls, sep int32, maxLen int) []int32 {
	if maxLen > 0 && len(ids) > max(maxLen-2, 0) {
		ids = ids[:max(maxLen-2, 0)]
	}
	out := make([]int32, 0, len(ids)+2)
	out = append(out, cls)
	out = append(out, ids...)
	return append(out, sep)
}

// Batch is a batch of positive pairs: row i of Q and row i of K are two
// views of the same chunk (or a query and its gold passage). N optionally
// holds extra negative passages for fine-tuning, usually one per query;
// N.B is 0 when there are none.
type Batch struct {
	Q, K View
	N    View
}

// ErrShortStream reports a stream with fewer tokens than one chunk.
var ErrShortStream = errors.New("data: token stream shorter than one chunk")

// Sampler draws Contriever's unsupervised training pairs from a stream.
// Each epoch it redraws an offset in [0, ChunkLen) and visits the chunks
// stream[offset+i·ChunkLen : offset+(i+1)·ChunkLen] in a random order;
// each chunk gives two views, each an independent random crop followed by
// token deletion and [CLS] … [SEP].
//
// Two PCG generators, both seeded from the seed, drive it: one draws each
// epoch's offset and order, the other the crops and deletions. Its state
// (MarshalBinary) is the epoch, the position in it, the first generator's
// state at the start of the epoch (from which the order is rebuilt) and
// the second's current state, so a restored sampler continues exactly.
type Sampler struct {
	s   *Stream
	cfg CropConfig

	epochSrc   *rand.PCG
	epochRand  *rand.Rand
	epochStart []byte // epochSrc's state before drawing this epoch
	viewSrc    *rand.PCG
	viewRand   *rand.Rand

	epoch  int
	pos    int
	offset int
	order  []int32

	chunk []int32
}

// NewSampler returns a sampler over s, positioned at the start of epoch 0.
func NewSampler(s *Stream, cfg CropConfig, seed uint64) (*Sampler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s.Len() < cfg.ChunkLen {
		return nil, fmt.Errorf("%w: %d tokens, chunk length %d", ErrShortStream, s.Len(), cfg.ChunkLen)
	}
	sm := &Sampler{
		s: s, cfg: cfg,
		epochSrc: rand.NewPCG(seed, 0x636f6e7472696576), // "contriev"
		viewSrc:  rand.NewPCG(seed, 0x6572766965777321), // "erviews!"
		chunk:    make([]int32, cfg.ChunkLen),
	}
	sm.epochRand = rand.New(sm.epochSrc)
	sm.viewRand = rand.New(sm.viewSrc)
	sm.startEpoch()
	return sm, nil
}

// startEpoch records the epoch generator's state and draws the offset and
// the order of the chunks.
func (sm *Sampler) startEpoch() {
	st, _ := sm.epochSrc.MarshalBinary()
	sm.epochStart = st
	sm.drawEpoch()
}

func (sm *Sampler) drawEpoch() {
	n, L := sm.s.Len(), sm.cfg.ChunkLen
	// The offset stays below L, and small enough to leave one chunk.
	sm.offset = sm.epochRand.IntN(min(L, n-L+1))
	chunks := (n - sm.offset) / L
	if cap(sm.order) >= chunks {
		sm.order = sm.order[:chunks]
	} else {
		sm.order = make([]int32, chunks)
	}
	for i := range sm.order {
		sm.order[i] = int32(i)
	}
	sm.epochRand.Shuffle(chunks, func(i, j int) { sm.order[i], sm.order[j] = sm.order[j], sm.order[i] })
	sm.pos = 0
}

// Epoch is the current epoch (0 first).
func (sm *Sampler) Epoch() int { return sm.epoch }

// Position is the number of chunks of the current epoch already used.
func (sm *Sampler) Position() int { return sm.pos }

// ChunksPerEpoch is the number of chunks in the current epoch.
func (sm *Sampler) ChunksPerEpoch() int { return len(sm.order) }

// Offset is the current epoch's offset.
func (sm *Sampler) Offset() int { return sm.offset }

// Config returns the crop configuration.
func (sm *Sampler) Config() CropConfig { return sm.cfg }

// NextPair returns the two views of the next chunk, each wrapped in [CLS]
// and [SEP]. After the last chunk of an epoch the next epoch starts at
// once (Epoch, Offset and Position then describe it).
func (sm *Sampler) NextPair() (q, k []int32) {
	start := sm.offset + int(sm.order[sm.pos])*sm.cfg.ChunkLen
	sm.s.Read(sm.chunk, start)
	if sm.pos++; sm.pos >= len(sm.order) {
		sm.epoch++
		sm.startEpoch()
	}
	// Contriever's order: crop q, crop k, then augment q, augment k.
	qc := sm.crop()
	kc := sm.crop()
	return sm.finish(qc), sm.finish(kc)
}

// Next returns a batch of b pairs.
func (sm *Sampler) Next(b int) Batch {
	qs, ks := make([][]int32, b), make([][]int32, b)
	for i := range qs {
		qs[i], ks[i] = sm.NextPair()
	}
	return Batch{Q: Pack(qs), K: Pack(ks)}
}

// crop returns a random crop of the current chunk (Contriever's
// randomcrop: ratio ~ U(min, max), length int(len·ratio) but at least 1,
// start uniform in [0, len−length]).
func (sm *Sampler) crop() []int32 {
	L := len(sm.chunk)
	ratio := sm.cfg.RatioMin + (sm.cfg.RatioMax-sm.cfg.RatioMin)*sm.viewRand.Float64()
	length := max(int(float64(L)*ratio), 1)
	start := sm.viewRand.IntN(L - length + 1)
	return sm.chunk[start : start+length]
}

// finish deletes each token with probability DeleteProb (Contriever's
// deleteword keeps a token when its uniform draw exceeds p) and adds the
// special tokens.
func (sm *Sampler) finish(c []int32) []int32 {
	out := make([]int32, 0, len(c)+2)
	out = append(out, sm.cfg.CLS)
	for _, id := range c {
		if sm.cfg.DeleteProb == 0 || sm.viewRand.Float64() > sm.cfg.DeleteProb {
			out = append(out, id)
		}
	}
	return append(out, sm.cfg.SEP)
}

const samplerMagic = "CSAMPLR1"

// ErrBadSamplerState reports a sampler state that cannot be restored.
var ErrBadSamplerState = errors.New("data: malformed sampler state")

// MarshalBinary encodes the sampler's position and random state.
func (sm *Sampler) MarshalBinary() ([]byte, error) {
	view, err := sm.viewSrc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := []byte(samplerMagic)
	b = binary.LittleEndian.AppendUint64(b, uint64(sm.epoch))
	b = binary.LittleEndian.AppendUint64(b, uint64(sm.pos))
	b = binary.LittleEndian.AppendUint64(b, uint64(sm.s.Len()))
	b = binary.LittleEndian.AppendUint64(b, uint64(sm.cfg.ChunkLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(sm.epochStart)))
	b = append(b, sm.epochStart...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(view)))
	return append(b, view...), nil
}

// UnmarshalBinary restores a state written by MarshalBinary on a sampler
// over the same stream (same length) and chunk length.
func (sm *Sampler) UnmarshalBinary(b []byte) error {
	if len(b) < len(samplerMagic)+36 || string(b[:len(samplerMagic)]) != samplerMagic {
		return ErrBadSamplerState
	}
	b = b[len(samplerMagic):]
	epoch := binary.LittleEndian.Uint64(b)
	pos := binary.LittleEndian.Uint64(b[8:])
	n := binary.LittleEndian.Uint64(b[16:])
	L := binary.LittleEndian.Uint64(b[24:])
	if n != uint64(sm.s.Len()) || L != uint64(sm.cfg.ChunkLen) {
		return fmt.Errorf("%w: saved for %d tokens in chunks of %d, this stream has %d in chunks of %d", ErrBadSamplerState, n, L, sm.s.Len(), sm.cfg.ChunkLen)
	}
	b = b[32:]
	es, b, ok := lenPrefixed(b)
	if !ok {
		return ErrBadSamplerState
	}
	vs, b, ok := lenPrefixed(b)
	if !ok || len(b) != 0 {
		return ErrBadSamplerState
	}
	epochSrc, viewSrc := &rand.PCG{}, &rand.PCG{}
	if epochSrc.UnmarshalBinary(es) != nil || viewSrc.UnmarshalBinary(vs) != nil {
		return ErrBadSamplerState
	}
	t := *sm
	t.order = nil
	t.epochSrc, t.viewSrc = epochSrc, viewSrc
	t.epochRand, t.viewRand = rand.New(epochSrc), rand.New(viewSrc)
	t.epochStart = append([]byte(nil), es...)
	t.drawEpoch()
	if pos >= uint64(len(t.order)) || epoch > 1<<40 {
		return fmt.Errorf("%w: position %d of %d chunks", ErrBadSamplerState, pos, len(t.order))
	}
	t.epoch, t.pos = int(epoch), int(pos)
	*sm = t
	return nil
}

func lenPrefixed(b []byte) (x, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
