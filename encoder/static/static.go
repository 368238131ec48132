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
// An asymmetric model, whose queries have their own token vectors, puts a
// Router (sentence-transformers 5) in place of the StaticEmbedding, with
// one StaticEmbedding per route, both over the same tokenizer; its
// encode_query and encode_document are Model.EmbedQueries and Embed:
//
//	modules.json                        [Router in the folder itself, Normalize in 1_Normalize]
//	router_config.json                  routes "query" and "document", one StaticEmbedding each
//	query_0_StaticEmbedding/            the query vectors (model.safetensors, tokenizer.json)
//	document_0_StaticEmbedding/         the document vectors
//
// Contriever's builder of such models is package contrastive/ppmi.
package static

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/wordpiece"
	"github.com/contriever-go/contriever/internal/readlimit"
)

// Names inside a model folder.
const (
	ModuleType    = "sentence_transformers.models.StaticEmbedding"
	NormalizeType = "sentence_transformers.models.Normalize"
	RouterType    = "sentence_transformers.models.Router"
	ModuleDir     = "0_StaticEmbedding"
	NormalizeDir  = "1_Normalize"
	RouterConfig  = "router_config.json"
	// QueryModuleDir and DocumentModuleDir are an asymmetric model's
	// modules, inside the Router's folder, named as sentence-transformers
	// names them (route_index_type).
	QueryModuleDir    = "query_0_StaticEmbedding"
	DocumentModuleDir = "document_0_StaticEmbedding"
	WeightKey         = "embedding.weight"
)

// ErrNotStatic reports a folder that is not a static embedding model.
var ErrNotStatic = errors.New("static: not a StaticEmbedding model folder")

// Model embeds texts as the normalised mean of token vectors.
type Model struct {
	tok    *wordpiece.Tokenizer
	weight []float32 // vocab×dim
	query  []float32 // vocab×dim, the queries' vectors (nil: weight's)
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

// NewAsymmetric returns a model over tok that embeds documents with the
// vocab×dim matrix weight and queries with query, of the same shape.
func NewAsymmetric(tok *wordpiece.Tokenizer, weight, query []float32, dim int) (*Model, error) {
	m, err := New(tok, weight, dim)
	if err != nil {
		return nil, err
	}
	if len(query) != len(weight) {
		return nil, fmt.Errorf("static: %d query weights for a vocabulary of %d and dim %d", len(query), tok.VocabSize(), dim)
	}
	m.query = query
	return m, nil
}

// Asymmetric reports whether queries have their own vectors.
func (m *Model) Asymmetric() bool { return m.query != nil }

// QueryWeight returns the vocab×dim matrix that embeds queries (not a
// copy): Weight's for a symmetric model.
func (m *Model) QueryWeight() []float32 {
	if m.query != nil {
		return m.query
	}
	return m.weight
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

// Bounds on what Load reads whole: modules.json and router_config.json,
// and an asymmetric model's tokenizers (as wordpiece bounds tokenizer.json).
const (
	maxConfig    = 1 << 20
	maxTokenizer = 256 << 20
)

// errTooLarge is wrapped by the error for a model folder's file over its
// bound.
var errTooLarge = errors.New("file too large")

// readConfig reads a small JSON file of a model folder into v.
func readConfig(path string, v any) error {
	data, err := readlimit.ReadFile(path, maxConfig, errTooLarge)
	if err != nil {
		return fmt.Errorf("static: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("static: %s: %w", path, err)
	}
	return nil
}

// inside joins rel to dir, refusing a path that leaves dir.
func inside(dir, rel, what string) (string, error) {
	p := filepath.Clean(rel)
	if filepath.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("static: %s: %s %q leaves the folder", dir, what, rel)
	}
	return filepath.Join(dir, p), nil
}

// routerConfig is the part of a Router's router_config.json that an
// asymmetric static model uses.
type routerConfig struct {
	Types     map[string]string   `json:"types"`
	Structure map[string][]string `json:"structure"`
}

// moduleDirs returns the StaticEmbedding folders of a model folder: the
// documents' (dir itself when it holds the weights and tokenizer, else the
// path that modules.json gives) and, for a Router folder, the queries'
// ("" for a symmetric model). It fails with ErrNotStatic when there is
// none.
func moduleDirs(dir string) (doc, query string, err error) {
	mpath := filepath.Join(dir, "modules.json")
	if _, err := os.Stat(mpath); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "model.safetensors")); serr == nil {
			if _, terr := os.Stat(filepath.Join(dir, "tokenizer.json")); terr == nil {
				if _, cerr := os.Stat(filepath.Join(dir, "config.json")); cerr != nil {
					return dir, "", nil
				}
			}
		}
		return "", "", fmt.Errorf("%w: %s has no modules.json", ErrNotStatic, dir)
	}
	var mods []moduleEntry
	if err := readConfig(mpath, &mods); err != nil {
		return "", "", err
	}
	if len(mods) == 0 || (mods[0].Type != ModuleType && mods[0].Type != RouterType) {
		return "", "", fmt.Errorf("%w: %s's first module is not %s", ErrNotStatic, dir, ModuleType)
	}
	for _, m := range mods[1:] {
		if m.Type != NormalizeType {
			return "", "", fmt.Errorf("static: %s: module %q after the %s is not supported", dir, m.Type, mods[0].Type)
		}
	}
	first, err := inside(dir, mods[0].Path, "module path")
	if err != nil {
		return "", "", err
	}
	if mods[0].Type == ModuleType {
		return first, "", nil
	}
	// A Router: one StaticEmbedding for queries and one for documents.
	rpath := filepath.Join(first, RouterConfig)
	var rc routerConfig
	if err := readConfig(rpath, &rc); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("%w: %s: a Router without %s", ErrNotStatic, dir, RouterConfig)
		}
		return "", "", err
	}
	route := func(name string) (string, error) {
		ids := rc.Structure[name]
		if len(ids) != 1 {
			return "", fmt.Errorf("%w: %s: route %q has %d modules (want one StaticEmbedding)", ErrNotStatic, rpath, name, len(ids))
		}
		id := ids[0]
		if rc.Types[id] != ModuleType {
			return "", fmt.Errorf("%w: %s: route %q's module %q is %q (want %s)", ErrNotStatic, rpath, name, id, rc.Types[id], ModuleType)
		}
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) {
			return "", fmt.Errorf("static: %s: module name %q is not a folder name", rpath, id)
		}
		return filepath.Join(first, id), nil
	}
	if len(rc.Structure) != 2 {
		return "", "", fmt.Errorf("%w: %s: %d routes (want query and document)", ErrNotStatic, rpath, len(rc.Structure))
	}
	if doc, err = route("document"); err != nil {
		return "", "", err
	}
	if query, err = route("query"); err != nil {
		return "", "", err
	}
	if doc == query {
		return "", "", fmt.Errorf("static: %s: queries and documents share module %s; a symmetric model needs no Router", rpath, filepath.Base(doc))
	}
	return doc, query, nil
}

// IsModel reports whether dir is a static embedding model folder.
func IsModel(dir string) bool {
	_, _, err := moduleDirs(dir)
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
	mdir, qdir, err := moduleDirs(dir)
	if err != nil {
		return nil, err
	}
	tpath := filepath.Join(mdir, "tokenizer.json")
	tok, err := wordpiece.Load(tpath)
	if err != nil {
		return nil, err
	}
	weight, dim, err := loadWeight(mdir, tok)
	if err != nil {
		return nil, err
	}
	m, err := New(tok, weight, dim)
	if err != nil {
		return nil, err
	}
	if qdir != "" {
		if err := sameFile(tpath, filepath.Join(qdir, "tokenizer.json")); err != nil {
			return nil, err
		}
		q, qdim, err := loadWeight(qdir, tok)
		if err != nil {
			return nil, err
		}
		if qdim != dim {
			return nil, fmt.Errorf("static: %s: query vectors of dim %d, document vectors of %d", dir, qdim, dim)
		}
		m.query = q
	}
	if m.Provenance, err = ReadProvenance(dir); err != nil {
		return nil, err
	}
	return m, nil
}

// sameFile fails unless the files a and b hold the same bytes (an
// asymmetric model's two tokenizers).
func sameFile(a, b string) error {
	x, err := readlimit.ReadFile(a, maxTokenizer, errTooLarge)
	if err != nil {
		return fmt.Errorf("static: %w", err)
	}
	y, err := readlimit.ReadFile(b, maxTokenizer, errTooLarge)
	if err != nil {
		return fmt.Errorf("static: %w", err)
	}
	if !bytes.Equal(x, y) {
		return fmt.Errorf("static: %s and %s differ: the query and document modules must share one tokenizer", a, b)
	}
	return nil
}

// loadWeight reads a StaticEmbedding module's vocab×dim matrix, checked
// against tok's vocabulary and for finite values.
func loadWeight(mdir string, tok *wordpiece.Tokenizer) ([]float32, int, error) {
	wpath := filepath.Join(mdir, "model.safetensors")
	ts, err := checkpoint.ReadSafetensors(wpath)
	if err != nil {
		return nil, 0, err
	}
	t, ok := ts[WeightKey]
	if !ok {
		t, ok = ts["embeddings"] // model2vec's name
	}
	if !ok {
		return nil, 0, fmt.Errorf("static: %s has no %s tensor", wpath, WeightKey)
	}
	if len(t.Shape) != 2 || t.Shape[0] < 1 || t.Shape[0] > maxVocab || t.Shape[1] < 1 || t.Shape[1] > maxDim {
		return nil, 0, fmt.Errorf("static: %s: %s has shape %v (want vocab×dim)", wpath, WeightKey, t.Shape)
	}
	if t.Shape[0] != tok.VocabSize() {
		return nil, 0, fmt.Errorf("static: %s: %d rows for a tokenizer of %d tokens", wpath, t.Shape[0], tok.VocabSize())
	}
	for _, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, 0, fmt.Errorf("static: %s: non-finite weight", wpath)
		}
	}
	return t.Data, t.Shape[1], nil
}

// EmbedIDs writes into dst (len Dim) the normalised mean of the vectors of
// ids, as a document; ids outside the vocabulary are skipped; no ids (or
// only zero vectors) give the zero vector.
func (m *Model) EmbedIDs(ids []int32, dst []float32) { m.embedIDs(m.weight, ids, dst) }

// EmbedQueryIDs is EmbedIDs for a query: with the query vectors of an
// asymmetric model.
func (m *Model) EmbedQueryIDs(ids []int32, dst []float32) { m.embedIDs(m.QueryWeight(), ids, dst) }

func (m *Model) embedIDs(w []float32, ids []int32, dst []float32) {
	clear(dst[:m.dim])
	if m.MaxTokens > 0 && len(ids) > m.MaxTokens {
		ids = ids[:m.MaxTokens]
	}
	V := int32(len(w) / m.dim)
	for _, id := range ids {
		if id < 0 || id >= V {
			continue
		}
		row := w[int(id)*m.dim : (int(id)+1)*m.dim]
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

// Embed returns the embeddings of texts, as documents, as one
// len(texts)×Dim row-major matrix, computed in parallel.
func (m *Model) Embed(texts []string) []float32 { return m.embed(m.weight, texts) }

// EmbedQueries is Embed for queries: with the query vectors of an
// asymmetric model (sentence-transformers' encode_query).
func (m *Model) EmbedQueries(texts []string) []float32 { return m.embed(m.QueryWeight(), texts) }

func (m *Model) embed(w []float32, texts []string) []float32 {
	out := make([]float32, len(texts)*m.dim)
	workers := min(runtime.GOMAXPROCS(0), max(1, len(texts)/64))
	var wg sync.WaitGroup
	const block = 64
	next := make(chan int, (len(texts)+block-1)/block)
	for i := 0; i < len(texts); i += block {
		next <- i
	}
	close(next)
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ids []int32
			for start := range next {
				for i := start; i < min(start+block, len(texts)); i++ {
					ids = m.tok.AppendTokenize(ids[:0], texts[i])
					m.embedIDs(w, ids, out[i*m.dim:(i+1)*m.dim])
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
	mdir, qdir, err := moduleDirs(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range []string{mdir, qdir} {
		if d == "" {
			continue
		}
		rel, err := filepath.Rel(dir, d)
		if err != nil {
			return nil, err
		}
		out = append(out, filepath.Join(rel, "model.safetensors"), filepath.Join(rel, "tokenizer.json"))
		if d == qdir { // the Router's configuration, beside its modules
			out = append(out, filepath.Join(filepath.Dir(rel), RouterConfig))
		}
	}
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
