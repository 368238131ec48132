package encoder

import (
	"fmt"
	"math"

	"github.com/contriever-go/contriever/internal/nn"
)

// Pooling selects how token states become one vector.
type Pooling int

const (
	// PoolMean is Contriever's pooling: the mean over all positions with
	// attention mask 1, [CLS] and [SEP] included.
	PoolMean Pooling = iota
	// PoolCLS takes the state of the first ([CLS]) position.
	PoolCLS
	// PoolMax takes, per dimension, the maximum over the positions with
	// attention mask 1 (sentence-transformers' pooling_mode_max_tokens).
	PoolMax
	// PoolMeanSqrtLen is the sum over the positions with attention mask 1
	// divided by the square root of their count
	// (pooling_mode_mean_sqrt_len_tokens).
	PoolMeanSqrtLen
)

// String returns "mean", "cls", "max" or "mean_sqrt_len".
func (p Pooling) String() string {
	switch p {
	case PoolMean:
		return "mean"
	case PoolCLS:
		return "cls"
	case PoolMax:
		return "max"
	case PoolMeanSqrtLen:
		return "mean_sqrt_len"
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// valid reports whether p is one of the defined poolings.
func (p Pooling) valid() bool { return p >= PoolMean && p <= PoolMeanSqrtLen }

// MarshalText returns String's form, for JSON.
func (p Pooling) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("encoder: unknown pooling %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText parses ParsePooling's forms.
func (p *Pooling) UnmarshalText(b []byte) error {
	v, err := ParsePooling(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ParsePooling parses "mean", "cls", "max" or "mean_sqrt_len".
func ParsePooling(s string) (Pooling, error) {
	switch s {
	case "mean":
		return PoolMean, nil
	case "cls":
		return PoolCLS, nil
	case "max":
		return PoolMax, nil
	case "mean_sqrt_len":
		return PoolMeanSqrtLen, nil
	}
	return 0, fmt.Errorf("encoder: unknown pooling %q (want mean, cls, max or mean_sqrt_len): %w", s, ErrUnsupportedPooling)
}

// Pool pools hidden states [B, T, H] with mask [B, T] into out [B, H],
// optionally L2-normalising each vector.
func Pool(out, hidden []float32, mask []int32, B, T, H int, p Pooling, normalize bool) {
	PoolSkip(out, hidden, mask, B, T, H, p, 0, normalize)
}

// PoolSkip is Pool with the first skip positions of every row left out of
// the mask, as sentence-transformers' Pooling does with include_prompt
// false (skip is then the prompt's token count plus one for [CLS]). CLS
// pooling ignores skip, as sentence-transformers does. A row with no
// position left pools to zeros (mean, mean_sqrt_len) or -1e9 (max), as
// there; L2 normalisation leaves a zero vector zero.
func PoolSkip(out, hidden []float32, mask []int32, B, T, H int, p Pooling, skip int, normalize bool) {
	switch {
	case p == PoolCLS:
		nn.CLSPoolForward(out, hidden, B, T, H)
	case p == PoolMean && skip <= 0:
		nn.MeanPoolForward(out, hidden, mask, B, T, H)
	default:
		poolMasked(out, hidden, mask, B, T, H, p, max(skip, 0))
	}
	if normalize {
		nn.L2NormalizeForward(out, nil, out, B, H)
	}
}

// poolMasked computes mean, mean_sqrt_len and max pooling over the
// positions t >= skip with mask 1, accumulating in float64.
func poolMasked(out, hidden []float32, mask []int32, B, T, H int, p Pooling, skip int) {
	acc := make([]float64, H)
	for b := 0; b < B; b++ {
		o := out[b*H : b*H+H]
		n := 0
		if p == PoolMax {
			for i := range o {
				o[i] = -1e9
			}
		} else {
			clear(acc)
		}
		for t := skip; t < T; t++ {
			if mask[b*T+t] == 0 {
				continue
			}
			n++
			row := hidden[(b*T+t)*H : (b*T+t)*H+H]
			if p == PoolMax {
				for i, v := range row {
					if v > o[i] {
						o[i] = v
					}
				}
				continue
			}
			for i, v := range row {
				acc[i] += float64(v)
			}
		}
		if p == PoolMax {
			continue
		}
		d := math.Max(float64(n), 1e-9)
		if p == PoolMeanSqrtLen {
			d = math.Sqrt(d)
		}
		for i := range o {
			o[i] = float32(acc[i] / d)
		}
	}
}
