package docstore

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func encodeOps(t testing.TB, ops ...op) []byte {
	b := fileHeader()
	for i, o := range ops {
		if o.seq == 0 {
			o.seq = uint64(i + 1)
		}
		rec, err := encodeRecord(o)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, rec...)
	}
	return b
}

// FuzzReplay feeds arbitrary bytes to the log reader. It must never panic;
// when it accepts a prefix, replaying exactly that prefix must give the same
// operations with no torn tail, and re-encoding those operations must give
// the prefix back byte for byte (the format has one encoding).
func FuzzReplay(f *testing.F) {
	f.Add([]byte{})
	f.Add(fileHeader())
	f.Add(encodeOps(f, op{kind: opPut, docs: []Doc{{ID: "a", Title: "t", Text: "x"}, {ID: "b", Title: "", Text: ""}}}, op{kind: opDelete, ids: []string{"a"}}))
	f.Add(encodeOps(f, op{kind: opPut, docs: []Doc{{ID: "ü", Title: "title", Text: "some longer text"}}})[:30])
	f.Add(append(encodeOps(f, op{kind: opDelete, ids: []string{"x", "y"}}), 0, 0, 0, 0))
	f.Add(encodeOps(f, op{kind: opPut, seq: 9, docs: []Doc{{ID: "a", Title: "", Text: ""}}}, op{kind: opPut, seq: 3, docs: []Doc{{ID: "b", Title: "", Text: ""}}}, op{kind: opMark, seq: 12}))
	f.Fuzz(func(t *testing.T, data []byte) {
		zero := func(off int64) (bool, error) {
			for _, c := range data[off:] {
				if c != 0 {
					return false, nil
				}
			}
			return true, nil
		}
		var ops []op
		end, torn, err := replay(bytes.NewReader(data), int64(len(data)), zero, func(o op) error {
			ops = append(ops, o)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if end < 0 || end > int64(len(data)) || (!torn && end != int64(len(data)) && len(data) >= headerSize) {
			t.Fatalf("end %d, torn %v, len %d", end, torn, len(data))
		}
		if end < headerSize {
			if len(ops) != 0 {
				t.Fatal("ops without a header")
			}
			return
		}
		var again []op
		end2, torn2, err := replay(bytes.NewReader(data[:end]), end, nil, func(o op) error {
			again = append(again, o)
			return nil
		})
		if err != nil || torn2 || end2 != end || !reflect.DeepEqual(again, ops) {
			t.Fatalf("replaying the accepted prefix: end %d torn %v err %v", end2, torn2, err)
		}
		if enc := encodeOps(t, ops...); !bytes.Equal(enc, data[:end]) {
			t.Fatalf("re-encoding differs from the accepted prefix")
		}
	})
}

func TestNonCanonicalVarintRejected(t *testing.T) {
	// op put, seq 5, count 1 written as 0x81 0x00 (an overlong 1).
	if _, err := decodePayload([]byte{opPut, 5, 0x81, 0x00, 1, 'a', 0, 0}); err == nil {
		t.Fatal("overlong varint accepted")
	}
	if o, err := decodePayload([]byte{opPut, 5, 1, 1, 'a', 0, 0}); err != nil || o.docs[0].ID != "a" || o.seq != 5 {
		t.Fatalf("canonical payload: %+v, %v", o, err)
	}
	for _, p := range [][]byte{
		{opPut, 0, 1, 1, 'a', 0, 0}, // seq 0
		{opMark, 4, 1},              // mark with items
		{opMark, 4, 0, 0},           // trailing byte
		{9, 4, 0},                   // unknown op
	} {
		if _, err := decodePayload(p); err == nil {
			t.Errorf("payload %v accepted", p)
		}
	}
}
