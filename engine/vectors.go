package engine

import (
	"math"

	"github.com/contriever-go/contriever/index/vector"
)

// DefaultNProbe is the number of IVF lists searched per query when none is
// given.
const DefaultNProbe = 8

// IVFLists is the IVF sizing rule of the project: the requested number of
// lists, or round(4·√n) when requested ≤ 0, clamped to [1, n] for n
// vectors.
func IVFLists(requested, n int) int {
	if requested <= 0 {
		requested = int(math.Round(4 * math.Sqrt(float64(n))))
	}
	return max(1, min(requested, n))
}

// NewVectorIndex builds the inner-product index vi describes over ids and
// their vectors (flat, row-major): vi.Type "flat", or "ivf" with NList and
// NProbe sized here (IVFLists, DefaultNProbe, nprobe at most nlist) and
// recorded in vi, k-means seeded with seed (0: the vector package's) and
// an SQ8 scan when vi.SQ8; "ivf-pq" is IVF with product quantisation of
// vi.PQM sub-quantisers (0: vector.DefaultPQM, recorded in vi).
func NewVectorIndex(dim int, ids []string, vecs []float32, vi *VecInfo, seed uint64) (vector.Index, error) {
	var vx vector.Index
	var err error
	if vi.Type == "flat" {
		vx, err = vector.NewFlat(dim)
	} else {
		vi.NList = IVFLists(vi.NList, len(ids))
		if vi.NProbe <= 0 {
			vi.NProbe = DefaultNProbe
		}
		vi.NProbe = min(vi.NProbe, vi.NList)
		opts := []vector.Option{vector.WithNProbe(vi.NProbe)}
		if seed != 0 {
			opts = append(opts, vector.WithSeed(seed))
		}
		if vi.SQ8 {
			opts = append(opts, vector.WithSQ8())
		}
		if vi.Type == "ivf-pq" {
			if vi.PQM <= 0 {
				vi.PQM = vector.DefaultPQM(dim)
			}
			opts = append(opts, vector.WithPQ(vi.PQM))
		}
		ivf, ierr := vector.NewIVF(dim, vi.NList, opts...)
		if ierr == nil {
			ierr = ivf.Train(vecs)
		}
		vx, err = ivf, ierr
	}
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := vx.Add(ids, vecs); err != nil {
			return nil, err
		}
	}
	return vx, nil
}
