package vector

import (
	"hash/maphash"
	"slices"
)

// checkUniqueIDs reports whether ids holds no id twice, and if it does, one
// repeated id. It sorts 64-bit hashes of the ids (a seeded maphash) instead
// of filling a map: at 1M ids a fraction of the time and no lasting heap,
// which keeps opening an index fast (IVF builds its id map lazily, idMap).
// Only when two hashes are equal (a duplicate, or a collision, with odds
// about n²/2⁶⁵) are the ids compared, through a map.
func checkUniqueIDs(ids []string) (string, bool) {
	seed := maphash.MakeSeed()
	hs := make([]uint64, len(ids))
	for i, id := range ids {
		hs[i] = maphash.String(seed, id)
	}
	slices.Sort(hs)
	for i := 1; i < len(hs); i++ {
		if hs[i] == hs[i-1] {
			seen := make(map[string]struct{}, len(ids))
			for _, id := range ids {
				if _, dup := seen[id]; dup {
					return id, false
				}
				seen[id] = struct{}{}
			}
			return "", true
		}
	}
	return "", true
}
