"""Calibrate the support check (`services/generation/support.py`) on a labelled sample built from
the corpus, and print its precision and recall per coverage threshold.

    .venv/bin/python -m ops.bench.support [--pages 120] [--samples 400] [--seed 7]

The pages of ../shared/site are cleaned and chunked by the indexer's own code. For each sampled
sentence (from a passage's units) the sources are that passage plus the four passages of other
pages that share most of its terms (what retrieval would show beside it):
* supported — the sentence as the passage says it, and a loose restatement of it (every fourth
  word left out);
* unsupported — a sentence from another page checked against passages of other pages than its own
  (the same "nearest" choice), and the passage's own sentence with a fact altered: negated (or its
  negation removed), a number changed, or a specific token (command, setting, path) swapped for one
  from another page.
"""

from __future__ import annotations

import argparse
import random
import re

from services.generation import support
from services.generation.units import split_units
from shared.schemas import SourceRef
from shared.settings import PROJECT_ROOT, get_settings
from shared.terms import stems

SITE = PROJECT_ROOT.parent / "shared" / "site"
THRESHOLDS = [0.4, 0.5, 0.6, 0.7, 0.8]


def passages(pages: int, seed: int) -> list[tuple[str, str]]:
    """(page, passage text) for a sample of the site's pages."""
    from services.indexer.chunking import chunk_page
    from services.indexer.cleaning import clean_html

    files = sorted(SITE.rglob("*.html"))
    random.Random(seed).shuffle(files)
    found: list[tuple[str, str]] = []
    processing = get_settings().processing
    for path in files[:pages]:
        page = clean_html(path.read_text(encoding="utf-8", errors="replace"))
        for chunk in chunk_page(page, page_id="x", url=str(path), page_hash="h",
                                settings=processing):
            found.append((str(path), chunk.text))
    return found


def nearest(sentence: str, pool: list[tuple[str, str, set[str]]], exclude: str,
            count: int) -> list[str]:
    own = stems(sentence)
    ranked = sorted((p for p in pool if p[0] != exclude), key=lambda p: -len(own & p[2]))
    return [text for _, text, _ in ranked[:count]]


def alter(sentence: str, specifics: list[str], rng: random.Random) -> str | None:
    """The sentence with one fact changed, or None when it has nothing to change."""
    if re.search(r"\b(is|are|can|does)\b", sentence) and rng.random() < 0.4:
        return re.sub(r"\b(is|are|can|does)\b", lambda m: {"can": "cannot"}.get(
            m.group(1), m.group(1) + " not"), sentence, count=1)
    marker = support.LIST_MARKER.match(sentence)  # a step's "2." is its place, not a fact
    start = marker.end() if marker else 0
    if re.search(r"\d", sentence[start:]) and rng.random() < 0.5:
        return sentence[:start] + re.sub(r"\d+", lambda m: str(int(m.group(0)) + 7),
                                         sentence[start:], count=1)
    own = support.specific_tokens(sentence)
    if own and specifics:
        token = re.escape(own[0])
        swapped = rng.choice(specifics)
        return re.sub(token, lambda _: swapped, sentence, count=1, flags=re.IGNORECASE)
    return None


def sample(found: list[tuple[str, str]], samples: int, seed: int
           ) -> list[tuple[str, list[str], bool]]:
    """(sentence, source texts, supported?) triples."""
    rng = random.Random(seed)
    pool = [(page, text, stems(text)) for page, text in found]
    specifics = [t for _, text in found for t in support.specific_tokens(text)][:5000]
    labelled: list[tuple[str, list[str], bool]] = []
    while len(labelled) < samples:
        page, text, _ = rng.choice(pool)
        sentences = [u.text for u in split_units(text)
                     if u.kind in ("sentence", "item", "step") and len(u.text.split()) >= 6]
        if not sentences:
            continue
        sentence = rng.choice(sentences)
        sources = [text, *nearest(sentence, pool, page, 4)]
        labelled.append((sentence, sources, True))
        words = sentence.split()  # a loose restatement: every fourth word left out
        labelled.append((" ".join(w for i, w in enumerate(words) if i % 4 != 3), sources, True))
        others = nearest(sentence, pool, page, 5)
        if not any(" ".join(sentence.split()) in " ".join(t.split()) for t in others):
            labelled.append((sentence, others, False))  # (boilerplate other pages repeat is not)
        if (changed := alter(sentence, specifics, rng)) and changed != sentence:
            labelled.append((changed, sources, False))
    return labelled


def supported(sentence: str, texts: list[str], threshold: float) -> bool:
    """The check's verdict on a sentence with `texts` as its numbered sources."""
    sources = [SourceRef(n=i, title="", url=f"u{i}", score=1.0, text=text)
               for i, text in enumerate(texts, start=1)]
    return support.check(sentence, support.prepare(sources), threshold).supported


def measure(labelled: list[tuple[str, list[str], bool]], threshold: float) -> dict[str, float]:
    true_pos = false_pos = false_neg = 0
    for sentence, texts, truth in labelled:
        said = supported(sentence, texts, threshold)
        true_pos += said and truth
        false_pos += said and not truth
        false_neg += truth and not said
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 0.0
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3)}


def cut_commands(labelled: list[tuple[str, list[str], bool]], threshold: float) -> tuple[int, int]:
    """Supported sentences ending on a command, setting or path, that token cut in half (the lead
    quoted "./msupdate --install --apps w"): how many there are, and how many the check refuses."""
    cut = [(sentence[:len(sentence) - len(last) // 2], texts) for sentence, texts, truth in labelled
           if truth and len(last := sentence.rstrip(" .`").split()[-1]) >= 4
           and support.SPECIFIC.fullmatch(last.strip("`"))]
    refused = sum(not supported(sentence, texts, threshold) for sentence, texts in cut)
    return len(cut), refused


def stitched(labelled: list[tuple[str, list[str], bool]], threshold: float) -> tuple[int, int]:
    """Supported sentences whose first specific token is swapped for one of another unit of their
    own passage (the lead put the SLES line's `sudo zypper remove mdatp` before the Ubuntu line's
    words): how many there are, and how many the check refuses."""
    cases = []
    for sentence, texts, truth in labelled:
        own = support.specific_tokens(sentence) if truth else []
        others = [token for unit in split_units(texts[0]) if unit.text != sentence
                  for token in support.specific_tokens(unit.text) if own and token not in own]
        if others:
            cases.append((re.sub(re.escape(own[0]), lambda _: others[0], sentence, count=1,
                                 flags=re.IGNORECASE), texts))
    return len(cases), sum(not supported(sentence, texts, threshold) for sentence, texts in cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    labelled = sample(passages(args.pages, args.seed), args.samples, args.seed)
    positives = sum(truth for *_, truth in labelled)
    print(f"{len(labelled)} sentences: {positives} supported, {len(labelled) - positives} not")
    print("| min coverage | precision | recall |\n| --- | --- | --- |")
    for threshold in THRESHOLDS:
        result = measure(labelled, threshold)
        print(f"| {threshold} | {result['precision']} | {result['recall']} |")
    total, refused = cut_commands(labelled, get_settings().infer.support_min_coverage)
    print(f"commands cut short (a supported sentence's last command token halved): {refused} of "
          f"{total} refused")
    total, refused = stitched(labelled, get_settings().infer.support_min_coverage)
    print(f"stitched (a supported sentence's specific token swapped for one of another unit of its "
          f"passage): {refused} of {total} refused")


if __name__ == "__main__":
    main()
