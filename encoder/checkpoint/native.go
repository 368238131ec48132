package checkpoint

import (
	"encoding/binary"
	"unsafe"
)

// littleEndian is true on little-endian machines, where float32 data in the
// files' byte order can be read straight into a []float32.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// float32Bytes returns the memory of d as bytes (native byte order).
func float32Bytes(d []float32) []byte {
	if len(d) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d))
}
