package docstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// On-disk format (version 1), all integers little-endian:
//
//	file   = header record*
//	header = "CTRDOC" (6 bytes) version (uint16) = 8 bytes
//	record = length (uint32) payloadCRC (uint32) headerCRC (uint32) payload
//
// length is the payload's byte count (at most MaxRecordBytes); payloadCRC is
// CRC-32C (Castagnoli) of the payload; headerCRC is CRC-32C of the 8 bytes
// before it, so a damaged length is detected before it is trusted. The
// payload is one operation:
//
//	payload = op (byte) seq (uvarint) count (uvarint) item*count
//	op 1 (put):    item = id title text, each a uvarint length then bytes
//	op 2 (delete): item = id, a uvarint length then bytes
//	op 3 (mark):   count = 0; no items
//
// seq ≥ 1 is the operation's sequence number: the store numbers operations
// 1, 2, 3, ... and a document's version is the seq of the put that wrote it.
// Compact rewrites live documents as puts carrying their own versions (so
// seqs in a compacted log are not in file order) and ends with a mark holding
// the store's last seq. Varints must be in their shortest form.
//
// Replay stops cleanly at a torn tail: a last record whose header or payload
// extends past the end of the file, a partial file header, or a tail of zero
// bytes (preallocated space that was never written). Any other mismatch is
// corruption and fails the open.
const (
	magic      = "CTRDOC"
	version    = 1
	headerSize = 8
	recHdrSize = 12

	opPut    = 1
	opDelete = 2
	opMark   = 3
)

// MaxRecordBytes bounds one record's payload, and so the size of one Put or
// Delete batch once encoded.
const MaxRecordBytes = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func fileHeader() []byte {
	h := make([]byte, headerSize)
	copy(h, magic)
	binary.LittleEndian.PutUint16(h[6:], version)
	return h
}

// op is one decoded log operation.
type op struct {
	kind byte
	seq  uint64
	docs []Doc    // opPut
	ids  []string // opDelete
}

// encodeRecord frames the payload of o as one record.
func encodeRecord(o op) ([]byte, error) {
	var p []byte
	if o.seq == 0 {
		panic("docstore: op without a sequence number")
	}
	p = append(p, o.kind)
	p = binary.AppendUvarint(p, o.seq)
	switch o.kind {
	case opPut:
		p = binary.AppendUvarint(p, uint64(len(o.docs)))
		for _, d := range o.docs {
			for _, s := range [3]string{d.ID, d.Title, d.Text} {
				p = binary.AppendUvarint(p, uint64(len(s)))
				p = append(p, s...)
			}
		}
	case opDelete:
		p = binary.AppendUvarint(p, uint64(len(o.ids)))
		for _, id := range o.ids {
			p = binary.AppendUvarint(p, uint64(len(id)))
			p = append(p, id...)
		}
	case opMark:
		p = binary.AppendUvarint(p, 0)
	default:
		panic(fmt.Sprintf("docstore: unknown op %d", o.kind))
	}
	if len(p) > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrTooLarge, len(p), MaxRecordBytes)
	}
	rec := make([]byte, recHdrSize, recHdrSize+len(p))
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(p)))
	binary.LittleEndian.PutUint32(rec[4:], crc32.Checksum(p, castagnoli))
	binary.LittleEndian.PutUint32(rec[8:], crc32.Checksum(rec[:8], castagnoli))
	return append(rec, p...), nil
}

// decodePayload parses one record payload, which must be consumed exactly.
func decodePayload(p []byte) (op, error) {
	if len(p) == 0 {
		return op{}, errors.New("empty payload")
	}
	o := op{kind: p[0]}
	r := p[1:]
	seq, k := uvarint(r)
	if k <= 0 || seq == 0 {
		return op{}, errors.New("bad sequence number")
	}
	o.seq = seq
	r = r[k:]
	n, k := uvarint(r)
	if k <= 0 {
		return op{}, errors.New("bad item count")
	}
	r = r[k:]
	// Each item takes at least one byte per string, which bounds n before
	// anything is allocated.
	str := func() (string, error) {
		l, k := uvarint(r)
		if k <= 0 || l > uint64(len(r)-k) {
			return "", errors.New("bad string length")
		}
		s := string(r[k : k+int(l)])
		r = r[k+int(l):]
		return s, nil
	}
	switch o.kind {
	case opPut:
		if n > uint64(len(r)/3) {
			return op{}, fmt.Errorf("put count %d exceeds payload", n)
		}
		o.docs = make([]Doc, 0, n)
		for i := uint64(0); i < n; i++ {
			var d Doc
			var err error
			if d.ID, err = str(); err == nil {
				if d.Title, err = str(); err == nil {
					d.Text, err = str()
				}
			}
			if err != nil {
				return op{}, fmt.Errorf("put item %d: %w", i, err)
			}
			if d.ID == "" {
				return op{}, fmt.Errorf("put item %d: empty id", i)
			}
			o.docs = append(o.docs, d)
		}
	case opDelete:
		if n > uint64(len(r)) {
			return op{}, fmt.Errorf("delete count %d exceeds payload", n)
		}
		o.ids = make([]string, 0, n)
		for i := uint64(0); i < n; i++ {
			id, err := str()
			if err != nil {
				return op{}, fmt.Errorf("delete item %d: %w", i, err)
			}
			if id == "" {
				return op{}, fmt.Errorf("delete item %d: empty id", i)
			}
			o.ids = append(o.ids, id)
		}
	case opMark:
		if n != 0 {
			return op{}, fmt.Errorf("mark with %d items", n)
		}
	default:
		return op{}, fmt.Errorf("unknown op %d", o.kind)
	}
	if len(r) != 0 {
		return op{}, fmt.Errorf("%d trailing bytes", len(r))
	}
	return o, nil
}

// replay reads a whole log of size bytes from r (positioned at offset 0)
// and calls apply for each record in order. It returns the offset where the
// valid log ends; torn reports that bytes after it form a torn tail that the
// caller should truncate. A header or checksum mismatch before the tail is
// reported as an error wrapping ErrCorrupt. zeroTail reports whether every
// byte from an offset to the end of the file is zero (nil: never).
func replay(r io.Reader, size int64, zeroTail func(off int64) (bool, error), apply func(op) error) (end int64, torn bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if size < headerSize {
		h := make([]byte, size)
		if _, err := io.ReadFull(br, h); err != nil {
			return 0, false, err
		}
		if !bytes.HasPrefix(fileHeader(), h) {
			return 0, false, fmt.Errorf("%w: not a docstore log (bad header)", ErrCorrupt)
		}
		return 0, size > 0, nil
	}
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(br, h); err != nil {
		return 0, false, err
	}
	if string(h[:6]) != magic {
		return 0, false, fmt.Errorf("%w: not a docstore log (bad magic %q)", ErrCorrupt, h[:6])
	}
	if v := binary.LittleEndian.Uint16(h[6:]); v != version {
		return 0, false, fmt.Errorf("%w: unsupported format version %d (want %d)", ErrCorrupt, v, version)
	}
	off := int64(headerSize)
	// tornOrCorrupt decides between a zero-filled tail and real damage.
	tornOrCorrupt := func(what string) (int64, bool, error) {
		if zeroTail != nil {
			z, err := zeroTail(off)
			if err != nil {
				return off, false, err
			}
			if z {
				return off, true, nil
			}
		}
		return off, false, fmt.Errorf("%w: %s in record at byte offset %d", ErrCorrupt, what, off)
	}
	var rh [recHdrSize]byte
	var payload []byte
	for off < size {
		if size-off < recHdrSize {
			return off, true, nil
		}
		if _, err := io.ReadFull(br, rh[:]); err != nil {
			return off, false, err
		}
		n := binary.LittleEndian.Uint32(rh[0:])
		if crc32.Checksum(rh[:8], castagnoli) != binary.LittleEndian.Uint32(rh[8:]) {
			return tornOrCorrupt("header checksum mismatch")
		}
		if n > MaxRecordBytes {
			return off, false, fmt.Errorf("%w: record at byte offset %d claims %d bytes (limit %d)", ErrCorrupt, off, n, MaxRecordBytes)
		}
		if int64(n) > size-off-recHdrSize {
			return off, true, nil
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return off, false, err
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rh[4:]) {
			return tornOrCorrupt("payload checksum mismatch")
		}
		o, err := decodePayload(payload)
		if err != nil {
			return off, false, fmt.Errorf("%w: record at byte offset %d: %v", ErrCorrupt, off, err)
		}
		if err := apply(o); err != nil {
			return off, false, err
		}
		off += recHdrSize + int64(n)
	}
	return off, false, nil
}

// uvarint is binary.Uvarint restricted to the shortest encoding, so that
// every payload has exactly one byte form.
func uvarint(b []byte) (uint64, int) {
	v, k := binary.Uvarint(b)
	if k > 0 && k != uvarintLen(v) {
		return 0, -1
	}
	return v, k
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
