"""Generate ``phrasebook.tsv``, the project's own small English-Spanish parallel corpus.

Why this file exists
--------------------
The translation quickstart and tests need sentence pairs that are always there: no download, no
network, no third-party licence. The project writes its own from a template grammar with this
script; the output is committed in the package (``nlp_lstm/samples/phrasebook.tsv``).

What it generates
-----------------
A UTF-8 TSV with a header ``en<TAB>es`` and 4000 distinct pairs such as::

    The small cat sees the old dog in the park.    El gato pequeño ve al perro viejo en el parque.
    The girls do not read the red book.            Las niñas no leen el libro rojo.
    Does my friend want an apple?                  ¿Quiere mi amigo una manzana?

The grammar is small (about 60 words a side) but makes a translator do real work: Spanish puts
adjectives after the noun and inflects them for gender and number, verbs agree with the
subject, animate objects take the personal "a" ("al perro", "a la niña"), negation drops the
English auxiliary ("does not read" -> "no lee"), and questions invert and open with "¿".
Copying the source scores near zero BLEU; a small LSTM with attention learns it in minutes.

Regenerate it from the repository root with ``python tools/samples/make_phrasebook.py``.
``--out PATH`` writes somewhere else; ``--check`` regenerates in memory and exits non-zero if
the committed file differs.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from generator_cli import generator_main

# The script lives in tools/samples/ (not installed); the data it writes ships in the package.
OUT_PATH = Path(__file__).resolve().parents[2] / "nlp_lstm" / "samples" / "phrasebook.tsv"
SEED = 20261128
NUM_PAIRS = 4000

# English noun (singular, plural) -> Spanish (singular, plural, gender, animate).
NOUNS = {
    "cat": ("gato", "gatos", "m", True),
    "dog": ("perro", "perros", "m", True),
    "girl": ("niña", "niñas", "f", True),
    "boy": ("niño", "niños", "m", True),
    "woman": ("mujer", "mujeres", "f", True),
    "man": ("hombre", "hombres", "m", True),
    "teacher": ("maestra", "maestras", "f", True),
    "horse": ("caballo", "caballos", "m", True),
    "book": ("libro", "libros", "m", False),
    "apple": ("manzana", "manzanas", "f", False),
    "door": ("puerta", "puertas", "f", False),
    "car": ("coche", "coches", "m", False),
    "letter": ("carta", "cartas", "f", False),
    "house": ("casa", "casas", "f", False),
    "bread": ("pan", "panes", "m", False),
    "window": ("ventana", "ventanas", "f", False),
    "key": ("llave", "llaves", "f", False),
    "table": ("mesa", "mesas", "f", False),
}
ENGLISH_PLURALS = {"man": "men", "woman": "women", "key": "keys"}
# English adjective -> Spanish masculine singular; the other forms follow regular rules.
ADJECTIVES = {
    "small": "pequeño",
    "old": "viejo",
    "red": "rojo",
    "black": "negro",
    "white": "blanco",
    "new": "nuevo",
    "big": "grande",
    "green": "verde",
    "happy": "contento",
    "tired": "cansado",
}
ANIMATE_ONLY = {"happy", "tired"}
HUMANS = {"girl", "boy", "woman", "man", "teacher"}
NOT_FOR_HUMANS = {"red", "black", "white", "green", "new"}
# English base verb -> (third person singular, Spanish singular, Spanish plural, takes animate).
VERBS = {
    "see": ("sees", "ve", "ven", True),
    "want": ("wants", "quiere", "quieren", False),
    "eat": ("eats", "come", "comen", False),
    "read": ("reads", "lee", "leen", False),
    "buy": ("buys", "compra", "compran", False),
    "open": ("opens", "abre", "abren", False),
    "find": ("finds", "encuentra", "encuentran", True),
    "call": ("calls", "llama", "llaman", True),
    "carry": ("carries", "lleva", "llevan", False),
    "love": ("loves", "quiere", "quieren", True),
}
EDIBLE = {"apple", "bread"}
READABLE = {"book", "letter"}
OPENABLE = {"door", "window", "book", "letter", "car", "house"}
PLACES = [
    ("in the park", "en el parque"),
    ("at home", "en casa"),
    ("today", "hoy"),
    ("every morning", "cada mañana"),
    ("in the kitchen", "en la cocina"),
    ("with my friend", "con mi amigo"),
    ("at night", "por la noche"),
    ("in the garden", "en el jardín"),
]


def adjective(word, gender, plural):
    base = ADJECTIVES[word]
    if base.endswith("o"):
        form = base[:-1] + ("a" if gender == "f" else "o")
    else:
        form = base
    if plural:
        form += "s" if form[-1] in "aeo" else "es"
    return form


class NounPhrase:
    """One noun phrase, rendered in both languages."""

    def __init__(self, rng, animate=None, allowed=None):
        choices = [
            n
            for n, v in NOUNS.items()
            if (animate is None or v[3] == animate) and (allowed is None or n in allowed)
        ]
        self.noun = rng.choice(choices)
        self.plural = rng.random() < 0.3
        self.determiner = (
            rng.choice(["the", "the", "a", "my"])
            if not self.plural
            else rng.choice(["the", "the", "my"])
        )
        adjectives = [
            a
            for a in ADJECTIVES
            if (NOUNS[self.noun][3] or a not in ANIMATE_ONLY)
            and (self.noun not in HUMANS or a not in NOT_FOR_HUMANS)
        ]
        self.adjective = rng.choice(adjectives) if rng.random() < 0.45 else None

    @property
    def animate(self):
        return NOUNS[self.noun][3]

    def english(self):
        noun = (ENGLISH_PLURALS.get(self.noun, self.noun + "s")) if self.plural else self.noun
        words = [self.determiner]
        if self.adjective:
            words.append(self.adjective)
        words.append(noun)
        if words[0] == "a" and words[1][0] in "aeiou":
            words[0] = "an"
        return " ".join(words)

    def spanish(self):
        singular, plural, gender, _ = NOUNS[self.noun]
        if self.determiner == "the":
            det = {("m", False): "el", ("f", False): "la", ("m", True): "los", ("f", True): "las"}[
                gender, self.plural
            ]
        elif self.determiner == "a":
            det = "un" if gender == "m" else "una"
        else:
            det = "mis" if self.plural else "mi"
        words = [det, plural if self.plural else singular]
        if self.adjective:
            words.append(adjective(self.adjective, gender, self.plural))
        return " ".join(words)


def object_spanish(phrase):
    text = phrase.spanish()
    if phrase.animate:
        text = "al " + text[3:] if text.startswith("el ") else "a " + text
    return text


def sentence(rng):
    verb = rng.choice(list(VERBS))
    third, es_singular, es_plural, takes_animate = VERBS[verb]
    allowed = (
        EDIBLE
        if verb == "eat"
        else READABLE
        if verb == "read"
        else OPENABLE
        if verb == "open"
        else None
    )
    subject = NounPhrase(rng, animate=True)
    obj = NounPhrase(rng, animate=None if takes_animate else False, allowed=allowed)
    if verb == "love":
        obj = NounPhrase(rng, animate=True)
    es_verb = es_plural if subject.plural else es_singular
    es_object = object_spanish(obj)
    place = rng.choice(PLACES) if rng.random() < 0.35 else None
    kind = rng.choices(["statement", "negation", "question"], [0.6, 0.2, 0.2])[0]
    if kind == "statement":
        en = f"{subject.english()} {verb if subject.plural else third} {obj.english()}"
        es = f"{subject.spanish()} {es_verb} {es_object}"
    elif kind == "negation":
        aux = "do not" if subject.plural else "does not"
        en = f"{subject.english()} {aux} {verb} {obj.english()}"
        es = f"{subject.spanish()} no {es_verb} {es_object}"
    else:
        aux = "Do" if subject.plural else "Does"
        en = f"{aux} {subject.english()} {verb} {obj.english()}"
        es = f"¿{es_verb[0].upper()}{es_verb[1:]} {subject.spanish()} {es_object}"
    if place:
        en += " " + place[0]
        es += " " + place[1]
    end = "?" if kind == "question" else "."
    en, es = en + end, es + end
    return en[0].upper() + en[1:], es[0].upper() + es[1:] if es[0] != "¿" else es


def generate(count=NUM_PAIRS, seed=SEED):
    rng = random.Random(seed)
    seen, pairs = set(), []
    while len(pairs) < count:
        en, es = sentence(rng)
        if en not in seen:
            seen.add(en)
            pairs.append((en, es))
    return pairs


def render(pairs):
    lines = ["en\tes"] + [f"{en}\t{es}" for en, es in pairs]
    return ("\n".join(lines) + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    return generator_main(
        argv,
        __doc__,
        OUT_PATH,
        lambda: render(generate()),
        lambda data: f"{len(data.splitlines()) - 1} pairs",
    )


if __name__ == "__main__":
    sys.exit(main())
