// The index folder of the search service (Collection): one folder
// holding the document store (package docstore, the write-ahead record),
// the BM25 index (package bm25, on bleve), a copy of the encoder model, the
// vector index (package vector, flat or IVF) with the list of ids it holds,
// and a manifest (manifest.json: format version, model config and hash,
// pooling, index parameters, counts, and the docstore Seq the indexes
// reflect). Build writes everything into a temporary sibling folder and
// renames it into place after the manifest, written last, so an interrupted
// build never loads: Open refuses a folder without a valid manifest
// (ErrNoManifest, ErrCorrupt).
//
// A Collection is served through a Composite (Backend): writes go to
// the document store first (durable when acknowledged), then to BM25 and
// the vectors. BM25 persists each change itself; the vectors are saved by
// Flush, which writes a new vector snapshot and id list named after the
// store's Seq, then a new manifest pointing at them, then removes the old
// snapshot, so a crash at any point leaves a consistent snapshot. Open
// catches the indexes up with the store: it removes from them the ids of the
// snapshot the store no longer holds, and re-indexes the documents written
// after the snapshot's Seq (docstore.Since). When BM25 still disagrees with
// the store in its document count afterwards (a document both added and
// deleted between the last flush and a crash), it is rebuilt from the store.

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/contriever-go/contriever/beir"
	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine/fusion"
	"github.com/contriever-go/contriever/index/bm25"
	"github.com/contriever-go/contriever/index/docstore"
	"github.com/contriever-go/contriever/index/vector"
	"github.com/contriever-go/contriever/internal/atomicfile"
	"github.com/contriever-go/contriever/internal/progress"
)

// BuildOptions configure Build.
type BuildOptions struct {
	Model   string // model folder (required unless NoDense)
	NoBM25  bool   // no BM25 index
	NoDense bool   // no model and no vectors

	Vector string // "flat" (default) or "ivf"
	NList  int    // IVF lists; 0: 4·sqrt(n), at most n
	NProbe int    // IVF lists searched per query; 0: 8
	Seed   uint64 // IVF k-means seed; 0: the package default
	SQ8    bool   // IVF: 8-bit scalar-quantised scan with exact re-ranking (vector.WithSQ8)
	PQM    int    // Vector "ivf-pq": PQ sub-quantisers (vector.WithPQ); 0: vector.DefaultPQM

	// Settings override the model folder's conventions (pooling,
	// normalisation, maximum length, query and document prompts); the
	// result is recorded in the manifest.
	Settings  ModelSettings
	BatchSize int // texts per forward pass; 0: 32
	// Precision of the encoder's linear layers (f32 by default), recorded
	// in the manifest for the queries and documents embedded later.
	Precision encoder.Precision

	BM25 bm25.Options // k1, b, multifield, Lucene norms (Quiet and Total are set by Build)

	// Vectors, when set, supplies the document vectors instead of
	// embedding the corpus (vectors computed elsewhere): it is given the
	// stored ids in order and the model's dimension and returns one row
	// per id, in that order.
	Vectors func(ids []string, dim int) ([]float32, error)

	CacheDir  string        // corpus embedding cache ("" : none)
	Training  *TrainingInfo // how the model was made, recorded in the manifest (nil: not recorded)
	Overwrite bool          // replace an existing destination
	Quiet     bool          // no progress on stderr
	Logger    *slog.Logger
}

// docBatch is the number of documents per docstore record during Build.
const docBatch = 2000

// Build creates an index folder at dir from the documents corpus yields
// (BEIR documents, in order; a repeated id is an error). Everything is
// written into a temporary sibling folder that replaces dir only when
// complete.
func Build(ctx context.Context, dir string, corpus func(fn func(beir.Doc) error) error, opt BuildOptions) (m *Manifest, err error) {
	dir = filepath.Clean(dir)
	if opt.NoDense && opt.NoBM25 {
		return nil, errors.New("collection: --no-bm25 and --no-dense leave nothing to index")
	}
	if !opt.NoDense && opt.Model == "" {
		return nil, errors.New("collection: a model folder is required for the dense index (or build with NoDense)")
	}
	if opt.Vector == "" {
		opt.Vector = "flat"
	}
	if opt.Vector != "flat" && opt.Vector != "ivf" {
		return nil, fmt.Errorf("collection: unknown vector index type %q (flat or ivf)", opt.Vector)
	}
	if opt.SQ8 && opt.Vector != "ivf" {
		return nil, errors.New("collection: SQ8 applies to the ivf vector index only")
	}
	if _, err := os.Stat(dir); err == nil && !opt.Overwrite {
		return nil, fmt.Errorf("index %s: %w (remove it or overwrite)", dir, ErrExists)
	}
	// A served folder is never replaced: refuse now, and again at the swap.
	if l, err := lockForRebuild(dir); err != nil {
		return nil, err
	} else if l != nil {
		l.Close()
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	removeAbandonedBuilds(dir)
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".building-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	now := time.Now().UTC()
	m = &Manifest{Created: now, Updated: now, Training: opt.Training}

	// 1. The document store.
	store, err := docstore.Open(filepath.Join(tmp, DocsFile))
	if err != nil {
		return nil, err
	}
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	seen := make(map[string]struct{})
	batch := make([]docstore.Doc, 0, docBatch)
	bar := newBar("read", opt.Quiet)
	err = corpus(func(d beir.Doc) error {
		if d.ID == "" {
			return fmt.Errorf("document %d: %w", len(seen)+1, docstore.ErrEmptyID)
		}
		if _, dup := seen[d.ID]; dup {
			return fmt.Errorf("document id %q repeated: %w", d.ID, beir.ErrDuplicate)
		}
		seen[d.ID] = struct{}{}
		batch = append(batch, docstore.Doc{ID: d.ID, Title: d.Title, Text: d.Text})
		if len(batch) == docBatch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := store.Put(batch); err != nil {
				return err
			}
			bar.Add(int64(len(batch)))
			batch = batch[:0]
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = store.Put(batch)
		bar.Add(int64(len(batch)))
	}
	bar.Finish()
	if err != nil {
		return nil, err
	}
	seen = nil
	m.Docs = store.Len()
	log.Info("documents stored", "docs", m.Docs)

	// 2. BM25.
	if !opt.NoBM25 {
		bo := opt.BM25
		bo.Quiet, bo.Total = opt.Quiet, store.Len()
		ix, err := bm25.Build(ctx, filepath.Join(tmp, BM25Dir), storeDocs(store), bo)
		if err != nil {
			return nil, fmt.Errorf("bm25: %w", err)
		}
		st := ix.Stats()
		m.BM25 = &BM25Info{K1: st.Params.K1, B: st.Params.B, Multifield: len(st.Fields) > 1, LuceneNorms: st.LuceneNorms, Docs: ix.Len()}
		if err := ix.Close(); err != nil {
			return nil, err
		}
		log.Info("bm25 built", "docs", m.BM25.Docs)
	}

	// 3. Model copy, embeddings and the vector index.
	lfAlpha, lfRule := fusion.LabelFree(false)
	if !opt.NoDense {
		mi, pool, err := copyModel(opt.Model, filepath.Join(tmp, ModelDir), opt.Settings, opt.BatchSize, opt.Precision)
		if err != nil {
			return nil, err
		}
		lfAlpha, lfRule = LabelFreeAlpha(pool)
		m.Model = mi
		ids := store.IDs()
		texts := make([]string, len(ids))
		for i, id := range ids {
			d, _ := store.Get(id)
			texts[i] = d.Passage()
		}
		var vecs []float32
		var hit bool
		if opt.Vectors != nil {
			vecs, err = opt.Vectors(ids, pool.Dim())
		} else {
			t0 := time.Now()
			vecs, _, hit, err = CachedEmbed(ctx, pool, mi.Hash, ids, texts, opt.CacheDir, "embed", opt.Quiet)
			if sec := time.Since(t0).Seconds(); err == nil && !hit && len(ids) > 0 && sec > 0 {
				mi.Embedded = &EmbedRun{Docs: len(ids), Seconds: sec, DocsPerS: float64(len(ids)) / sec,
					BatchSize: pool.Options().BatchSize, Threads: runtime.GOMAXPROCS(0)}
			}
		}
		if err != nil {
			return nil, err
		}
		log.Info("corpus embedded", "docs", len(ids), "cache_hit", hit)
		vi := &VecInfo{Type: opt.Vector, Metric: vector.InnerProduct.String()}
		if opt.Vector != "flat" {
			if len(ids) == 0 {
				return nil, errors.New("collection: an IVF index needs documents to train on")
			}
			vi.NList, vi.NProbe, vi.SQ8 = opt.NList, opt.NProbe, opt.SQ8
			if opt.Vector == "ivf-pq" {
				vi.PQM = opt.PQM
			}
		}
		vx, err := NewVectorIndex(pool.Dim(), ids, vecs, vi, opt.Seed)
		if err != nil {
			return nil, err
		}
		m.Vectors = vi
		if err := saveSnapshot(tmp, m, vx, ids, store.Seq()); err != nil {
			return nil, err
		}
	}

	// The label-free fusion default for this model (LabelFreeAlpha), until α
	// is chosen on qrels (SetHybrid).
	if m.BM25 != nil && m.Vectors != nil {
		m.Hybrid = &HybridInfo{Alpha: lfAlpha, Norm: fusion.MinMax.String(), Rule: lfRule}
	}

	// 4. The manifest, last; then the folder replaces dir.
	m.Seq = store.Seq()
	if err := store.Close(); err != nil {
		return nil, err
	}
	store = nil
	if err := writeManifest(tmp, m); err != nil {
		return nil, err
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if _, serr := os.Stat(dir); serr == nil {
		// Hold the old folder's lock across the swap so that no serve
		// opens it in between, and swap in one step where the platform
		// can (renameat2 RENAME_EXCHANGE): dir is always a whole index.
		l, err := lockForRebuild(dir)
		if err != nil {
			return nil, err
		}
		if l != nil {
			defer l.Close()
		}
		if ok, err := exchange(tmp, dir); err != nil {
			return nil, err
		} else if ok {
			os.RemoveAll(tmp) // now the old folder
			return m, atomicfile.SyncDir(filepath.Dir(dir))
		}
		old := tmp + ".old"
		if err := os.Rename(dir, old); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.Rename(old, dir)
			return nil, err
		}
		os.RemoveAll(old)
	} else if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	return m, atomicfile.SyncDir(filepath.Dir(dir))
}

// removeAbandonedBuilds removes the temporary folders of builds of dir
// that were killed; a folder whose document store is still locked belongs
// to a running build and is kept.
func removeAbandonedBuilds(dir string) {
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".building-*"))
	for _, o := range old {
		if strings.HasSuffix(o, ".old") {
			continue
		}
		if s, err := docstore.Open(filepath.Join(o, DocsFile)); err == nil {
			s.Close()
		} else if errors.Is(err, docstore.ErrLocked) {
			continue
		}
		os.RemoveAll(o)
	}
}

// storeDocs yields the documents of a store as BEIR documents.
func storeDocs(s *docstore.Store) func(fn func(beir.Doc) error) error {
	return func(fn func(beir.Doc) error) error {
		for d := range s.All() {
			if err := fn(beir.Doc{ID: d.ID, Title: d.Title, Text: d.Text}); err != nil {
				return err
			}
		}
		return nil
	}
}

// copyModel copies the model files of src (sentence-transformers files
// included) into dst, hashes them and opens the model copy for retrieval
// with the folder's conventions and settings applied (OpenModel).
func copyModel(src, dst string, settings ModelSettings, batchSize int, prec encoder.Precision) (*ModelInfo, Embedder, error) {
	files, err := presentModelFiles(src)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		to := filepath.Join(dst, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return nil, nil, err
		}
		if err := copyFile(filepath.Join(src, filepath.FromSlash(f)), to); err != nil {
			return nil, nil, fmt.Errorf("copying model: %w", err)
		}
	}
	hash, err := hashFiles(dst, files)
	if err != nil {
		return nil, nil, err
	}
	kind := modelKind(dst)
	var cb []byte
	if kind == KindTransformer {
		copied, err := encoder.ReadFolder(dst)
		if err != nil {
			return nil, nil, fmt.Errorf("model copy: %w", err)
		}
		cfg, err := os.ReadFile(filepath.Join(copied.ModelDir, "config.json"))
		if err != nil {
			return nil, nil, fmt.Errorf("model %s: %w", src, err)
		}
		var compact json.RawMessage
		if err := json.Unmarshal(cfg, &compact); err != nil {
			return nil, nil, fmt.Errorf("model %s: config.json: %w", src, err)
		}
		cb, _ = json.Marshal(compact)
	}
	pool, err := OpenModelAt(dst, settings, batchSize, 0, prec)
	if err != nil {
		return nil, nil, err
	}
	abs, _ := filepath.Abs(src)
	c := ConventionsOf(pool)
	mi := &ModelInfo{Source: abs, Hash: hash, Files: files, Config: cb, Dim: pool.Dim(), Pooling: c.Pooling.String(), Normalize: c.Normalize, MaxLength: c.MaxLength,
		Conventions: &c}
	if kind == KindStatic {
		mi.Kind = KindStatic
	}
	if p := pool.Options().Precision; p != encoder.F32 {
		mi.Precision, mi.Arithmetic = p.String(), p.Arithmetic()
	}
	return mi, pool, nil
}

// saveSnapshot writes the vector index and its id list named after seq,
// and records them in m (the manifest is written by the caller).
func saveSnapshot(dir string, m *Manifest, vx vector.Index, ids []string, seq uint64, between ...func() error) error {
	vf := fmt.Sprintf("vectors-%d.idx", seq)
	idf := fmt.Sprintf("ids-%d.json", seq)
	if err := vx.Save(filepath.Join(dir, vf)); err != nil {
		return err
	}
	for _, f := range between {
		if err := f(); err != nil {
			return err
		}
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, idf), b); err != nil {
		return err
	}
	m.Vectors.File, m.Vectors.IDsFile, m.Vectors.Count = vf, idf, vx.Len()
	if p, ok := vx.(vector.Prober); ok {
		m.Vectors.NProbe = p.NProbe()
	}
	return nil
}

// OpenOptions configure Open.
type OpenOptions struct {
	Encoders int // encoders in the pool (concurrent embeddings); 0: GOMAXPROCS
	NProbe   int // override the IVF nprobe of the manifest; 0: keep
	// Model, when set, is the model folder the caller expects the index
	// to hold: a folder whose files differ from the copy's (hash) is
	// refused (ErrSettings).
	Model string
	// Settings are the conventions the caller asks for (query and
	// document prompts, pooling, ...), applied to the manifest's (or to
	// Model's folder): any difference from the manifest's is refused
	// (ErrSettings), naming the fields.
	Settings ModelSettings
	Logger   *slog.Logger // catch-up and rebuild messages; default: discard
	// SearchSlots bounds the BM25 searches that run at once (0: GOMAXPROCS;
	// negative: no bound). Queued searches then run first come, first
	// served instead of sharing the cores, which shortens the latency tail
	// under load.
	SearchSlots int
	// Precision overrides the encoder precision the manifest records
	// ("f32", "bf16" or "int8"); "": the manifest's.
	Precision string
}

// Collection is an open index folder.
type Collection struct {
	dir   string
	log   *slog.Logger
	mu    sync.Mutex // guards man and the snapshot files (Flush, Close)
	man   *Manifest
	store *docstore.Store
	bm    *bm25.Index
	pool  Embedder
	vec   vector.Index
	done  bool // closed
	slots chan struct{}
	// ident is the folder as opened: Flush writes only into that folder
	// (a folder renamed away and replaced is refused, see checkIdentity).
	ident os.FileInfo
	fault FaultHook // fault injection (tests); nil: none

	// Repaired lists what Open rebuilt from the document log (for
	// instance "bm25: segment 000000000002.zap fails its checksum").
	Repaired []string

	// CaughtUp is the number of documents re-indexed at Open because they
	// were written after the last flush; Dropped the number of ids removed
	// from the indexes because the store no longer held them; Rebuilt
	// reports a BM25 rebuild.
	CaughtUp, Dropped int
	Rebuilt           bool
}

// Open opens the index folder dir: it checks the manifest, opens the store,
// BM25, the model copy (checking its hash) and the vector snapshot, then
// catches the indexes up with the store (see the package doc).
func Open(ctx context.Context, dir string, opt OpenOptions) (c *Collection, err error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	col := &Collection{dir: dir, log: log, man: m}
	if n := opt.SearchSlots; n >= 0 {
		if n == 0 {
			n = runtime.GOMAXPROCS(0)
		}
		col.slots = make(chan struct{}, n)
	}
	c = col
	defer func() {
		if err != nil {
			col.closeParts()
		}
	}()
	if c.ident, err = os.Stat(dir); err != nil {
		return nil, err
	}
	if c.store, err = docstore.Open(filepath.Join(dir, DocsFile)); err != nil {
		return nil, err
	}
	if c.store.Seq() < m.Seq {
		return nil, fmt.Errorf("index %s: %w: document store at operation %d, behind the manifest's %d", dir, ErrCorrupt, c.store.Seq(), m.Seq)
	}
	var snapIDs []string
	if m.Vectors != nil {
		mi := m.Model
		md := filepath.Join(dir, ModelDir)
		h, err := hashFiles(md, mi.Files)
		if err != nil {
			return nil, fmt.Errorf("index %s: model copy: %w", dir, err)
		}
		if h != mi.Hash {
			return nil, fmt.Errorf("index %s: %w: the model files differ from the manifest's hash", dir, ErrCorrupt)
		}
		conv, err := mi.conventions()
		if err != nil {
			return nil, fmt.Errorf("index %s: manifest: %w", dir, err)
		}
		if err := checkOpenSettings(dir, mi, conv, opt); err != nil {
			return nil, err
		}
		prec, err := mi.precisionOf()
		if err != nil {
			return nil, fmt.Errorf("index %s: manifest: %w", dir, err)
		}
		if opt.Precision != "" {
			if prec, err = encoder.ParsePrecision(opt.Precision); err != nil {
				return nil, err
			}
		}
		if c.pool, err = openWithConventions(md, modelKind(md), conv, opt.Encoders, prec); err != nil {
			return nil, err
		}
		if (mi.Kind == KindStatic) != (c.pool.Kind() == KindStatic) {
			return nil, fmt.Errorf("index %s: %w: the manifest's model kind %q differs from the model copy's %q", dir, ErrCorrupt, mi.Kind, c.pool.Kind())
		}
		if snapIDs, err = c.loadVectors(); err != nil {
			c.repaired("vectors", err)
			if err := c.rebuildVectors(ctx); err != nil {
				return nil, err
			}
			snapIDs = nil
		}
		if p, ok := c.vec.(vector.Prober); ok && opt.NProbe > 0 {
			p.SetNProbe(opt.NProbe)
		}
	}
	if m.BM25 != nil {
		if err := c.openBM25(); err != nil {
			c.repaired("bm25", err)
			if err := c.rebuildBM25(ctx); err != nil {
				return nil, err
			}
		}
	}
	if err := c.catchUp(ctx, snapIDs); err != nil {
		return nil, err
	}
	c.removeStale()
	return c, nil
}

// CheckSettings refuses (ErrSettings, naming what differs) opening the
// index folder dir of manifest m with another model (a model folder whose
// files differ from the copy's; "" : not checked) or other settings (s
// differing from the manifest's conventions; with model, s applied to that
// folder's conventions). An index without vectors accepts any.
func CheckSettings(dir string, m *Manifest, model string, s ModelSettings) error {
	if m.Model == nil {
		return nil
	}
	conv, err := m.Model.conventions()
	if err != nil {
		return fmt.Errorf("index %s: manifest: %w", dir, err)
	}
	return checkOpenSettings(dir, m.Model, conv, OpenOptions{Model: model, Settings: s})
}

// checkOpenSettings is CheckSettings with the manifest's conventions conv.
func checkOpenSettings(dir string, mi *ModelInfo, conv encoder.Conventions, opt OpenOptions) error {
	want := opt.Settings.Apply(conv)
	if opt.Model != "" && modelKind(opt.Model) == KindStatic {
		h, err := ModelHash(opt.Model)
		if err != nil {
			return err
		}
		if h != mi.Hash {
			return fmt.Errorf("index %s: %w: model %s is not the model the index was built with (%s; its files differ)", dir, ErrSettings, opt.Model, mi.Source)
		}
	} else if opt.Model != "" {
		h, err := ModelHash(opt.Model)
		if err != nil {
			return err
		}
		if h != mi.Hash {
			return fmt.Errorf("index %s: %w: model %s is not the model the index was built with (%s; its files differ)", dir, ErrSettings, opt.Model, mi.Source)
		}
		f, err := ReadModel(opt.Model, opt.Settings)
		if err != nil {
			return err
		}
		want = f.Conventions
	}
	return checkSettings(dir, conv, want)
}

// catchUp brings BM25 and the vectors level with the store.
func (c *Collection) catchUp(ctx context.Context, snapIDs []string) error {
	m := c.man
	if c.store.Seq() == m.Seq && (c.bm == nil || c.bm.Len() == c.store.Len()) {
		return nil
	}
	// Ids the indexes may hold that the store dropped.
	var gone []string
	for _, id := range snapIDs {
		if _, ok := c.store.Get(id); !ok {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		if c.bm != nil {
			if err := c.bm.Delete(gone); err != nil {
				return err
			}
		}
		if c.vec != nil {
			if _, err := c.vec.Remove(gone); err != nil {
				return err
			}
		}
	}
	c.Dropped = len(gone)
	var docs []docstore.Doc
	for _, d := range c.store.Since(m.Seq) {
		docs = append(docs, d)
	}
	c.CaughtUp = len(docs)
	for lo := 0; lo < len(docs); lo += docBatch {
		part := docs[lo:min(lo+docBatch, len(docs))]
		if c.bm != nil {
			if err := (bm25Adapter{ix: c.bm}).Index(part); err != nil {
				return err
			}
		}
		if c.vec != nil {
			ids := make([]string, len(part))
			texts := make([]string, len(part))
			for i, d := range part {
				ids[i], texts[i] = d.ID, d.Passage()
			}
			v, err := encodeDocs(ctx, c.pool, texts)
			if err != nil {
				return err
			}
			if _, err := c.vec.Remove(ids); err != nil {
				return err
			}
			if err := c.vec.Add(ids, v); err != nil {
				return err
			}
		}
	}
	if c.bm != nil && c.bm.Len() != c.store.Len() {
		c.log.Warn("bm25 index disagrees with the document store after catch-up; rebuilding it", "bm25_docs", c.bm.Len(), "store_docs", c.store.Len())
		if err := c.rebuildBM25(ctx); err != nil {
			return err
		}
	}
	if c.vec != nil && c.vec.Len() != c.store.Len() {
		c.repaired("vectors", fmt.Errorf("%d vectors for %d documents after catch-up", c.vec.Len(), c.store.Len()))
		if err := c.rebuildVectors(ctx); err != nil {
			return err
		}
	}
	if c.CaughtUp > 0 || c.Dropped > 0 {
		c.log.Info("index caught up with the document store", "reindexed", c.CaughtUp, "dropped", c.Dropped, "from_seq", m.Seq, "to_seq", c.store.Seq())
	}
	return nil
}

// rebuildBM25 rebuilds the BM25 index from the store, into a temporary
// folder renamed over the old one.
func (c *Collection) rebuildBM25(ctx context.Context) error {
	if c.bm != nil {
		c.bm.Close()
		c.bm = nil
	}
	info := c.man.BM25
	tmp := filepath.Join(c.dir, BM25Dir+".rebuild")
	os.RemoveAll(tmp)
	ix, err := bm25.Build(ctx, tmp, storeDocs(c.store), bm25.Options{Params: bm25.Params{K1: info.K1, B: info.B}, Multifield: info.Multifield, LuceneNorms: info.LuceneNorms, Quiet: true})
	if err != nil {
		return fmt.Errorf("rebuilding bm25: %w", err)
	}
	if err := ix.Close(); err != nil {
		return err
	}
	dst := filepath.Join(c.dir, BM25Dir)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(c.dir); err != nil {
		return err
	}
	c.Rebuilt = true
	c.bm, err = bm25.Open(dst)
	return err
}

// removeStale deletes snapshot files the manifest does not name (left by a
// crash during Flush) and leftover temporary files.
func (c *Collection) removeStale() {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		stale := strings.HasPrefix(n, "."+ManifestFile+".tmp") ||
			strings.HasPrefix(n, "vectors-") && (c.man.Vectors == nil || n != c.man.Vectors.File) ||
			strings.HasPrefix(n, "ids-") && (c.man.Vectors == nil || n != c.man.Vectors.IDsFile) ||
			strings.HasPrefix(n, ".vectors-") || strings.HasPrefix(n, ".ids-")
		if stale {
			os.RemoveAll(filepath.Join(c.dir, n))
		}
	}
}

// Manifest returns a copy of the current manifest.
func (c *Collection) Manifest() Manifest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.man
}

// Dir returns the index folder.
func (c *Collection) Dir() string { return c.dir }

// Store returns the document store.
func (c *Collection) Store() *docstore.Store { return c.store }

// BM25 returns the BM25 index, or nil when the index has none.
func (c *Collection) BM25() *bm25.Index { return c.bm }

// Vectors returns the vector index, or nil when the index has none.
func (c *Collection) Vectors() vector.Index { return c.vec }

// Encoder returns the embedder (an *EncoderPool or a *StaticEmbedder), or
// nil when the index has no model.
func (c *Collection) Encoder() Embedder { return c.pool }

// Flush makes the vector index and the manifest reflect the store: it saves
// a vector snapshot and id list named after the store's Seq, then the
// manifest, then removes the previous snapshot, and compacts the store's
// log when mostly dead. Writes must be paused
// (Composite.Flush does it). With nothing written since the last flush
// it does nothing.
func (c *Collection) Flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return docstore.ErrClosed
	}
	seq := c.store.Seq()
	if seq == c.man.Seq {
		return nil
	}
	if err := c.checkIdentity(); err != nil {
		c.log.Error("not flushing", "err", err)
		return fmt.Errorf("flush: %w", err)
	}
	// Record only a state that opens: BM25, the vectors and the id list
	// agree with the log.
	n := c.store.Len()
	if c.bm != nil && c.bm.Len() != n || c.vec != nil && c.vec.Len() != n {
		bl, vl := -1, -1
		if c.bm != nil {
			bl = c.bm.Len()
		}
		if c.vec != nil {
			vl = c.vec.Len()
		}
		return fmt.Errorf("flush: %w: the document log holds %d documents, bm25 %d, the vectors %d; not recording this state", ErrCorrupt, n, bl, vl)
	}
	m := *c.man
	if m.Vectors != nil {
		vi := *m.Vectors
		m.Vectors = &vi
		if err := c.faultAt(StepFlushVectors); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		if err := saveSnapshot(c.dir, &m, c.vec, c.store.IDs(), seq, func() error { return c.faultAt(StepFlushIDs) }); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	if m.BM25 != nil {
		bi := *m.BM25
		bi.Docs = c.bm.Len()
		m.BM25 = &bi
	}
	m.Seq, m.Docs, m.Updated = seq, c.store.Len(), time.Now().UTC()
	if err := c.faultAt(StepFlushManifest); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := writeManifest(c.dir, &m); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	old := c.man
	c.man = &m
	if old.Vectors != nil && old.Vectors.File != m.Vectors.File {
		os.Remove(filepath.Join(c.dir, old.Vectors.File))
		os.Remove(filepath.Join(c.dir, old.Vectors.IDsFile))
	}
	// Compact the store's log when replaced and deleted documents make up
	// more than half of it (Seq and versions survive compaction).
	if st := c.store.Stats(); st.LogBytes > 2*st.LiveBytes+1<<20 || c.fault != nil {
		if err := c.faultAt(StepFlushCompact); err != nil {
			return fmt.Errorf("flush: compacting the document store: %w", err)
		}
		if err := c.store.Compact(); err != nil {
			return fmt.Errorf("flush: compacting the document store: %w", err)
		}
	}
	c.log.Info("index flushed", "seq", seq, "docs", m.Docs)
	return nil
}

// SetHybrid records the fusion settings chosen for this index in its
// manifest (written atomically, like every manifest change).
func (c *Collection) SetHybrid(h HybridInfo) error {
	if !(h.Alpha >= 0 && h.Alpha <= 1) {
		return fmt.Errorf("collection: hybrid alpha %v outside [0, 1]", h.Alpha)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return docstore.ErrClosed
	}
	m := *c.man
	m.Hybrid = &h
	m.Updated = time.Now().UTC()
	if err := writeManifest(c.dir, &m); err != nil {
		return fmt.Errorf("collection: recording hybrid settings: %w", err)
	}
	c.man = &m
	return nil
}

// DiskBytes returns the total size of the files of the index folder.
func (c *Collection) DiskBytes() int64 {
	var n int64
	filepath.WalkDir(c.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Parts returns the parts of a Composite over the collection, Flush
// and Close included.
func (c *Collection) Parts() Parts {
	p := Parts{Docs: c.store, DiskBytes: c.DiskBytes, Flush: c.Flush, Close: c.Close, Fault: c.fault, Writable: c.checkIdentity}
	if c.bm != nil {
		p.BM25 = bm25Adapter{ix: c.bm, slots: c.slots}
	}
	if c.vec != nil {
		p.Encoder, p.Vectors = c.pool, vecAdapter{c.vec}
	}
	return p
}

// Backend returns a Composite over the collection; the server's
// shutdown flushes and closes it.
func (c *Collection) Backend() (*Composite, error) { return NewComposite(c.Parts()) }

func (c *Collection) closeParts() error {
	var errs []error
	if c.pool != nil {
		c.pool.Close()
	}
	if c.bm != nil {
		errs = append(errs, c.bm.Close())
		c.bm = nil
	}
	if c.store != nil {
		errs = append(errs, c.store.Close())
		c.store = nil
	}
	return errors.Join(errs...)
}

// Close releases the store and BM25 (it does not flush).
func (c *Collection) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	return c.closeParts()
}

func newBar(label string, quiet bool) *progress.Bar { return progress.New(label, 0, "docs", quiet) }
