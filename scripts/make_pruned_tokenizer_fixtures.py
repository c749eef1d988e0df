#!/usr/bin/env python3
"""Builds the fixtures for tokenization with a pruned vocabulary (`edgedistill prune-vocab`):
Tests/Fixtures/tokenizer/pruned_vocab.txt and pruned_cases.jsonl, checked by
Tests/ModelTests/VocabularyPruningTokenizerTests.swift.

Run by developers, not CI (it needs transformers):

    python3 scripts/make_pruned_tokenizer_fixtures.py

It prunes Tests/Fixtures/tokenizer/vocab.txt (all-MiniLM-L6-v2's) by the rule of
Sources/Model/VocabularyPruning.swift over Tests/Fixtures/tokenizer/pruning_texts.txt: the special
tokens, every single ASCII character and every character the texts use (alone and as ##), and
every piece the texts use (minimum count 1). Then it tokenizes probe texts, many with words
whose pieces were pruned, with transformers' BERT tokenizers (pure-Python and Rust, kept only where
they agree) over the pruned vocabulary: the Swift tokenizer must give the same ids.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tokenizer_fixtures import load_tokenizers  # noqa: E402  (the same two reference tokenizers)

FIXTURES = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "tokenizer"
SPECIALS = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}

vocab = (FIXTURES / "vocab.txt").read_text(encoding="utf-8").split("\n")
if vocab and vocab[-1] == "":
    vocab = vocab[:-1]
texts = [t for t in (FIXTURES / "pruning_texts.txt").read_text(encoding="utf-8").split("\n") if t]
full = load_tokenizers(str(FIXTURES / "vocab.txt"))[1]
counts = [0] * len(vocab)
for text in texts:
    for i in full(text)["input_ids"]:
        counts[i] += 1
bare = lambda t: t[2:] if t.startswith("##") else t
used_characters = {bare(t) for i, t in enumerate(vocab) if counts[i] > 0 and len(bare(t)) == 1}
kept = [t for i, t in enumerate(vocab)
        if t in SPECIALS or (len(bare(t)) == 1 and (bare(t).isascii() or bare(t) in used_characters)) or counts[i] >= 1]
(FIXTURES / "pruned_vocab.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")

probes = texts + [
    "an extraordinary , breathtaking masterpiece",
    "the screenplay was unbearably pretentious",
    "cinematography and choreography",
    "naïve café résumé",
    "東京 の 映画",
    "it was soooo goooood !!!",
    "antidisestablishmentarianism",
    "don't , won't , can't",
    "$ 100 million budget , 2 hours",
    "a film 🎬 worth seeing",
    "",
]
slow, fast = load_tokenizers(str(FIXTURES / "pruned_vocab.txt"))
lines = [json.dumps({"generator": "scripts/make_pruned_tokenizer_fixtures.py", "vocab_size": len(kept)})]
for text in probes:
    a, b = slow(text)["input_ids"], fast(text)["input_ids"]
    if a == b:
        lines.append(json.dumps({"text": text, "ids": a}, ensure_ascii=False))
(FIXTURES / "pruned_cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
print(f"{len(kept)} tokens kept of {len(vocab)}; {len(lines) - 1} cases of {len(probes)}")
