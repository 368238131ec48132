package vector

import (
	"math"
	"math/rand/v2"
)

// assignBlock is the number of points scored against all centroids in one
// sgemm during assignment.
const assignBlock = 256

// kmeansConfig is the input of trainKMeans.
type kmeansConfig struct {
	d, k        int
	iters       int
	maxPerCentr int // sample at most maxPerCentr*k points (0: no limit)
	seed        uint64
	spherical   bool // normalise centroids after each update (inner-product IVF)
	workers     int
}

// trainKMeans clusters the n = len(x)/d points of x into cfg.k centroids
// (k×d, row-major) by Lloyd's algorithm with a seeded random initialisation
// (k distinct points, as FAISS). Assignment maximises the inner product,
// computed block by block with sgemm; empty clusters are re-seeded by
// splitting a large one (FAISS's rule). It requires n >= k.
func trainKMeans(x []float32, cfg kmeansConfig) []float32 {
	d, k := cfg.d, cfg.k
	n := len(x) / d
	rng := rand.New(rand.NewPCG(cfg.seed, 0x6b6d65616e73)) // "kmeans"
	if cfg.maxPerCentr > 0 && n > cfg.maxPerCentr*k {
		m := cfg.maxPerCentr * k
		perm := partialPerm(rng, n, m)
		sample := make([]float32, m*d)
		for i, p := range perm {
			copy(sample[i*d:(i+1)*d], x[p*d:(p+1)*d])
		}
		x, n = sample, m
	}
	cents := make([]float32, k*d)
	for i, p := range partialPerm(rng, n, k) {
		copy(cents[i*d:(i+1)*d], x[p*d:(p+1)*d])
	}
	if cfg.spherical {
		normalizeRows(cents, d)
	}
	labels := make([]int32, n)
	centsT := make([]float32, k*d)
	workers := cfg.workers
	if workers < 1 {
		workers = 1
	}
	sums := make([][]float64, workers)
	counts := make([][]int, workers)
	for it := 0; it < cfg.iters; it++ {
		transpose(cents, k, d, centsT)
		parallel(n, workers, func(w, lo, hi int) {
			if sums[w] == nil {
				sums[w] = make([]float64, k*d)
				counts[w] = make([]int, k)
			}
			s, c := sums[w], counts[w]
			clear(s)
			clear(c)
			assignRange(x, lo, hi, d, centsT, k, labels, nil)
			for i := lo; i < hi; i++ {
				l := int(labels[i])
				c[l]++
				acc := s[l*d : (l+1)*d]
				for j, v := range x[i*d : (i+1)*d] {
					acc[j] += float64(v)
				}
			}
		})
		total := make([]float64, k*d)
		cnt := make([]int, k)
		for w := range sums {
			if sums[w] == nil {
				continue
			}
			for i, v := range sums[w] {
				total[i] += v
			}
			for i, v := range counts[w] {
				cnt[i] += v
			}
		}
		for c := 0; c < k; c++ {
			if cnt[c] == 0 {
				continue
			}
			inv := 1 / float64(cnt[c])
			row := cents[c*d : (c+1)*d]
			for j := range row {
				row[j] = float32(total[c*d+j] * inv)
			}
		}
		splitEmpty(cents, cnt, d, n, rng)
		if cfg.spherical {
			normalizeRows(cents, d)
		}
	}
	return cents
}

// splitEmpty gives each empty cluster a copy of a large cluster's centroid
// (chosen with probability growing with its size), pushing the two copies
// slightly apart, as FAISS's Clustering does.
func splitEmpty(cents []float32, cnt []int, d, n int, rng *rand.Rand) {
	k := len(cnt)
	if n <= k {
		return
	}
	const eps = 1.0 / 1024
	for ci := 0; ci < k; ci++ {
		if cnt[ci] != 0 {
			continue
		}
		cj := 0
		for {
			p := float64(cnt[cj]-1) / float64(n-k)
			if rng.Float64() < p {
				break
			}
			cj = (cj + 1) % k
		}
		copy(cents[ci*d:(ci+1)*d], cents[cj*d:(cj+1)*d])
		for j := 0; j < d; j++ {
			if j%2 == 0 {
				cents[ci*d+j] *= 1 + eps
				cents[cj*d+j] *= 1 - eps
			} else {
				cents[ci*d+j] *= 1 - eps
				cents[cj*d+j] *= 1 + eps
			}
		}
		cnt[ci] = cnt[cj] / 2
		cnt[cj] -= cnt[ci]
	}
}

// partialPerm returns m distinct indices from [0, n) in random order.
func partialPerm(rng *rand.Rand, n, m int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := 0; i < m; i++ {
		j := i + rng.IntN(n-i)
		p[i], p[j] = p[j], p[i]
	}
	return p[:m]
}

// assignRange sets labels[i], for rows i in [lo, hi) of x, to the index of
// the centroid with the largest inner product (lowest index on ties); when
// best is not nil it receives that inner product. centsT holds the k
// centroids transposed (d×k).
func assignRange(x []float32, lo, hi, d int, centsT []float32, k int, labels []int32, best []float32) {
	tile := make([]float32, assignBlock*k)
	for b := lo; b < hi; b += assignBlock {
		m := min(assignBlock, hi-b)
		gemmSerial(false, false, m, k, d, 1, x[b*d:], d, centsT, k, 0, tile, k)
		for r := 0; r < m; r++ {
			row := tile[r*k : (r+1)*k]
			bi, bs := 0, float32(math.Inf(-1))
			for j, s := range row {
				if s > bs {
					bi, bs = j, s
				}
			}
			labels[b+r] = int32(bi)
			if best != nil {
				best[b+r] = bs
			}
		}
	}
}
