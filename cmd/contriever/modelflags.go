package main

import (
	"flag"
	"fmt"

	"github.com/contriever-go/contriever/encoder"
	"github.com/contriever-go/contriever/engine"
)

// The flags that override a model folder's conventions, shared by beir,
// index, serve, mine and finetune. The engine reads the folder
// (engine.ReadModel) and applies what was given (engine.ModelSettings);
// a flag left out keeps the folder's value.

// addPromptFlags registers --query-prompt and --doc-prompt on fs.
func addPromptFlags(fs *flag.FlagSet, prefix string) {
	fs.String("query-prompt", "", prefix+"text prepended to every query, overriding the model's (default: the folder's \"query\" prompt, else its default prompt, else none; e.g. \"query: \" for e5)")
	fs.String("doc-prompt", "", prefix+"text prepended to every document (title + \" \" + text), overriding the model's (default: the folder's \"document\", \"passage\" or \"corpus\" prompt, else its default prompt, else none; e.g. \"passage: \" for e5)")
}

// modelSettings returns the settings of the model flags given on fs
// (parsed): --query-prompt, --doc-prompt, and where registered --pooling,
// --normalize and --max-length. A flag not given keeps the folder's value.
func modelSettings(fs *flag.FlagSet) (engine.ModelSettings, error) {
	var s engine.ModelSettings
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		v := f.Value.(flag.Getter).Get()
		switch f.Name {
		case "query-prompt":
			p := v.(string)
			s.QueryPrompt = &p
		case "doc-prompt":
			p := v.(string)
			s.DocPrompt = &p
		case "pooling":
			var p encoder.Pooling
			if p, err = encoder.ParsePooling(v.(string)); err != nil {
				err = fmt.Errorf("--pooling: %w", err)
				return
			}
			s.Pooling = &p
		case "normalize":
			b := v.(bool)
			s.Normalize = &b
		case "max-length":
			if n := v.(int); n < 2 {
				err = fmt.Errorf("--max-length %d: must be at least 2", n)
			} else {
				s.MaxLength = n
			}
		}
	})
	return s, err
}
