package contrastive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sort"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// Tensor is a named float32 tensor in HF naming, as the encoder lists its
// parameters.
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// State is everything a training run needs to continue bit for bit, kept
// in one file beside the HF model folder. Every field is optional; the
// trainer decides what it needs (an in-batch run has no Momentum or Queue).
type State struct {
	// Step is the number of optimiser steps taken.
	Step int64
	// Config is the run's configuration as the trainer serialises it
	// (JSON), so a resumed run can check it continues the same run.
	Config []byte
	// Model is the query encoder's weights, in float32 exactly.
	Model []Tensor
	// Momentum is MoCo's key encoder's weights.
	Momentum []Tensor
	// Optimizer is the optimiser's state (optim.AdamW.MarshalBinary).
	Optimizer []byte
	// Queue is MoCo's key queue, with its pointer.
	Queue *Queue
	// Sampler is the data position (data.Sampler.MarshalBinary, or the
	// fine-tuning loader's).
	Sampler []byte
	// RNG holds named generator states (math/rand/v2 PCG MarshalBinary),
	// for dropout and anything else drawn at random; and any other named
	// blob the trainer wants to keep.
	RNG map[string][]byte
}

// ErrCorrupt reports a state file that is damaged (bad checksum, truncated
// or malformed); it is never loaded.
var ErrCorrupt = errors.New("contrastive: training state is corrupt")

// ErrStateVersion reports a state file written by an unknown format version.
var ErrStateVersion = errors.New("contrastive: unsupported training state version")

// The state file: magic, version, then sections (a 4-byte tag, a uint64
// length, the payload) ending with an "END." section, then the CRC-32C of
// every preceding byte.
const (
	stateMagic   = "CTRNSTAT"
	stateVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SaveState writes s to path atomically (temporary file, sync, rename).
func SaveState(path string, s *State) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		crc := crc32.New(castagnoli)
		mw := io.MultiWriter(w, crc)
		if _, err := io.WriteString(mw, stateMagic); err != nil {
			return err
		}
		if err := binary.Write(mw, binary.LittleEndian, uint32(stateVersion)); err != nil {
			return err
		}
		step := binary.LittleEndian.AppendUint64(nil, uint64(s.Step))
		if err := section(mw, "STEP", step); err != nil {
			return err
		}
		if err := section(mw, "CONF", s.Config); err != nil {
			return err
		}
		if s.Model != nil {
			if err := section(mw, "MODL", encodeTensors(s.Model)); err != nil {
				return err
			}
		}
		if s.Momentum != nil {
			if err := section(mw, "MOMK", encodeTensors(s.Momentum)); err != nil {
				return err
			}
		}
		if s.Optimizer != nil {
			if err := section(mw, "OPTM", s.Optimizer); err != nil {
				return err
			}
		}
		if s.Queue != nil {
			b, err := s.Queue.MarshalBinary()
			if err != nil {
				return err
			}
			if err := section(mw, "QUEU", b); err != nil {
				return err
			}
		}
		if s.Sampler != nil {
			if err := section(mw, "DATA", s.Sampler); err != nil {
				return err
			}
		}
		names := make([]string, 0, len(s.RNG))
		for n := range s.RNG {
			names = append(names, n)
		}
		sort.Strings(names)
		var rb []byte
		rb = binary.LittleEndian.AppendUint32(rb, uint32(len(names)))
		for _, n := range names {
			rb = appendBytes(rb, []byte(n))
			rb = appendBytes(rb, s.RNG[n])
		}
		if err := section(mw, "RNGS", rb); err != nil {
			return err
		}
		if err := section(mw, "END.", nil); err != nil {
			return err
		}
		return binary.Write(w, binary.LittleEndian, crc.Sum32())
	})
}

func section(w io.Writer, tag string, payload []byte) error {
	var h [12]byte
	copy(h[:4], tag)
	binary.LittleEndian.PutUint64(h[4:], uint64(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func appendBytes(b, x []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(x)))
	return append(b, x...)
}

func encodeTensors(ts []Tensor) []byte {
	size := 4
	for _, t := range ts {
		size += 8 + len(t.Name) + 4 + 8*len(t.Shape) + 8 + 4*len(t.Data)
	}
	b := make([]byte, 0, size)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ts)))
	for _, t := range ts {
		b = appendBytes(b, []byte(t.Name))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Shape)))
		for _, d := range t.Shape {
			b = binary.LittleEndian.AppendUint64(b, uint64(d))
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(len(t.Data)))
		for _, v := range t.Data {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

// LoadState reads a state written by SaveState. A damaged file gives an
// error wrapping ErrCorrupt; the checksum is verified before anything is
// returned.
func LoadState(path string) (*State, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("contrastive: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("contrastive: %w", err)
	}
	s, err := readState(bufio.NewReaderSize(f, 256<<10), st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

type crcReader struct {
	r   io.Reader
	crc hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	return n, err
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

func readState(r io.Reader, size int64) (*State, error) {
	cr := &crcReader{r: r, crc: crc32.New(castagnoli)}
	var head [12]byte
	if _, err := io.ReadFull(cr, head[:]); err != nil || string(head[:8]) != stateMagic {
		return nil, corrupt("not a training state")
	}
	if v := binary.LittleEndian.Uint32(head[8:]); v != stateVersion {
		return nil, fmt.Errorf("%w: version %d", ErrStateVersion, v)
	}
	s := &State{RNG: map[string][]byte{}}
	remaining := size - 12
	seen := map[string]bool{}
	for {
		var h [12]byte
		if _, err := io.ReadFull(cr, h[:]); err != nil {
			return nil, corrupt("truncated")
		}
		tag := string(h[:4])
		n := binary.LittleEndian.Uint64(h[4:])
		remaining -= 12
		if n > uint64(max(remaining, 0)) {
			return nil, corrupt("section %q of %d bytes in %d left", tag, n, remaining)
		}
		remaining -= int64(n)
		payload := make([]byte, n)
		if _, err := io.ReadFull(cr, payload); err != nil {
			return nil, corrupt("truncated in section %q", tag)
		}
		if seen[tag] {
			return nil, corrupt("section %q twice", tag)
		}
		seen[tag] = true
		if tag == "END." {
			break
		}
		var err error
		switch tag {
		case "STEP":
			if len(payload) != 8 {
				return nil, corrupt("step section of %d bytes", len(payload))
			}
			s.Step = int64(binary.LittleEndian.Uint64(payload))
		case "CONF":
			s.Config = payload
		case "MODL":
			s.Model, err = decodeTensors(payload)
		case "MOMK":
			s.Momentum, err = decodeTensors(payload)
		case "OPTM":
			s.Optimizer = payload
		case "QUEU":
			s.Queue = new(Queue)
			err = s.Queue.UnmarshalBinary(payload)
		case "DATA":
			s.Sampler = payload
		case "RNGS":
			s.RNG, err = decodeBlobs(payload)
		default:
			return nil, corrupt("unknown section %q", tag)
		}
		if err != nil {
			return nil, corrupt("section %q: %v", tag, err)
		}
	}
	sum := cr.crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(r, tail[:]); err != nil {
		return nil, corrupt("missing checksum")
	}
	if binary.LittleEndian.Uint32(tail[:]) != sum {
		return nil, corrupt("checksum mismatch")
	}
	if n, _ := r.Read(tail[:1]); n != 0 {
		return nil, corrupt("trailing bytes")
	}
	return s, nil
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n uint64) []byte {
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	x := d.b[:n]
	d.b = d.b[n:]
	return x
}

func (d *decoder) u32() uint32 {
	if x := d.take(4); x != nil {
		return binary.LittleEndian.Uint32(x)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if x := d.take(8); x != nil {
		return binary.LittleEndian.Uint64(x)
	}
	return 0
}

func (d *decoder) bytes() []byte { return d.take(d.u64()) }

func decodeTensors(b []byte) ([]Tensor, error) {
	d := &decoder{b: b}
	n := d.u32()
	if uint64(n) > uint64(len(b)) {
		return nil, errors.New("bad tensor count")
	}
	ts := make([]Tensor, 0, n)
	for i := uint32(0); i < n && !d.bad; i++ {
		var t Tensor
		t.Name = string(d.bytes())
		nd := d.u32()
		if uint64(nd) > uint64(len(d.b))/8 {
			return nil, fmt.Errorf("tensor %d: %d dimensions", i, nd)
		}
		t.Shape = make([]int, 0, nd)
		count := uint64(1)
		for j := uint32(0); j < nd; j++ {
			dim := d.u64()
			if dim > math.MaxInt32 {
				return nil, fmt.Errorf("tensor %q: dimension %d", t.Name, dim)
			}
			t.Shape = append(t.Shape, int(dim))
			count *= dim
		}
		nv := d.u64()
		if nv != count || nv > uint64(len(d.b))/4 {
			return nil, fmt.Errorf("tensor %q: %d values for shape %v", t.Name, nv, t.Shape)
		}
		raw := d.take(4 * nv)
		t.Data = make([]float32, nv)
		for j := range t.Data {
			t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		ts = append(ts, t)
	}
	if d.bad || len(d.b) != 0 {
		return nil, errors.New("malformed tensor list")
	}
	return ts, nil
}

func decodeBlobs(b []byte) (map[string][]byte, error) {
	d := &decoder{b: b}
	n := d.u32()
	if uint64(n) > uint64(len(b)) {
		return nil, errors.New("bad blob count")
	}
	m := make(map[string][]byte, n)
	for i := uint32(0); i < n && !d.bad; i++ {
		name := string(d.bytes())
		m[name] = d.bytes()
	}
	if d.bad || len(d.b) != 0 {
		return nil, errors.New("malformed blob list")
	}
	return m, nil
}
