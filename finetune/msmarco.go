package finetune

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/contriever-go/contriever/beir"
)

// ReadCollection streams an MS MARCO collection file (plain or gzip) to
// fn: one passage a line, "pid<TAB>text", or "pid<TAB>title<TAB>text".
// Blank lines are skipped. A line without a tab or with an empty id is an
// error naming the file and line; an error from fn stops the read.
func ReadCollection(path string, fn func(Passage) error) error {
	return readLines(path, func(line string, _ int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		f := strings.Split(line, "\t")
		var p Passage
		switch len(f) {
		case 2:
			p = Passage{ID: strings.TrimSpace(f[0]), Text: f[1]}
		case 3:
			p = Passage{ID: strings.TrimSpace(f[0]), Title: f[1], Text: f[2]}
		default:
			return malformed("want \"pid<TAB>text\" (or pid, title, text), got %d tab-separated fields", len(f))
		}
		if p.ID == "" {
			return malformed("empty passage id")
		}
		return fn(p)
	})
}

// ReadQueriesTSV reads an MS MARCO queries file (plain or gzip): one query
// a line, "qid<TAB>text", in file order. Blank lines are skipped; a
// repeated id is an error.
func ReadQueriesTSV(path string) ([]beir.Query, error) {
	var qs []beir.Query
	seen := map[string]bool{}
	err := readLines(path, func(line string, _ int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		id, text, ok := strings.Cut(line, "\t")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return malformed("want \"qid<TAB>text\"")
		}
		if seen[id] {
			return fmt.Errorf("%w: query %q", beir.ErrDuplicate, id)
		}
		seen[id] = true
		qs = append(qs, beir.Query{ID: id, Text: text})
		return nil
	})
	return qs, err
}

// AddCollection adds every passage of an MS MARCO collection file to the
// set and returns how many it read. A passage id already in the set is an
// error (beir.ErrDuplicate).
func (s *Set) AddCollection(path string) (int, error) {
	n := 0
	err := ReadCollection(path, func(p Passage) error {
		if _, dup := s.Lookup(p.ID); dup {
			return fmt.Errorf("%w: passage %q", beir.ErrDuplicate, p.ID)
		}
		s.Add(p)
		n++
		return nil
	})
	return n, err
}

// AddCorpus adds the passages of a corpus to the set: a BEIR folder or
// corpus.jsonl[.gz] file (title and text), or an MS MARCO collection
// (.tsv[.gz]). Passages whose id is already in the set are kept once.
func (s *Set) AddCorpus(path string) (int, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if p, err := beir.FindFile(path, "corpus.jsonl"); err == nil {
			path = p
		} else if p, err := beir.FindFile(path, "collection.tsv"); err == nil {
			path = p
		} else {
			return 0, fmt.Errorf("%w: %s holds neither corpus.jsonl nor collection.tsv", ErrFormat, path)
		}
	}
	n := 0
	if isTSV(path) {
		err := ReadCollection(path, func(p Passage) error { s.Add(p); n++; return nil })
		return n, err
	}
	err := beir.ReadCorpus(path, func(d beir.Doc) error {
		s.Add(Passage{ID: d.ID, Title: d.Title, Text: d.Text})
		n++
		return nil
	})
	return n, err
}

func isTSV(path string) bool {
	p := strings.TrimSuffix(strings.ToLower(path), ".gz")
	return strings.HasSuffix(p, ".tsv") || strings.HasSuffix(p, ".txt")
}

// addJudged adds one example per judged query (in queries order) with its
// positive passages (grade ≥ 1), looked up by id in the set. Queries
// without a positive are skipped (counted in Skipped). A judged query
// missing from queries, or a positive missing from the set, is an error
// naming qrelsPath.
func (s *Set) addJudged(queries []beir.Query, qrels beir.Qrels, qrelsPath, corpusPath string) error {
	known := make(map[string]bool, len(queries))
	for _, q := range queries {
		known[q.ID] = true
	}
	for qid := range qrels {
		if !known[qid] {
			return fmt.Errorf("%s: %w: query %q is judged but not in the queries file", qrelsPath, ErrUnknownQuery, qid)
		}
	}
	for _, q := range queries {
		rels, ok := qrels[q.ID]
		if !ok {
			continue
		}
		ex := Example{QID: q.ID, Query: q.Text}
		for _, pid := range sortedKeys(rels) {
			if rels[pid] < 1 {
				continue
			}
			i, ok := s.Lookup(pid)
			if !ok {
				return fmt.Errorf("%s: %w: passage %q (judged for query %q) is not in %s", qrelsPath, ErrUnknownPassage, pid, q.ID, corpusPath)
			}
			ex.Positives = append(ex.Positives, i)
		}
		if len(ex.Positives) == 0 {
			s.Skipped++
			continue
		}
		s.Examples = append(s.Examples, ex)
	}
	return nil
}

// LoadMSMarco reads MS MARCO passage-ranking files: the collection
// (pid<TAB>text), the queries of a split (qid<TAB>text) and its qrels
// ("qid 0 pid rel", tab- or space-separated; BEIR's three-column form is
// accepted too). Every judged query with a positive becomes an example;
// every passage of the collection is kept, for random negatives.
func LoadMSMarco(collection, queries, qrels string) (*Set, error) {
	s := &Set{}
	if _, err := s.AddCollection(collection); err != nil {
		return nil, err
	}
	qs, err := ReadQueriesTSV(queries)
	if err != nil {
		return nil, err
	}
	qr, err := beir.ReadQrels(qrels)
	if err != nil {
		return nil, err
	}
	if err := s.addJudged(qs, qr, qrels, collection); err != nil {
		return nil, err
	}
	return s, s.Validate()
}

// LoadMSMarcoDir is LoadMSMarco on dir/collection.tsv,
// dir/queries.<split>.tsv and dir/qrels.<split>.tsv (each optionally
// .gz).
func LoadMSMarcoDir(dir, split string) (*Set, error) {
	var paths [3]string
	for i, n := range []string{"collection.tsv", "queries." + split + ".tsv", "qrels." + split + ".tsv"} {
		p, err := beir.FindFile(dir, n)
		if err != nil {
			return nil, fmt.Errorf("finetune: MS MARCO folder %s: %w", dir, err)
		}
		paths[i] = p
	}
	return LoadMSMarco(paths[0], paths[1], paths[2])
}

// AddTriples adds the text triples of an MS MARCO triples file
// (triples.train.small.tsv: "query<TAB>positive<TAB>negative", plain or
// gzip) and returns how many lines it read. Lines with the same query
// text form one example; each line's passages become a positive and a
// hard negative of it (the triples' negatives are BM25 negatives).
func (s *Set) AddTriples(path string) (int, error) {
	byQuery := map[string]int{}
	for i, ex := range s.Examples {
		byQuery[ex.Query] = i
	}
	n := 0
	err := readLines(path, func(line string, _ int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return malformed("want \"query<TAB>positive<TAB>negative\", got %d tab-separated fields", len(f))
		}
		if strings.TrimSpace(f[0]) == "" {
			return malformed("empty query")
		}
		pos, neg := s.Add(Passage{Text: f[1]}), s.Add(Passage{Text: f[2]})
		i, ok := byQuery[f[0]]
		if !ok {
			i = len(s.Examples)
			byQuery[f[0]] = i
			s.Examples = append(s.Examples, Example{Query: f[0]})
		}
		ex := &s.Examples[i]
		ex.Positives = appendNew(ex.Positives, pos)
		if pos != neg {
			ex.HardNegatives = appendNew(ex.HardNegatives, neg)
		}
		n++
		return nil
	})
	return n, err
}

// LoadTriples reads an MS MARCO text-triples file into a new set.
func LoadTriples(path string) (*Set, error) {
	s := &Set{}
	if _, err := s.AddTriples(path); err != nil {
		return nil, err
	}
	return s, s.Validate()
}

func appendNew(l []int32, x int32) []int32 {
	for _, y := range l {
		if y == x {
			return l
		}
	}
	return append(l, x)
}

// LoadBEIR reads a BEIR dataset's split (usually "train"): every passage
// of corpus.jsonl, and one example per judged query with its positive
// (grade ≥ 1) passages.
func LoadBEIR(dir, split string) (*Set, error) {
	ds, err := beir.Load(dir, split)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	if err := beir.ReadCorpus(ds.CorpusPath, func(d beir.Doc) error {
		s.Add(Passage{ID: d.ID, Title: d.Title, Text: d.Text})
		return nil
	}); err != nil {
		return nil, err
	}
	if err := s.addJudged(ds.Queries, ds.Qrels, ds.QrelsPath, ds.CorpusPath); err != nil {
		return nil, err
	}
	return s, s.Validate()
}

// Load reads training data from path, recognising its format:
//   - a folder with corpus.jsonl[.gz] and qrels/<split>.tsv: a BEIR split;
//   - a folder with collection.tsv[.gz]: MS MARCO files of split
//     (queries.<split>.tsv, qrels.<split>.tsv);
//   - a file whose name contains "triples": MS MARCO text triples;
//   - a .json or .jsonl file (optionally .gz): DPR-style examples.
func Load(path, split string) (*Set, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if st.IsDir() {
		if _, err := beir.FindFile(path, "corpus.jsonl"); err == nil {
			return LoadBEIR(path, split)
		}
		if _, err := beir.FindFile(path, "collection.tsv"); err == nil {
			return LoadMSMarcoDir(path, split)
		}
		return nil, fmt.Errorf("%w: folder %s holds neither a BEIR dataset (corpus.jsonl) nor MS MARCO files (collection.tsv)", ErrFormat, path)
	}
	name := strings.ToLower(filepath.Base(path))
	base := strings.TrimSuffix(name, ".gz")
	switch {
	case strings.Contains(name, "triples"):
		return LoadTriples(path)
	case strings.HasSuffix(base, ".json"), strings.HasSuffix(base, ".jsonl"):
		return LoadDPR(path)
	}
	return nil, fmt.Errorf("%w: %s (want a BEIR or MS MARCO folder, a triples .tsv, or DPR .json/.jsonl)", ErrFormat, path)
}
