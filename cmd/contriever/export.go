package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/contriever-go/contriever/engine"
	"github.com/contriever-go/contriever/index/docstore"
	"github.com/contriever-go/contriever/index/vector"
	"github.com/contriever-go/contriever/internal/atomicfile"
)

func init() {
	register(command{
		name:    "export",
		summary: "export an index folder for a distributed engine: OpenSearch bulk NDJSON (documents and vectors) or the index mapping (BM25 k1/b, analyzer, k-NN field)",
		run:     runExport,
	})
}

// The export follows docs/scale-out.md. The mapping carries this index's
// conventions: BM25 with its k1 and b as the index similarity, Lucene's
// English analyzer (the one package bm25 reproduces), the passage field
// (title + " " + text, document.Passage) that BM25 and the model both
// read, and a knn_vector field of the model's dimension scored by inner
// product (Contriever's similarity; vectors are not normalised unless the
// model was built with --normalize). A bulk line pair is
//
//	{"index":{"_index":NAME,"_id":ID}}
//	{"title":...,"text":...,"passage":...,"embedding":[...]}
//
// with the floats written in their shortest float32 form (they read back
// bit for bit).

func runExport(args []string) error {
	fs := newFlagSet("export", "--index DIR [--format opensearch-bulk|opensearch-mapping] [--name NAME] [--shards N] [--no-vectors] [--out FILE]")
	dir := fs.String("index", "", "index folder (required)")
	format := fs.String("format", "opensearch-bulk", "opensearch-bulk (NDJSON for the _bulk API) or opensearch-mapping (the body of PUT /NAME)")
	name := fs.String("name", "contriever", "target index name")
	shards := fs.Int("shards", 1, "opensearch-mapping: primary shards")
	noVec := fs.Bool("no-vectors", false, "opensearch-bulk: documents only")
	out := fs.String("out", "", "output file (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		fs.Usage()
		return errors.New("--index is required")
	}
	if *format != "opensearch-bulk" && *format != "opensearch-mapping" {
		return fmt.Errorf("--format %q: want opensearch-bulk or opensearch-mapping", *format)
	}
	if *shards < 1 {
		return fmt.Errorf("--shards %d: must be at least 1", *shards)
	}
	c, err := engine.Open(context.Background(), *dir, engine.OpenOptions{Encoders: 1})
	if err != nil {
		return err
	}
	defer c.Close()
	write := func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		var err error
		if *format == "opensearch-mapping" {
			err = exportMapping(bw, c.Manifest(), *shards)
		} else {
			err = exportBulk(bw, c.Store(), c.Vectors(), *name, *noVec)
		}
		if err != nil {
			return err
		}
		return bw.Flush()
	}
	if *out == "" {
		return write(os.Stdout)
	}
	return atomicfile.Write(*out, write)
}

// exportMapping writes the OpenSearch index body for m's index.
func exportMapping(w io.Writer, m engine.Manifest, shards int) error {
	k1, b := 0.9, 0.4
	if m.BM25 != nil {
		k1, b = m.BM25.K1, m.BM25.B
	}
	text := map[string]any{"type": "text", "analyzer": "english"}
	props := map[string]any{"title": text, "text": text, "passage": text}
	settings := map[string]any{
		"number_of_shards": shards,
		"similarity":       map[string]any{"default": map[string]any{"type": "BM25", "k1": k1, "b": b}},
	}
	if m.Model != nil {
		settings["knn"] = true
		props["embedding"] = map[string]any{
			"type": "knn_vector", "dimension": m.Model.Dim,
			"method": map[string]any{"name": "hnsw", "engine": "faiss", "space_type": "innerproduct",
				"parameters": map[string]any{"m": 32, "ef_construction": 256}},
		}
	}
	meta := map[string]any{"exported_by": "contriever export", "multifield_bm25": m.BM25 != nil && m.BM25.Multifield}
	if m.Model != nil {
		meta["model_hash"], meta["pooling"], meta["normalize"], meta["max_length"] = m.Model.Hash, m.Model.Pooling, m.Model.Normalize, m.Model.MaxLength
	}
	body := map[string]any{
		"settings": map[string]any{"index": settings},
		"mappings": map[string]any{"_meta": meta, "properties": props},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(body)
}

// exportBulk writes the bulk NDJSON of every document, with its vector
// when the index keeps float vectors (flat, or IVF not codes-only).
func exportBulk(w io.Writer, store *docstore.Store, vx vector.Index, name string, noVec bool) error {
	var werr error
	line := func(id string, vec []float32) {
		if werr != nil {
			return
		}
		d, ok := store.Get(id)
		if !ok {
			werr = fmt.Errorf("export: vector of %q has no document in the store", id)
			return
		}
		werr = exportLine(w, name, d, vec)
	}
	if !noVec && vx != nil {
		emit := func(vecs []float32, ids []string) {
			dim := len(vecs) / max(1, len(ids))
			for i, id := range ids {
				line(id, vecs[i*dim:(i+1)*dim])
			}
		}
		done := false
		switch x := vx.(type) {
		case *vector.Flat:
			x.Vectors(emit)
			done = true
		case *vector.IVF:
			done = x.Vectors(emit)
		}
		if !done {
			return errors.New("export: the vector index keeps no float vectors (codes only); export with --no-vectors and send the vectors from the .npy they were built from")
		}
		return werr
	}
	for d := range store.All() {
		if werr = exportLine(w, name, d, nil); werr != nil {
			return werr
		}
	}
	return nil
}

// exportLine writes one bulk action and document.
func exportLine(w io.Writer, name string, d docstore.Doc, vec []float32) error {
	act, _ := json.Marshal(map[string]any{"index": map[string]string{"_index": name, "_id": d.ID}})
	doc, _ := json.Marshal(map[string]string{"title": d.Title, "text": d.Text, "passage": d.Passage()})
	b := append(act, '\n')
	if vec != nil {
		b = append(b, doc[:len(doc)-1]...)
		b = append(b, `,"embedding":[`...)
		for i, v := range vec {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, "]}\n"...)
	} else {
		b = append(b, doc...)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}
