package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// File names inside an HF model folder.
const (
	ConfigFile      = "config.json"
	SafetensorsFile = "model.safetensors"
	TorchBinFile    = "pytorch_model.bin"
	VocabFile       = "vocab.txt"
)

// tokenizerFiles are copied beside vocab.txt by WriteHFDir when present.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}

// LoadDir loads an HF-style BERT folder: config.json plus model.safetensors,
// or pytorch_model.bin when there is no model.safetensors. Names are
// normalised to plain BertModel names (see NormaliseNames): a "module."
// (DDP) prefix is dropped, a Contriever/MoCo training checkpoint's query
// encoder under "encoder_q." is taken (the momentum encoder "encoder_k.",
// "queue" and "queue_ptr" are ignored), a "model." prefix is dropped when
// every tensor has it, "bert." prefixes are dropped, TF-style LayerNorm
// gamma/beta become weight/bias, and buffers and heads a BertModel does not
// use (embeddings.position_ids, embeddings.token_type_ids, cls.*) are
// skipped without being read. The result is checked with CheckTensors:
// a missing, extra or misshapen tensor is an error naming it and the file.
func LoadDir(dir string) (*BertConfig, map[string]*Tensor, error) {
	cfg, err := ReadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, SafetensorsFile)
	var names []string
	var load func([]string) (map[string]*Tensor, error)
	if _, err := os.Stat(path); err == nil {
		idx, err := openSafetensors(path)
		if err != nil {
			return nil, nil, err
		}
		defer idx.close()
		for _, e := range idx.entries {
			names = append(names, e.name)
		}
		load = idx.load
	} else {
		path = filepath.Join(dir, TorchBinFile)
		if _, err := os.Stat(path); err != nil {
			if _, e2 := os.Stat(filepath.Join(dir, SafetensorsFile+".index.json")); e2 == nil {
				return nil, nil, fmt.Errorf("model folder %s: sharded checkpoints (model.safetensors.index.json) are not supported", dir)
			}
			return nil, nil, fmt.Errorf("model folder %s: no %s or %s: %w", dir, SafetensorsFile, TorchBinFile, os.ErrNotExist)
		}
		idx, err := openTorchBin(path)
		if err != nil {
			return nil, nil, err
		}
		defer idx.close()
		for _, e := range idx.entries {
			names = append(names, e.name)
		}
		load = idx.load
	}
	m, err := NormaliseNames(names)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	orig := make([]string, 0, len(m))
	for _, o := range m {
		orig = append(orig, o)
	}
	sort.Strings(orig)
	raw, err := load(orig)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]*Tensor, len(m))
	for norm, o := range m {
		t := raw[o]
		t.Name = norm
		out[norm] = t
	}
	if err := CheckTensors(cfg, out); err != nil {
		return nil, nil, fmt.Errorf("%s (with %s): %w", path, ConfigFile, err)
	}
	return cfg, out, nil
}

// ErrAmbiguousNames reports checkpoint names that cannot be mapped to
// BertModel names unambiguously.
var ErrAmbiguousNames = errors.New("ambiguous tensor names")

// ignoredName reports whether a (prefix-free) name is a buffer or head that
// a BertModel encoder does not load.
func ignoredName(n string) bool {
	return n == "embeddings.position_ids" || n == "embeddings.token_type_ids" ||
		strings.HasPrefix(n, "cls.") || n == "queue" || n == "queue_ptr" ||
		strings.HasPrefix(n, "encoder_k.")
}

// stripAll removes any of the known prefixes repeatedly (used only to decide
// whether a name is ignorable).
func stripAll(n string) string {
	for {
		s := n
		for _, p := range []string{"module.", "model.", "bert.", "encoder_q."} {
			s = strings.TrimPrefix(s, p)
		}
		if s == n {
			return s
		}
		n = s
	}
}

// NormaliseNames maps checkpoint tensor names to BertModel names. It
// returns normalised name → original name for the tensors to load; ignored
// tensors are left out. See LoadDir for the rules. Two names normalising to
// the same name, or a "model." prefix on only some names, give
// ErrAmbiguousNames.
func NormaliseNames(names []string) (map[string]string, error) {
	type pair struct{ cur, orig string }
	var ps []pair
	for _, n := range names {
		if ignoredName(stripAll(n)) {
			continue
		}
		ps = append(ps, pair{n, n})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].orig < ps[j].orig })
	// all reports whether every remaining name starts with prefix, and
	// fails when only some do.
	stripIfAll := func(prefix string) error {
		some, every := false, true
		for _, p := range ps {
			if strings.HasPrefix(p.cur, prefix) {
				some = true
			} else {
				every = false
			}
		}
		if some && !every {
			var with, without string
			for _, p := range ps {
				if strings.HasPrefix(p.cur, prefix) && with == "" {
					with = p.orig
				} else if !strings.HasPrefix(p.cur, prefix) && without == "" {
					without = p.orig
				}
			}
			return fmt.Errorf("%w: %q has the prefix %q but %q does not", ErrAmbiguousNames, with, prefix, without)
		}
		if every {
			for i := range ps {
				ps[i].cur = strings.TrimPrefix(ps[i].cur, prefix)
			}
		}
		return nil
	}
	for _, p := range []string{"module.", "model."} {
		if err := stripIfAll(p); err != nil {
			return nil, err
		}
	}
	// A MoCo checkpoint: keep the query encoder only.
	hasQ := false
	for _, p := range ps {
		if strings.HasPrefix(p.cur, "encoder_q.") {
			hasQ = true
		}
	}
	if hasQ {
		kept := ps[:0]
		for _, p := range ps {
			if strings.HasPrefix(p.cur, "encoder_q.") {
				p.cur = strings.TrimPrefix(p.cur, "encoder_q.")
				kept = append(kept, p)
			}
		}
		ps = kept
	}
	if err := stripIfAll("model."); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		n := strings.TrimPrefix(p.cur, "bert.")
		if strings.HasSuffix(n, ".LayerNorm.gamma") {
			n = strings.TrimSuffix(n, "gamma") + "weight"
		} else if strings.HasSuffix(n, ".LayerNorm.beta") {
			n = strings.TrimSuffix(n, "beta") + "bias"
		}
		if prev, dup := out[n]; dup {
			return nil, fmt.Errorf("%w: both %q and %q map to %q", ErrAmbiguousNames, prev, p.orig, n)
		}
		out[n] = p.orig
	}
	return out, nil
}

// WriteHFDir writes an HF-compatible BertModel folder: config.json,
// model.safetensors (in dtype, with metadata format "pt") and a copy of
// vocabPath as vocab.txt (plus tokenizer.json, tokenizer_config.json and
// special_tokens_map.json when they sit beside vocabPath; vocabPath "" copies
// nothing), and the sentence-transformers files of Contriever's conventions
// (WriteSentenceTransformers: mean pooling, no normalisation, dot product),
// so that SentenceTransformer(dir) loads the model as this project runs it.
// Tensors must match cfg (CheckTensors). Everything is written
// into a temporary sibling folder which then replaces dir: an existing dir
// is moved aside, the new one renamed into place, and the old one removed,
// so dir is never half-written.
func WriteHFDir(dir string, cfg *BertConfig, tensors []*Tensor, dtype DType, vocabPath string) (err error) {
	byName := make(map[string]*Tensor, len(tensors))
	for _, t := range tensors {
		if t == nil {
			return fmt.Errorf("model folder %s: nil tensor", dir)
		}
		byName[t.Name] = t
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	if err := CheckTensors(cfg, byName); err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	dir = filepath.Clean(dir)
	parent, base := filepath.Split(dir)
	if parent == "" {
		parent = "."
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("model folder %s exists and is not a folder", dir)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err = os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	if err = WriteConfig(filepath.Join(tmp, ConfigFile), cfg); err != nil {
		return err
	}
	if err = WriteSafetensors(filepath.Join(tmp, SafetensorsFile), tensors, dtype, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if err = WriteSentenceTransformers(tmp, cfg.HiddenSize, min(512, cfg.MaxPositionEmbeddings)); err != nil {
		return err
	}
	if vocabPath != "" {
		if err = copyFile(vocabPath, filepath.Join(tmp, VocabFile)); err != nil {
			return fmt.Errorf("model folder %s: %w", dir, err)
		}
		for _, name := range tokenizerFiles {
			src := filepath.Join(filepath.Dir(vocabPath), name)
			if _, statErr := os.Stat(src); statErr != nil {
				continue
			}
			if err = copyFile(src, filepath.Join(tmp, name)); err != nil {
				return fmt.Errorf("model folder %s: %w", dir, err)
			}
		}
	}
	// Swap into place.
	var old string
	if _, statErr := os.Stat(dir); statErr == nil {
		old = filepath.Join(parent, "."+base+".old-"+filepath.Base(tmp)[len(base)+6:])
		if err = os.Rename(dir, old); err != nil {
			return fmt.Errorf("model folder %s: moving the old folder aside: %w", dir, err)
		}
	}
	if err = os.Rename(tmp, dir); err != nil {
		if old != "" {
			os.Rename(old, dir) // put the old folder back
		}
		return fmt.Errorf("model folder %s: %w", dir, err)
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// copyFile copies src to dst atomically.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, func(f io.Writer) error {
		_, err := io.Copy(f, in)
		return err
	})
}
