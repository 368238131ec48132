package bm25

import "math/bits"

// Lucene stores a document's length in one byte (SmallFloat.intToByte4:
// exact below 24, then 4 significant bits). These reproduce the encoding,
// for the LuceneNorms option.

const numFreeValues = 24 // 255 - longToInt4(math.MaxInt32)

func longToInt4(i uint64) uint64 {
	numBits := 64 - bits.LeadingZeros64(i)
	if numBits < 4 {
		return i
	}
	shift := uint(numBits - 4)
	enc := (i >> shift) & 0x07
	return enc | uint64(shift+1)<<3
}

func int4ToLong(i uint64) uint64 {
	b := i & 0x07
	shift := int(i>>3) - 1
	if shift == -1 {
		return b
	}
	return (b | 0x08) << uint(shift)
}

// luceneLength returns the length Lucene's BM25 sees for a document of l
// tokens: l encoded to a byte and decoded.
func luceneLength(l int64) int64 {
	if l < numFreeValues {
		return l
	}
	b := numFreeValues + longToInt4(uint64(l-numFreeValues))
	return int64(numFreeValues + int4ToLong(b-numFreeValues))
}
