"""Translation metrics: detokenised corpus BLEU and chrF with sacreBLEU, and the translations file
the scores are recomputed from.
"""

import csv
import io

import tensorflow as tf

from nlp_lstm import artifacts

# Spacing rules that turn joined tokens back into text ("a man , he 's" -> "a man, he's").
DETOKENIZE_RULES = (
    (r" ##", ""),
    (r" ([.,!?;:%)\]}])", r"\1"),
    (r"([(\[{¿¡]) ", r"\1"),
    (r" ' (s|t|re|ve|ll|d|m) ", r"'\1 "),
    (r" ' (s|t|re|ve|ll|d|m)$", r"'\1"),
    (r"(\w) - (\w)", r"\1-\2"),
)


def detokenize(text):
    """Joins of target tokens back into running text (in the graph): subwords, punctuation."""
    for pattern, rewrite in DETOKENIZE_RULES:
        text = tf.strings.regex_replace(text, pattern, rewrite)
    return tf.strings.strip(text)


def corpus_scores(hypotheses, references):
    """sacreBLEU and chrF (detokenized, cased) with their signatures."""
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf_score.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def write_translations(path, part, hypotheses, greedy):
    """source, reference, hypothesis (beam) and greedy hypothesis, one pair per row (TSV)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["source", "reference", "hypothesis", "greedy"])
    for row in zip(part["source"], part["target"], hypotheses, greedy):
        writer.writerow(row)
    artifacts.atomic_write_text(path, buffer.getvalue())
