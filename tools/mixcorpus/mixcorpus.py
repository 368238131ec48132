#!/usr/bin/env python3
"""Build a large, noisy BEIR corpus from a small one, for studies of the
label-free fusion weight (README: "Hybrid fusion without labels").

The output keeps every document of the input corpus (same ids, so the
input's queries and qrels apply unchanged) and adds copies-1 rounds of
distractors: for each input document, a document with no title whose text
is 3 to 10 sentences drawn at random from the whole corpus. A tuned dense
model stays far below BM25 on it. Python's standard library only; seeded,
so the same input gives the same output.

    python3 tools/mixcorpus/mixcorpus.py data/scifact/corpus.jsonl.gz OUT/corpus.jsonl
    mkdir -p OUT/qrels && cp data/scifact/queries.jsonl OUT/ && cp data/scifact/qrels/train.tsv OUT/qrels/
"""
import argparse
import gzip
import json
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", help="input corpus.jsonl or corpus.jsonl.gz")
    ap.add_argument("out", help="output corpus.jsonl")
    ap.add_argument("--copies", type=int, default=30, help="rounds, the input's included")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    random.seed(a.seed)
    opener = gzip.open if a.corpus.endswith(".gz") else open
    with opener(a.corpus, "rt") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    sents = []
    for d in docs:
        sents += [s for s in d["text"].split(". ") if s]
    with open(a.out, "w") as out:
        for r in range(a.copies):
            for d in docs:
                k = random.randint(3, 10)
                text = ". ".join(random.sample(sents, k))
                if r == 0:
                    row = {"_id": d["_id"], "title": d["title"], "text": d["text"]}
                else:
                    row = {"_id": f"{d['_id']}_{r}", "title": "", "text": text}
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
