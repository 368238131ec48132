// Package document holds the types every layer of the project shares: the
// corpus document {ID, Title, Text}, the text a retriever indexes from it
// (the BEIR / Contriever passage rule), a retrieved hit, and the one order
// of every ranked list (score descending, then document id as trec_eval
// orders it). It is a leaf: it imports nothing from the project, so storage
// (index/*), evaluation (beir), the engine and training all use it.
package document

import "cmp"

// Doc is one document of a corpus: {"id", "title", "text"} in JSON.
type Doc struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Passage returns the text a retriever indexes: title + " " + text, or the
// text alone when the title is empty (the BEIR / Contriever convention).
func (d Doc) Passage() string { return Passage(d.Title, d.Text) }

// Passage is the BEIR / Contriever passage rule on a title and a text:
// title + " " + text, or the text alone when the title is empty.
func Passage(title, text string) string {
	if title == "" {
		return text
	}
	return title + " " + text
}

// Hit is one retrieved document with its score (higher is better).
type Hit struct {
	DocID string
	Score float64
}

// Compare is the tie rule of every ranked list of the project, the order
// trec_eval ranks a run in: score descending, then document id in
// descending byte order (strcmp). It returns a negative number when the
// hit (scoreA, idA) ranks before (scoreB, idB).
func Compare(scoreA float64, idA string, scoreB float64, idB string) int {
	if c := cmp.Compare(scoreB, scoreA); c != 0 {
		return c
	}
	return cmp.Compare(idB, idA)
}

// CompareHits orders hits by Compare.
func CompareHits(a, b Hit) int { return Compare(a.Score, a.DocID, b.Score, b.DocID) }
