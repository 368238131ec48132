// Package static loads, saves and runs static embedding models: one
// vector per token, a text's embedding being the L2-normalised mean of
// its tokens' vectors (special tokens are not added), compared by cosine.
//
// A model is a sentence-transformers folder with a StaticEmbedding module
// followed by a Normalize module, which sentence-transformers loads as it
// is:
//
//	modules.json                        [StaticEmbedding in 0_StaticEmbedding, Normalize in 1_Normalize]
//	config_sentence_transformers.json   similarity_fn_name "cosine"
//	0_StaticEmbedding/model.safetensors embedding.weight, vocab×dim
//	0_StaticEmbedding/tokenizer.json    the WordPiece tokenizer
//	1_Normalize/
//	README.md                           model card
//	contriever_training.json            how contriever made it (optional; Provenance)
//
// Contriever's builder of such models is package contrastive/ppmi.
package static

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
)

// Names inside a model folder.
const (
	ModuleType    = "sentence_transformers.models.StaticEmbedding"
	NormalizeType = "sentence_transformers.models.Normalize"
	ModuleDir     = "0_StaticEmbedding"
	NormalizeDir  = "1_Normalize"
	WeightKey     = "embedding.weight"
)

// ErrNotStatic reports a folder that is not a static embedding model.
var ErrNotStatic = errors.New("static: not a StaticEmbedding model folder")

// Model embeds texts as the normalised mean of token vectors.
type Model struct {
	tok    *wordpiece.Tokenizer
	weight []float32 // vocab×dim
	dim    int
	// MaxTokens cuts each text to its first MaxTokens word pieces; 0 keeps
	// them all (as sentence-transformers does).
	MaxTokens int
	// Provenance records how the model was made (nil: unknown); Load reads
	// it from ProvenanceFile and Save writes it there.
	Provenance *Provenance
}

// New returns a model over tok with the vocab×dim matrix weight.
func New(tok *wordpiece.Tokenizer, weight []float32, dim int) (*Model, error) {
	if dim < 1 || len(weight) != tok.VocabSize()*dim {
		return nil, fmt.Errorf("static: %d weights for a vocabulary of %d and dim %d", len(weight), tok.VocabSize(), dim)
	}
	return &Model{tok: tok, weight: weight, dim: dim}, nil
}

// Dim returns the embedding dimension.
func (m *Model) Dim() int { return m.dim }

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *wordpiece.Tokenizer { return m.tok }

// Weight returns the vocab×dim token matrix (not a copy).
func (m *Model) Weight() []float32 { return m.weight }

type moduleEntry struct {
	Idx  int    `json:"idx"`
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

// moduleDir returns the StaticEmbedding folder of a model folder: dir
// itself when it holds the weights and tokenizer, else the path that
// modules.json gives. It fails with ErrNotStatic when there is none.
func moduleDir(dir string) (string, bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "modules.json"))
	if err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "model.safetensors")); serr == nil {
			if _, terr := os.Stat(filepath.Join(dir, "tokenizer.json")); terr == nil {
				if _, cerr := os.Stat(filepath.Join(dir, "config.json")); cerr != nil {
					return dir, false, nil
				}
			}
		}
		return "", false, fmt.Errorf("%w: %s has no modules.json", ErrNotStatic, dir)
	}
	var mods []moduleEntry
	if err := json.Unmarshal(data, &mods); err != nil {
		return "", false, fmt.Errorf("static: %s: %w", filepath.Join(dir, "modules.json"), err)
	}
	if len(mods) == 0 || mods[0].Type != ModuleType {
		return "", false, fmt.Errorf("%w: %s's first module is not %s", ErrNotStatic, dir, ModuleType)
	}
	normalize := false
	for _, m := range mods[1:] {
		switch m.Type {
		case NormalizeType:
			normalize = true
		default:
			return "", false, fmt.Errorf("static: %s: module %q after the StaticEmbedding is not supported", dir, m.Type)
		}
	}
	p := filepath.Clean(mods[0].Path)
	if filepath.IsAbs(p) || p == ".." || len(p) > 2 && p[:3] == "../" {
		return "", false, fmt.Errorf("static: %s: module path %q leaves the folder", dir, mods[0].Path)
	}
	return filepath.Join(dir, p), normalize, nil
}

// IsModel reports whether dir is a static embedding model folder.
func IsModel(dir string) bool {
	_, _, err := moduleDir(dir)
	return err == nil
}

// maxVocab bounds the vocabulary of a loaded model, and maxDim its width.
const (
	maxVocab = 1 << 22
	maxDim   = 1 << 14
)

// Load reads a model folder (see the package documentation) or a bare
// StaticEmbedding module folder. Texts are always normalised: a folder
// without a Normalize module still gives cosine rankings, which do not
// depend on the norm.
func Load(dir string) (*Model, error) {
	mdir, _, err := moduleDir(dir)
	if err != nil {
		return nil, err
	}
	tok, err := wordpiece.Load(filepath.Join(mdir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	wpath := filepath.Join(mdir, "model.safetensors")
	ts, err := checkpoint.ReadSafetensors(wpath)
	if err != nil {
		return nil, err
	}
	t, ok := ts[WeightKey]
	if !ok {
		t, ok = ts["embeddings"] // model2vec's name
	}
	if !ok {
		return nil, fmt.Errorf("static: %s has no %s tensor", wpath, WeightKey)
	}
	if len(t.Shape) != 2 || t.Shape[0] < 1 || t.Shape[0] > maxVocab || t.Shape[1] < 1 || t.Shape[1] > maxDim {
		return nil, fmt.Errorf("static: %s: %s has shape %v (want vocab×dim)", wpath, WeightKey, t.Shape)
	}
	if t.Shape[0] != tok.VocabSize() {
		return nil, fmt.Errorf("static: %s: %d rows for a tokenizer of %d tokens", wpath, t.Shape[0], tok.VocabSize())
	}
	for _, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("static: %s: non-finite weight", wpath)
		}
	}
	m, err := New(tok, t.Data, t.Shape[1])
	if err != nil {
		return nil, err
	}
	if m.Provenance, err = ReadProvenance(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// EmbedIDs writes into dst (len Dim) the normalised mean of the vectors of
// ids; ids outside the vocabulary are skipped; no ids (or only zero
// vectors) give the zero vector.
func (m *Model) EmbedIDs(ids []int32, dst []float32) {
	clear(dst[:m.dim])
	if m.MaxTokens > 0 && len(ids) > m.MaxTokens {
		ids = ids[:m.MaxTokens]
	}
	V := int32(len(m.weight) / m.dim)
	for _, id := range ids {
		if id < 0 || id >= V {
			continue
		}
		row := m.weight[int(id)*m.dim : (int(id)+1)*m.dim]
		for k, v := range row {
			dst[k] += v
		}
	}
	var ss float64
	for _, v := range dst[:m.dim] {
		ss += float64(v) * float64(v)
	}
	if ss > 0 {
		inv := float32(1 / math.Sqrt(ss))
		for k := range dst[:m.dim] {
			dst[k] *= inv
		}
	}
}

// Embed returns the embeddings of texts as one len(texts)×Dim row-major
// matrix, computed in parallel.
func (m *Model) Embed(texts []string) []float32 {
	out := make([]float32, len(texts)*m.dim)
	workers := min(runtime.GOMAXPROCS(0), max(1, len(texts)/64))
	var wg sync.WaitGroup
	const block = 64
	next := make(chan int, (len(texts)+block-1)/block)
	for i := 0; i < len(texts); i += block {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []int32
			for start := range next {
				for i := start; i < min(start+block, len(texts)); i++ {
					ids = m.tok.AppendTokenize(ids[:0], texts[i])
					m.EmbedIDs(ids, out[i*m.dim:(i+1)*m.dim])
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// Files lists the files of a static model folder that define the model,
// relative to dir, sorted: modules.json, config_sentence_transformers.json
// when present, and the StaticEmbedding module's weights and tokenizer (a
// bare module folder: its model.safetensors and tokenizer.json). Copying
// them keeps the folder loadable by Load and by sentence-transformers (the
// Normalize module has no files).
func Files(dir string) ([]string, error) {
	mdir, _, err := moduleDir(dir)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(dir, mdir)
	if err != nil {
		return nil, err
	}
	out := []string{filepath.Join(rel, "model.safetensors"), filepath.Join(rel, "tokenizer.json")}
	for _, n := range []string{"modules.json", "config_sentence_transformers.json", ProvenanceFile} {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil && st.Mode().IsRegular() {
			out = append(out, n)
		}
	}
	for _, f := range out {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("static: %s is not a regular file", filepath.Join(dir, f))
		}
	}
	sort.Strings(out)
	return out, nil
}
