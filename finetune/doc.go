// Package finetune is supervised fine-tuning of a Contriever model on
// labelled (query, relevant passage) pairs, as the paper's
// Contriever-msmarco recipe does: the data formats such pairs come in,
// hard-negative mining, and the data Source that feeds contrastive's
// Trainer with in-batch negatives plus one extra negative per query.
//
// Every format is read into one in-memory Set: a table of Passages
// (deduplicated by id, or by title and text when they have none) and a
// list of Examples, each a query with indices of its positive passages,
// its hard negatives and its given random negatives. The readers accept
// MS MARCO passage files (collection.tsv, queries.*.tsv, qrels.*.tsv in
// TREC four-column form, triples.train.small.tsv text triples),
// DPR-style JSON arrays and JSONL files (question, positive_ctxs,
// negative_ctxs, hard_negative_ctxs; ctxs with title, text and an
// optional passage id), and a BEIR dataset's train split. Bad input gives
// an error naming the file and line (a *beir.LineError for line-based
// files).
//
// Mine retrieves the top passages of every training query with any
// Searcher (BM25 through index/bm25, or a dense model through Dense),
// drops every judged positive (and any passage whose text equals a
// positive's), optionally skips the top few, and returns the rest as hard
// negatives, which WriteDPR writes in the DPR format the readers load.
//
// Source implements contrastive.Source: it walks the examples in a
// shuffled order redrawn each epoch, and for each picks a random positive
// and one negative: a hard negative with probability HardRatio, otherwise
// a random one (from the example's negative_ctxs when given, else a
// uniform passage of the set that is not a positive), as Contriever's
// finetuning_data.py does. Its position and generator state are saved
// and restored exactly, so a resumed run is bit for bit the straight one.
//
// Evaluator measures a model on a BEIR split during or after fine-tuning:
// dense retrieval, and hybrid retrieval (reciprocal rank fusion with
// BM25).
package finetune
