#!/usr/bin/env python3
"""Rewrite a BEIR query set as keyword queries, for studies of the
label-free fusion weight on short queries (README: "Hybrid fusion without
labels").

Each query keeps its k words (lower-cased runs of letters and digits) of
highest idf over the corpus, in their order in the query, each once: with k 3,
SciFact's "0-dimensional biomaterials lack inductive properties." becomes
"dimensional biomaterials inductive". Ids are kept,
so the qrels apply unchanged. Python's standard library only;
deterministic (ties in idf break by the word).

    python3 tools/mixcorpus/keywordqueries.py data/scifact 3 OUT/queries.jsonl
    ln -s "$PWD/data/scifact/corpus.jsonl.gz" "$PWD/data/scifact/qrels" OUT/
"""
import argparse
import gzip
import json
import math
import os
import re

WORD = re.compile(r"[a-z0-9]+")


def words(s):
    return WORD.findall(s.lower())


def opened(path):
    if os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="BEIR folder (corpus.jsonl[.gz], queries.jsonl[.gz])")
    ap.add_argument("k", type=int, help="words kept per query")
    ap.add_argument("out", help="output queries.jsonl")
    a = ap.parse_args()
    if a.k < 1:
        ap.error("k must be at least 1")
    df, n = {}, 0
    with opened(os.path.join(a.data, "corpus.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            n += 1
            for w in set(words(d.get("title", "") + " " + d.get("text", ""))):
                df[w] = df.get(w, 0) + 1
    with opened(os.path.join(a.data, "queries.jsonl")) as f, open(a.out, "w", encoding="utf-8") as out:
        for line in f:
            q = json.loads(line)
            ws = words(q["text"])
            idf = {w: math.log(n / (df.get(w, 0) + 1)) for w in ws}
            keep = set(sorted(set(ws), key=lambda w: (-idf[w], w))[: a.k])
            seen, kept = set(), []
            for w in ws:
                if w in keep and w not in seen:
                    kept.append(w)
                    seen.add(w)
            out.write(json.dumps({"_id": q["_id"], "text": " ".join(kept)}) + "\n")


if __name__ == "__main__":
    main()
