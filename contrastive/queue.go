package contrastive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Queue is MoCo's ring buffer of earlier keys: Size keys of dimension Dim,
// one per row. Keys are stored as the key encoder produced them (not
// normalised), as in Contriever.
type Queue struct {
	size, dim int
	ptr       int
	data      []float32
}

// NewQueue returns a queue of size keys of dimension dim, initialised like
// Contriever's: standard normal entries, each key then scaled to unit L2
// norm. r supplies the randomness.
func NewQueue(size, dim int, r *rand.Rand) *Queue {
	if size <= 0 || dim <= 0 {
		panic(fmt.Sprintf("contrastive: NewQueue(%d, %d)", size, dim))
	}
	q := &Queue{size: size, dim: dim, data: make([]float32, size*dim)}
	for i := 0; i < size; i++ {
		row := q.data[i*dim : (i+1)*dim]
		var ss float64
		for j := range row {
			v := r.NormFloat64()
			row[j] = float32(v)
			ss += v * v
		}
		// torch.nn.functional.normalize: x / max(||x||, 1e-12).
		inv := float32(1 / math.Max(math.Sqrt(ss), 1e-12))
		for j := range row {
			row[j] *= inv
		}
	}
	return q
}

// Size is the number of keys held.
func (q *Queue) Size() int { return q.size }

// Dim is the dimension of each key.
func (q *Queue) Dim() int { return q.dim }

// Ptr is the row the next enqueued key goes to.
func (q *Queue) Ptr() int { return q.ptr }

// Keys returns the Size×Dim keys, row-major. The slice aliases the queue:
// use it for the loss, before Enqueue.
func (q *Queue) Keys() []float32 { return q.data }

// Enqueue overwrites the oldest keys with the n keys in k (n×Dim), wrapping
// around the end of the buffer, and advances the pointer. More keys than
// the queue holds keep only the last Size of them.
func (q *Queue) Enqueue(k []float32) {
	if len(k)%q.dim != 0 {
		panic(fmt.Sprintf("contrastive: Enqueue of %d values, not a multiple of dim %d", len(k), q.dim))
	}
	n := len(k) / q.dim
	if n > q.size {
		k = k[(n-q.size)*q.dim:]
		n = q.size
	}
	for i := 0; i < n; i++ {
		copy(q.data[q.ptr*q.dim:(q.ptr+1)*q.dim], k[i*q.dim:(i+1)*q.dim])
		q.ptr = (q.ptr + 1) % q.size
	}
}

const queueMagic = "CQUEUE01"

// MarshalBinary encodes the queue (size, dim, pointer and keys) exactly.
func (q *Queue) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(queueMagic)+24+4*len(q.data))
	b = append(b, queueMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(q.size))
	b = binary.LittleEndian.AppendUint64(b, uint64(q.dim))
	b = binary.LittleEndian.AppendUint64(b, uint64(q.ptr))
	for _, v := range q.data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b, nil
}

// ErrBadQueue reports an encoded queue that cannot be decoded.
var ErrBadQueue = errors.New("contrastive: malformed queue encoding")

// UnmarshalBinary restores a queue written by MarshalBinary.
func (q *Queue) UnmarshalBinary(b []byte) error {
	if len(b) < len(queueMagic)+24 || string(b[:len(queueMagic)]) != queueMagic {
		return ErrBadQueue
	}
	b = b[len(queueMagic):]
	size := binary.LittleEndian.Uint64(b)
	dim := binary.LittleEndian.Uint64(b[8:])
	ptr := binary.LittleEndian.Uint64(b[16:])
	b = b[24:]
	if size == 0 || dim == 0 || ptr >= size || size > math.MaxInt32 || dim > math.MaxInt32 ||
		uint64(len(b)) != 4*size*dim {
		return fmt.Errorf("%w: size %d, dim %d, ptr %d, %d data bytes", ErrBadQueue, size, dim, ptr, len(b))
	}
	data := make([]float32, size*dim)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	*q = Queue{size: int(size), dim: int(dim), ptr: int(ptr), data: data}
	return nil
}

// Momentum applies MoCo's momentum update θk ← m·θk + (1−m)·θq to every
// key-encoder tensor key[i] from the matching query-encoder tensor
// query[i], computed in float32 in the order Contriever writes it
// (θk·m + θq·(1−m)). Contriever uses m = 0.9995 and updates before the keys
// are computed.
func Momentum(key, query [][]float32, m float32) {
	if len(key) != len(query) {
		panic(fmt.Sprintf("contrastive: Momentum over %d key and %d query tensors", len(key), len(query)))
	}
	om := 1 - m
	for i, k := range key {
		qv := query[i]
		if len(k) != len(qv) {
			panic(fmt.Sprintf("contrastive: Momentum tensor %d: %d key and %d query values", i, len(k), len(qv)))
		}
		for j := range k {
			k[j] = k[j]*m + qv[j]*om
		}
	}
}
