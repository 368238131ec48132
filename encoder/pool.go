package encoder

import (
	"fmt"

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
)

// String returns "mean" or "cls".
func (p Pooling) String() string {
	switch p {
	case PoolMean:
		return "mean"
	case PoolCLS:
		return "cls"
	}
	return fmt.Sprintf("Pooling(%d)", int(p))
}

// ParsePooling parses "mean" or "cls".
func ParsePooling(s string) (Pooling, error) {
	switch s {
	case "mean":
		return PoolMean, nil
	case "cls":
		return PoolCLS, nil
	}
	return 0, fmt.Errorf("encoder: unknown pooling %q (want mean or cls)", s)
}

// Pool pools hidden states [B, T, H] with mask [B, T] into out [B, H],
// optionally L2-normalising each vector.
func Pool(out, hidden []float32, mask []int32, B, T, H int, p Pooling, normalize bool) {
	switch p {
	case PoolCLS:
		nn.CLSPoolForward(out, hidden, B, T, H)
	default:
		nn.MeanPoolForward(out, hidden, mask, B, T, H)
	}
	if normalize {
		nn.L2NormalizeForward(out, nil, out, B, H)
	}
}
