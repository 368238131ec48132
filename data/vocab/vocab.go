// Package vocab holds bert-base-uncased's WordPiece vocabulary, the
// vocab.txt beside this file (provenance: the project's shared data
// folder), built into the binary so that the commands that make a model
// from scratch (train, index --train) find it from any working directory.
package vocab

import _ "embed"

// BertBaseUncased is the content of vocab.txt: 30,522 WordPiece tokens, one
// a line, in id order.
//
//go:embed vocab.txt
var BertBaseUncased []byte
