package statictune

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"math"
)

// The state: magic, version, a fingerprint of the options and the initial
// rows, the step, the random generator, then every row the trainer has
// changed (id, w, m, v), with separate query rows (Options.SeparateQueries)
// the query rows Adam has changed in the same form, with a queue
// (Options.Queue > 0) its next slot, each slot's document and its keys,
// and a CRC-32C of all that; little-endian. The fingerprint holds both
// options, so whether their parts are there follows from it.
const (
	stateMagic   = "CTSTTUN1"
	stateVersion = 1
)

// ErrState reports a state that is damaged or belongs to another run.
var ErrState = errors.New("statictune: bad state")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// fingerprint hashes the options and the initial rows: a state restores
// only into a trainer made the same way.
func (t *Trainer) fingerprint(init []float32) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%d|%d|%d|", t.o.fingerprint(), t.dim, len(t.w), len(t.docs))
	var b [4]byte
	for _, x := range init {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
		h.Write(b[:])
	}
	for _, d := range t.docs {
		binary.LittleEndian.PutUint32(b[:], uint32(len(d)))
		h.Write(b[:])
	}
	return h.Sum64()
}

// fingerprint formats the options for the state's fingerprint: as %+v
// did before Lexical, Disjoint, TitleRate and DisjointBelow existed,
// those added only when set, so that states saved before them still
// restore.
func (o Options) fingerprint() string {
	s := fmt.Sprintf("{Batch:%d Temperature:%v QueryMin:%d QueryMax:%d KeyMin:%d KeyMax:%d Deletion:%v Symmetric:%v Anchor:%v Group:%d Seed:%d}",
		o.Batch, o.Temperature, o.QueryMin, o.QueryMax, o.KeyMin, o.KeyMax, o.Deletion, o.Symmetric, o.Anchor, o.Group, o.Seed)
	if o.Lexical != 0 || o.Disjoint || o.TitleRate != 0 {
		s += fmt.Sprintf("+{Lexical:%v Disjoint:%v TitleRate:%v}", o.Lexical, o.Disjoint, o.TitleRate)
	}
	if o.DisjointBelow != 0 {
		s += fmt.Sprintf("+{DisjointBelow:%d}", o.DisjointBelow)
	}
	if o.Distill != 0 {
		s += fmt.Sprintf("+{Distill:%v}", o.Distill)
	}
	if o.Queue != 0 || o.Momentum != 0 {
		s += fmt.Sprintf("+{Queue:%d Momentum:%v}", o.Queue, o.Momentum)
	}
	if o.Curriculum != 0 {
		s += fmt.Sprintf("+{Curriculum:%v over %d}", o.Curriculum, o.CurriculumSteps)
	}
	if o.SeparateQueries {
		s += "+{SeparateQueries}"
	}
	return s
}

// changedRows lists the rows whose second moments v are not all zero:
// those Adam has touched (a row never touched has zero moments and its
// initial values).
func (t *Trainer) changedRows(v []float32) []int32 {
	var rows []int32
	d := t.dim
	for r := 0; r < len(v)/d; r++ {
		for _, x := range v[r*d : (r+1)*d] {
			if x != 0 {
				rows = append(rows, int32(r))
				break
			}
		}
	}
	return rows
}

// MarshalBinary returns the trainer's state. The trainer must have been
// made by New from init, the initial rows (t.init keeps a fingerprint).
func (t *Trainer) MarshalBinary() ([]byte, error) {
	if t.o.Momentum > 0 {
		return nil, fmt.Errorf("%w: momentum rows are not saved", ErrOptions)
	}
	rows := t.changedRows(t.v)
	var qrows []int32
	if t.wq != nil {
		qrows = t.changedRows(t.vq)
	}
	d := t.dim
	out := make([]byte, 0, 64+(len(rows)+len(qrows))*(4+12*d)+t.queueBytes())
	out = append(out, stateMagic...)
	out = binary.LittleEndian.AppendUint32(out, stateVersion)
	out = binary.LittleEndian.AppendUint64(out, t.fp)
	out = binary.LittleEndian.AppendUint64(out, uint64(t.step))
	rs, err := t.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out = binary.LittleEndian.AppendUint32(out, uint32(len(rs)))
	out = append(out, rs...)
	out = appendRows(out, rows, d, t.w, t.m, t.v)
	if t.wq != nil {
		out = appendRows(out, qrows, d, t.wq, t.mq, t.vq)
	}
	if len(t.queued) > 0 {
		out = binary.LittleEndian.AppendUint32(out, uint32(t.head))
		for _, doc := range t.queued {
			out = binary.LittleEndian.AppendUint32(out, uint32(doc))
		}
		for _, x := range t.queue {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
		}
	}
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli)), nil
}

// appendRows appends the count of rows, then each row's id and its
// entries in w, m and v.
func appendRows(out []byte, rows []int32, d int, w, m, v []float32) []byte {
	out = binary.LittleEndian.AppendUint32(out, uint32(len(rows)))
	for _, r := range rows {
		out = binary.LittleEndian.AppendUint32(out, uint32(r))
		for _, a := range [][]float32{w, m, v} {
			for _, x := range a[int(r)*d : (int(r)+1)*d] {
				out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
			}
		}
	}
	return out
}

// readRows reads appendRows's form from p into copies of init (w) and
// zero moments, and returns them with the rest of p.
func readRows(p []byte, d int, init []float32) (w, m, v []float32, rest []byte, err error) {
	if len(p) < 4 {
		return nil, nil, nil, nil, fmt.Errorf("%w: truncated rows", ErrState)
	}
	rows := int(binary.LittleEndian.Uint32(p))
	p = p[4:]
	V := len(init) / d
	if rows > V || len(p) < rows*(4+12*d) {
		return nil, nil, nil, nil, fmt.Errorf("%w: %d rows in %d bytes", ErrState, rows, len(p))
	}
	w, m, v = append([]float32(nil), init...), make([]float32, len(init)), make([]float32, len(init))
	for i := 0; i < rows; i++ {
		r := int(binary.LittleEndian.Uint32(p))
		if r >= V {
			return nil, nil, nil, nil, fmt.Errorf("%w: row %d outside a vocabulary of %d", ErrState, r, V)
		}
		p = p[4:]
		for _, a := range [][]float32{w, m, v} {
			for j := 0; j < d; j++ {
				a[r*d+j] = math.Float32frombits(binary.LittleEndian.Uint32(p))
				p = p[4:]
			}
		}
	}
	return w, m, v, p, nil
}

// queueBytes is the size of the state's queue part (0 without a queue).
func (t *Trainer) queueBytes() int {
	if len(t.queued) == 0 {
		return 0
	}
	return 4 + 4*len(t.queued) + 4*len(t.queue)
}

// UnmarshalBinary restores a state written by MarshalBinary into a fresh
// trainer made by New with the same options, initial rows and documents;
// anything else fails with ErrState.
func (t *Trainer) UnmarshalBinary(data []byte) error {
	if len(data) < 8+4+8+8+4+4+4 || string(data[:8]) != stateMagic {
		return fmt.Errorf("%w: %d bytes without the header", ErrState, len(data))
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return fmt.Errorf("%w: checksum mismatch (damaged file)", ErrState)
	}
	if v := binary.LittleEndian.Uint32(body[8:]); v != stateVersion {
		return fmt.Errorf("%w: version %d", ErrState, v)
	}
	if fp := binary.LittleEndian.Uint64(body[12:]); fp != t.fp {
		return fmt.Errorf("%w: saved by a run with other options, initial model or corpus", ErrState)
	}
	step := int64(binary.LittleEndian.Uint64(body[20:]))
	p := body[28:]
	n := int(binary.LittleEndian.Uint32(p))
	if n > len(p)-8 || step < 0 {
		return fmt.Errorf("%w: bad generator state", ErrState)
	}
	src := *t.src
	if err := src.UnmarshalBinary(p[4 : 4+n]); err != nil {
		return fmt.Errorf("%w: %v", ErrState, err)
	}
	p = p[4+n:]
	d := t.dim
	w, m, v, p, err := readRows(p, d, t.w)
	if err != nil {
		return err
	}
	var wq, mq, vq []float32
	if t.wq != nil {
		if wq, mq, vq, p, err = readRows(p, d, t.wq); err != nil {
			return err
		}
	}
	if len(p) != t.queueBytes() {
		return fmt.Errorf("%w: %d bytes after the rows, want %d", ErrState, len(p), t.queueBytes())
	}
	var head int
	var queued []int32
	var queue []float32
	if Q := len(t.queued); Q > 0 {
		head = int(binary.LittleEndian.Uint32(p))
		if head >= Q {
			return fmt.Errorf("%w: queue slot %d of %d", ErrState, head, Q)
		}
		p = p[4:]
		queued = make([]int32, Q)
		for i := range queued {
			queued[i] = int32(binary.LittleEndian.Uint32(p))
			if queued[i] < -1 || int(queued[i]) >= len(t.docs) {
				return fmt.Errorf("%w: queue slot %d holds document %d of %d", ErrState, i, queued[i], len(t.docs))
			}
			p = p[4:]
		}
		queue = make([]float32, len(t.queue))
		for i := range queue {
			queue[i] = math.Float32frombits(binary.LittleEndian.Uint32(p))
			p = p[4:]
		}
	}
	copy(t.w, w)
	t.m, t.v, t.step = m, v, step
	if wq != nil {
		copy(t.wq, wq)
		t.mq, t.vq = mq, vq
	}
	*t.src = src
	if queued != nil {
		t.head, t.queued, t.queue = head, queued, queue
	}
	return nil
}

// StateSteps returns the step count recorded in a state written by
// MarshalBinary (checked against its checksum).
func StateSteps(data []byte) (int64, error) {
	if len(data) < 32 || string(data[:8]) != stateMagic || crc32.Checksum(data[:len(data)-4], castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return 0, fmt.Errorf("%w: damaged or not a statictune state", ErrState)
	}
	return int64(binary.LittleEndian.Uint64(data[20:])), nil
}
