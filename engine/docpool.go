package engine

import (
	"context"
	"errors"
)

// ErrBusy: every slot for document embedding is taken; the client should
// retry later (the API answers 429 with Retry-After).
var ErrBusy = errors.New("busy: every document-embedding slot is in use")

// DocEncoder is an Encoder with a separate, bounded admission for document
// embedding (*EncoderPool satisfies it): EncodeDocs fails at once with
// ErrBusy instead of waiting when its slots are full, so that bulk writes
// can neither starve query embedding nor queue until they time out.
type DocEncoder interface {
	EncodeDocs(ctx context.Context, texts []string) ([]float32, error)
}

// docSlots is the number of document embeddings an EncoderPool of n
// encoders runs at once: half of them (at least one), so that queries
// always find an encoder when n > 1.
func docSlots(n int) int { return max(1, n/2) }

// EncodeDocs implements PromptEncoder and DocEncoder: it embeds documents
// (passages: title + " " + text) with the document prompt, with an encoder
// of the pool in one of the pool's document slots, waiting for one in a
// bounded line, and returns ErrBusy when the line is full.
func (p *EncoderPool) EncodeDocs(ctx context.Context, texts []string) ([]float32, error) {
	// A bounded line (docWaiting) waits for the slots; beyond it, ErrBusy.
	select {
	case p.docWait <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	select {
	case p.docs <- struct{}{}:
		<-p.docWait
		defer func() { <-p.docs }()
	case <-ctx.Done():
		<-p.docWait
		return nil, ctx.Err()
	}
	return p.encodeDirect(ctx, texts, p.conv.DocPrompt)
}

// docWaiting is the number of document embeddings that may wait for a
// slot, per slot; more get ErrBusy at once.
const docWaiting = 2
