"""Leakage check: how many validation and test examples also occur in an earlier split.

A test example whose text is also a train example is not held out: the metrics on it measure
memory, not generalisation. `leakage_report` counts, for each later split, the examples whose
text occurs in an earlier one, exactly and after `normalise` (NFKC, casefold, punctuation and
runs of whitespace collapsed to one space), with hash sets (100k examples take well under a
second). `warnings` turns the shares above a threshold into messages.
"""

import re
import unicodedata

# Running text: the shortest line the leakage check compares.
MIN_LINE = 40
# Streamed corpora: the leakage check compares a seeded sample of at most this many examples of
# each split (a lower bound of the duplicates; the manifest records the sample size).
SAMPLE = 100_000
# (later split, earlier split): examples of the first that also occur in the second.
PAIRS = (("validation", "train"), ("test", "train"), ("test", "validation"))
_NOT_WORD = re.compile(r"[^\w\s]|_")


def normalise(text):
    """`text` as the duplicate check compares it: NFKC, casefolded, punctuation dropped, runs of
    whitespace as one space, stripped ("Hello,  World!" and "hello world" are equal)."""
    text = _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(text.split())


def leakage_report(units):
    """Duplicate counts between splits.

    Args:
        units: dict. Split name -> list of str (the texts compared: one per example).

    Returns:
        dict. "<later>_in_<earlier>" -> {"examples": examples of the later split, "exact": how
        many occur in the earlier split as they are, "normalised": how many after `normalise`,
        "exact_share", "normalised_share": those counts over "examples"}, for each pair of
        `PAIRS` whose splits are both present.
    """
    normalised = {split: [normalise(t) for t in texts] for split, texts in units.items()}
    exact_sets = {split: set(texts) for split, texts in units.items()}
    normalised_sets = {split: set(texts) for split, texts in normalised.items()}
    report = {}
    for later, earlier in PAIRS:
        if later not in units or earlier not in units:
            continue
        count = len(units[later])
        exact = sum(text in exact_sets[earlier] for text in units[later])
        close = sum(text in normalised_sets[earlier] for text in normalised[later])
        report[f"{later}_in_{earlier}"] = {
            "examples": count,
            "exact": exact,
            "normalised": close,
            "exact_share": round(exact / count, 4) if count else 0.0,
            "normalised_share": round(close / count, 4) if count else 0.0,
        }
    return report


def warnings(report, threshold, unit="examples"):
    """One message per pair whose normalised share is above `threshold`."""
    out = []
    for pair, counts in report.items():
        if counts["normalised_share"] > threshold:
            later, _, earlier = pair.partition("_in_")
            out.append(
                f"{counts['normalised']} of the {counts['examples']} {later} {unit} "
                f"({counts['normalised_share']:.1%}; {counts['exact']} exactly) also occur in "
                f"the {earlier} split: the {later} split is not held out and its metrics "
                f"overstate the model. Deduplicate the split files (or the data.path file), or "
                f"raise data.leakage_warn_share ({threshold}) to accept it."
            )
    return out


def split_units(splits, seed):
    """(split -> the texts the leakage check compares, what one text is) of a reader's splits:
    the text of each example (pairs: its source), or for running text each line of at least
    `MIN_LINE` characters (short lines such as speaker names repeat in any text); of a streamed
    column, a seeded sample of at most `SAMPLE` texts."""
    units, unit = {}, "examples"
    for split, part in splits.items():
        if isinstance(part, str):
            units[split] = [line for line in part.split("\n") if len(line.strip()) >= MIN_LINE]
            unit = f"lines of {MIN_LINE}+ characters"
        else:
            texts = part["text"] if "text" in part else part["source"]
            if hasattr(texts, "sample"):  # a streamed corpus: a bounded, seeded sample
                texts = [t for batch in texts.sample(SAMPLE, seed).batches() for t in batch]
            units[split] = texts
            unit = "examples" if "text" in part else "source texts"
    return units, unit
