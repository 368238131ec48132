package checkpoint

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// File names of the sentence-transformers layout of a model folder.
const (
	// STModulesFile lists the modules (Transformer, Pooling, Normalize)
	// with their sub-folders.
	STModulesFile = "modules.json"
	// STConfigFile holds prompts, default_prompt_name and
	// similarity_fn_name.
	STConfigFile = "config_sentence_transformers.json"
	// STTransformerConfigFile holds max_seq_length and do_lower_case; it
	// sits in the Transformer module's folder.
	STTransformerConfigFile = "sentence_bert_config.json"
	// STPoolingDir is the Pooling module's folder WriteSentenceTransformers
	// writes; its config.json holds the pooling_mode_* flags.
	STPoolingDir = "1_Pooling"
)

// Module types of modules.json that the encoder runs.
const (
	STTransformerType = "sentence_transformers.models.Transformer"
	STPoolingType     = "sentence_transformers.models.Pooling"
	STNormalizeType   = "sentence_transformers.models.Normalize"
)

// STModule is one entry of modules.json.
type STModule struct {
	Idx  int    `json:"idx"`
	Name string `json:"name"`
	Path string `json:"path"`
	Type string `json:"type"`
}

// STPoolingConfig is a Pooling module's config.json. The pointer fields
// are nil when the key is absent (sentence-transformers then takes its
// defaults: mean on, the others off, include_prompt true).
type STPoolingConfig struct {
	WordEmbeddingDimension *int    `json:"word_embedding_dimension"`
	PoolingMode            *string `json:"pooling_mode,omitempty"`
	CLSToken               *bool   `json:"pooling_mode_cls_token"`
	MeanTokens             *bool   `json:"pooling_mode_mean_tokens"`
	MaxTokens              *bool   `json:"pooling_mode_max_tokens"`
	MeanSqrtLenTokens      *bool   `json:"pooling_mode_mean_sqrt_len_tokens"`
	WeightedMeanTokens     *bool   `json:"pooling_mode_weightedmean_tokens"`
	LastToken              *bool   `json:"pooling_mode_lasttoken"`
	IncludePrompt          *bool   `json:"include_prompt,omitempty"`
}

// STTransformerConfig is sentence_bert_config.json.
type STTransformerConfig struct {
	MaxSeqLength *int  `json:"max_seq_length"`
	DoLowerCase  *bool `json:"do_lower_case"`
}

// STConfig is config_sentence_transformers.json (the keys the encoder
// reads; __version__ and others are ignored).
type STConfig struct {
	Prompts           map[string]string `json:"prompts"`
	DefaultPromptName *string           `json:"default_prompt_name"`
	SimilarityFnName  *string           `json:"similarity_fn_name"`
}

// WriteSentenceTransformers writes into dir, beside config.json and the
// weights, the sentence-transformers files that describe Contriever's
// conventions, so that SentenceTransformer(dir) embeds as this project
// does: modules.json (Transformer at "", Pooling at 1_Pooling, no
// Normalize), 1_Pooling/config.json (mean over all tokens; include_prompt
// is left out, true by default, so that sentence-transformers before 2.6,
// which refuses the key, loads it too), sentence_bert_config.json (max_seq_length maxSeqLength,
// do_lower_case false: the tokenizer lowercases) and
// config_sentence_transformers.json (no prompts, similarity "dot"). Each
// file is written atomically.
func WriteSentenceTransformers(dir string, hiddenSize, maxSeqLength int) error {
	if hiddenSize <= 0 || maxSeqLength < 2 {
		return fmt.Errorf("sentence-transformers files in %s: hidden size %d, max_seq_length %d", dir, hiddenSize, maxSeqLength)
	}
	t, f := true, false
	dot := "dot"
	files := []struct {
		path string
		v    any
	}{
		{STModulesFile, []STModule{
			{Idx: 0, Name: "0", Path: "", Type: STTransformerType},
			{Idx: 1, Name: "1", Path: STPoolingDir, Type: STPoolingType},
		}},
		{filepath.Join(STPoolingDir, ConfigFile), STPoolingConfig{
			WordEmbeddingDimension: &hiddenSize,
			CLSToken:               &f, MeanTokens: &t, MaxTokens: &f, MeanSqrtLenTokens: &f,
			WeightedMeanTokens: &f, LastToken: &f,
		}},
		{STTransformerConfigFile, STTransformerConfig{MaxSeqLength: &maxSeqLength, DoLowerCase: &f}},
		{STConfigFile, STConfig{Prompts: map[string]string{}, SimilarityFnName: &dot}},
	}
	if err := os.MkdirAll(filepath.Join(dir, STPoolingDir), 0o755); err != nil {
		return fmt.Errorf("sentence-transformers files in %s: %w", dir, err)
	}
	for _, file := range files {
		data, err := json.MarshalIndent(file.v, "", "  ")
		if err != nil {
			return err
		}
		data = append(data, '\n')
		p := filepath.Join(dir, file.path)
		if err := atomicfile.Write(p, func(w io.Writer) error {
			_, err := w.Write(data)
			return err
		}); err != nil {
			return fmt.Errorf("sentence-transformers file %s: %w", p, err)
		}
	}
	return nil
}

// WriteSTPrompts rewrites dir's config_sentence_transformers.json with
// these prompts (by name: "query", "document", ...), keeping its
// similarity_fn_name (dot when the file is absent) and no default prompt,
// atomically. A model fine-tuned with prompts carries them this way, so
// that the engine and SentenceTransformer(dir).encode_query apply them.
func WriteSTPrompts(dir string, prompts map[string]string) error {
	p := filepath.Join(dir, STConfigFile)
	sim := "dot"
	if b, err := os.ReadFile(p); err == nil {
		var old STConfig
		if json.Unmarshal(b, &old) == nil && old.SimilarityFnName != nil {
			sim = *old.SimilarityFnName
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("sentence-transformers file %s: %w", p, err)
	}
	if prompts == nil {
		prompts = map[string]string{}
	}
	data, err := json.MarshalIndent(STConfig{Prompts: prompts, SimilarityFnName: &sim}, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if err := atomicfile.Write(p, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		return fmt.Errorf("sentence-transformers file %s: %w", p, err)
	}
	return nil
}
