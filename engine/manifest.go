package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/encoder/checkpoint"
	"github.com/contriever-go/contriever/encoder/static"
	"github.com/contriever-go/contriever/internal/atomicfile"
)

// FormatVersion is the version of the index folder layout this package
// writes and reads.
const FormatVersion = 1

// The files and folders of an index folder.
const (
	ManifestFile = "manifest.json" // written last; its presence marks a finished index
	DocsFile     = "docs.log"      // the document store (package docstore)
	BM25Dir      = "bm25"          // the bleve BM25 index (package bm25)
	ModelDir     = "model"         // a copy of the model folder
)

// Sentinel errors callers may test with errors.Is.
var (
	// ErrNoManifest: the folder has no manifest: it is not an index, or its
	// build did not finish.
	ErrNoManifest = errors.New("collection: no manifest (not an index folder, or its build did not finish)")
	// ErrCorrupt: the manifest fails its checksum or names files that are
	// missing or differ from what it records.
	ErrCorrupt = errors.New("collection: corrupt index folder")
	// ErrVersion: the folder was written by an unknown format version.
	ErrVersion = errors.New("collection: unsupported index format version")
	// ErrExists: Build's destination exists and overwriting was not asked.
	ErrExists = errors.New("collection: destination exists")
)

// Manifest describes an index folder. It is written last, atomically, so a
// folder with a valid manifest is complete; its checksum covers every
// other field.
type Manifest struct {
	Format  int         `json:"format"`
	Created time.Time   `json:"created"`
	Updated time.Time   `json:"updated"`
	Docs    int         `json:"docs"`
	Seq     uint64      `json:"docstore_seq"` // docstore Seq the indexes reflect (catch-up starts after it)
	BM25    *BM25Info   `json:"bm25,omitempty"`
	Model   *ModelInfo  `json:"model,omitempty"`
	Vectors *VecInfo    `json:"vectors,omitempty"`
	Hybrid  *HybridInfo `json:"hybrid,omitempty"` // fusion settings chosen on held-out queries, if any
	// Training records how the model was made when contriever index
	// --train trained it on the corpus (nil: the model was given).
	Training *TrainingInfo `json:"training,omitempty"`
	Checksum string        `json:"checksum"` // sha256 of the manifest with this field empty
}

// HybridInfo records the linear-fusion settings chosen for an index on a
// held-out split (contriever index --eval: the train or dev qrels, never
// the evaluated split); contriever serve uses them as its defaults.
type HybridInfo struct {
	Alpha   float64 `json:"alpha"`          // weight of dense in α·norm(dense) + (1−α)·norm(bm25)
	Norm    string  `json:"norm"`           // "minmax" or "zscore"
	Split   string  `json:"split"`          // the qrels split α was chosen on
	Queries int     `json:"queries"`        // judged queries of that split
	NDCG10  float64 `json:"ndcg@10"`        // nDCG@10 reached there
	Depth   int     `json:"depth"`          // depth of each fused list when it was chosen
	Data    string  `json:"data,omitempty"` // the dataset folder
	// Rule names a label-free choice (fusion.DefaultRule) recorded by
	// Build when no α was chosen on qrels; Split is then empty.
	Rule string `json:"rule,omitempty"`
}

// TrainingInfo records how `contriever index --train` made the index's
// model: on the corpus, from scratch or from an initial model.
type TrainingInfo struct {
	Recipe   string  `json:"recipe"`             // validated, paper or static
	Settings string  `json:"settings,omitempty"` // the recipe's flags and any extra ones given
	Budget   string  `json:"budget,omitempty"`   // wall-clock training budget (e.g. "20m0s"); empty for static or a step count
	Steps    int64   `json:"steps"`              // optimiser steps taken (0 for static)
	Seed     uint64  `json:"seed"`
	Init     string  `json:"init"`    // the initial model folder, or "scratch (config NAME)", or "none" (static)
	Corpus   string  `json:"corpus"`  // the training corpus
	Dir      string  `json:"dir"`     // the training folder (state.bin, train.csv, model/)
	Seconds  float64 `json:"seconds"` // wall-clock time of the training, evaluation included
}

// BM25Info describes the BM25 part.
type BM25Info struct {
	K1          float64 `json:"k1"`
	B           float64 `json:"b"`
	Multifield  bool    `json:"multifield"`
	LuceneNorms bool    `json:"lucene_norms"`
	Docs        int     `json:"docs"`
}

// ModelInfo describes the encoder: the copy in ModelDir, its origin, the
// hash of its files, its configuration and the encoding settings.
type ModelInfo struct {
	Source    string          `json:"source"` // the folder it was copied from
	Hash      string          `json:"hash"`   // see ModelHash
	Files     []string        `json:"files"`  // copied file names
	Config    json.RawMessage `json:"config"` // config.json as read
	Dim       int             `json:"dim"`
	Pooling   string          `json:"pooling"` // "mean", "cls", "max" or "mean_sqrt_len"
	Normalize bool            `json:"normalize"`
	MaxLength int             `json:"max_length"`
	// Kind is "static" for a static embedding model (Files then include
	// the module folder's, Config is null); empty for a transformer.
	Kind string `json:"kind,omitempty"`
	// Conventions are the model's conventions the index was built with
	// (the folder's sentence-transformers files and the settings given:
	// pooling, normalisation, maximum length, prompts, similarity;
	// encoder.Conventions' JSON). Absent in indexes written before them:
	// Pooling, Normalize and MaxLength with no prompts and dot product.
	Conventions *encoder.Conventions `json:"conventions,omitempty"`
	// Embedded: the throughput of the build's corpus embedding (absent
	// when the vectors came from the cache or from --embeddings).
	Embedded *EmbedRun `json:"embedded,omitempty"`
	// Precision is the arithmetic of the linear layers the vectors were
	// embedded with ("bf16" or "int8"; "" for f32, as in indexes from
	// before the field); Open embeds queries and new documents with it.
	Precision string `json:"precision,omitempty"`
	// Arithmetic is the precision as the kernels ran it (encoder
	// Precision.Arithmetic: "int8/w8" on VNNI, "int8/w6a7" on AVX2, "int8/w6" with BLAS32_KERNEL=avx2w6, "int8/w7" with avx2w7), for
	// the record.
	Arithmetic string `json:"arithmetic,omitempty"`
}

// precisionOf returns the precision a manifest's model records.
func (mi *ModelInfo) precisionOf() (encoder.Precision, error) {
	return encoder.ParsePrecision(mi.Precision)
}

// conventions returns the recorded conventions, or those of the older
// fields (no prompts, dot product).
func (mi *ModelInfo) conventions() (encoder.Conventions, error) {
	if mi.Conventions != nil {
		c := *mi.Conventions
		return c, c.Validate()
	}
	p, err := encoder.ParsePooling(mi.Pooling)
	if err != nil {
		return encoder.Conventions{}, err
	}
	c := encoder.DefaultConventions()
	c.Pooling, c.Normalize, c.MaxLength = p, mi.Normalize, mi.MaxLength
	return c, c.Validate()
}

// EmbedRun records one corpus embedding: how many documents, how long, at
// what batch size and on how many threads.
type EmbedRun struct {
	Docs      int     `json:"docs"`
	Seconds   float64 `json:"seconds"`
	DocsPerS  float64 `json:"docs_per_s"`
	BatchSize int     `json:"batch_size"`
	Threads   int     `json:"threads"`
}

// VecInfo describes the vector index and the snapshot files of the last
// flush (both named after the Seq they reflect).
type VecInfo struct {
	Type    string `json:"type"` // "flat", "ivf" or "ivf-pq"
	NList   int    `json:"nlist,omitempty"`
	NProbe  int    `json:"nprobe,omitempty"`
	SQ8     bool   `json:"sq8,omitempty"`  // IVF with an 8-bit quantised scan and exact re-ranking
	PQM     int    `json:"pq_m,omitempty"` // "ivf-pq": PQ sub-quantisers (exact re-ranking from the floats)
	Metric  string `json:"metric"`
	Count   int    `json:"count"`
	File    string `json:"file"`     // vector index file (package vector format)
	IDsFile string `json:"ids_file"` // JSON array: the ids the vector file holds
}

func (m *Manifest) sum() (string, error) {
	c := *m
	c.Checksum = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// ReadManifest reads and checks the manifest of an index folder.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, fmt.Errorf("index %s: %w", dir, serr)
		}
		return nil, fmt.Errorf("index %s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("%s: format %d, this program reads %d: %w", path, m.Format, FormatVersion, ErrVersion)
	}
	want, err := m.sum()
	if err != nil {
		return nil, err
	}
	if m.Checksum != want {
		return nil, fmt.Errorf("%s: %w: checksum mismatch", path, ErrCorrupt)
	}
	if m.Model != nil && m.Vectors == nil || m.Model == nil && m.Vectors != nil {
		return nil, fmt.Errorf("%s: %w: model and vectors must both be present or both absent", path, ErrCorrupt)
	}
	if err := m.checkNames(); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	return &m, nil
}

// writeManifest writes m (checksummed) into dir atomically: temporary file,
// fsync, rename, fsync of the folder.
func writeManifest(dir string, m *Manifest) error {
	m.Format = FormatVersion
	sum, err := m.sum()
	if err != nil {
		return err
	}
	m.Checksum = sum
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'))
}

// modelFiles are the files of a model folder (and of a
// sentence-transformers Transformer module's folder) that are copied into
// an index and hashed.
var modelFiles = []string{
	"config.json", "model.safetensors", "pytorch_model.bin",
	"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
	checkpoint.STTransformerConfigFile,
}

// stFiles are the sentence-transformers files at the top of a folder.
var stFiles = []string{checkpoint.STModulesFile, checkpoint.STConfigFile}

// presentModelFiles lists the model files present in dir, sorted, as
// slash-separated paths: the known model files, and with a modules.json
// the sentence-transformers files: modules.json,
// config_sentence_transformers.json, each module's config.json and the
// model files of the Transformer module's folder (a static model:
// static.Files).
func presentModelFiles(dir string) ([]string, error) {
	if modelKind(dir) == KindStatic {
		return static.Files(dir)
	}
	var out []string
	add := func(rel string) error {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
		if err == nil && st.Mode().IsRegular() && !slices.Contains(out, rel) {
			out = append(out, rel)
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	for _, n := range modelFiles {
		if err := add(n); err != nil {
			return nil, err
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, checkpoint.STModulesFile)); err == nil {
		mods, err := encoder.ParseModules(b)
		if err != nil {
			return nil, fmt.Errorf("model folder %s: %s: %w", dir, checkpoint.STModulesFile, err)
		}
		for _, n := range stFiles {
			if err := add(n); err != nil {
				return nil, err
			}
		}
		for _, m := range mods {
			if m.Path == "" {
				continue
			}
			if !filepath.IsLocal(filepath.FromSlash(m.Path)) {
				return nil, fmt.Errorf("model folder %s: %s: module path %q leaves the folder: %w", dir, checkpoint.STModulesFile, m.Path, encoder.ErrInvalidFolder)
			}
			names := []string{"config.json"}
			if strings.HasSuffix(m.Type, "Transformer") {
				names = modelFiles
			}
			for _, n := range names {
				if err := add(path.Join(m.Path, n)); err != nil {
					return nil, err
				}
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("model folder %s: no model files (config.json, model.safetensors, ...)", dir)
	}
	return out, nil
}

// ModelHash returns the sha256 (hex) of a model folder's files (config,
// weights, tokenizer): the name, length and bytes of each present file of
// the known set, in name order. It identifies a model in manifests and in
// embedding cache keys.
func ModelHash(dir string) (string, error) {
	files, err := presentModelFiles(dir)
	if err != nil {
		return "", err
	}
	return hashFiles(dir, files)
}

func hashFiles(dir string, files []string) (string, error) {
	h := sha256.New()
	for _, n := range files {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(n)))
		if err != nil {
			return "", err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, st.Size())
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyFile copies src to dst (created) and fsyncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// checkNames checks that every file name the manifest records is a plain
// base name (no separator, not "." or "..", no NUL), and every model file a
// local path of such names ("1_Pooling/config.json": sentence-transformers
// module folders): the manifest never makes the program read or write
// outside the index folder.
func (m *Manifest) checkNames() error {
	if m.Vectors != nil {
		for _, n := range []string{m.Vectors.File, m.Vectors.IDsFile} {
			if !plainName(n) {
				return fmt.Errorf("file name %q is not a plain base name", n)
			}
		}
	}
	if m.Model != nil {
		for _, n := range m.Model.Files {
			if !localName(n) {
				return fmt.Errorf("model file name %q is not a local path of plain names", n)
			}
		}
	}
	return nil
}

// localName reports whether n is a relative, slash-separated path of at
// most 8 plain names.
func localName(n string) bool {
	parts := strings.Split(n, "/")
	if len(parts) > 8 {
		return false
	}
	for _, p := range parts {
		if !plainName(p) {
			return false
		}
	}
	return true
}

func plainName(n string) bool {
	return n != "" && n != "." && n != ".." && len(n) <= 255 &&
		!strings.ContainsAny(n, "/\\\x00") && filepath.Base(n) == n && !filepath.IsAbs(n) && filepath.VolumeName(n) == ""
}
