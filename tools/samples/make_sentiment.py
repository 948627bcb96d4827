"""Generate ``sentiment.tsv``, the project's own small movie-review sentiment corpus.

Why this file exists
--------------------
The quickstart, the examples and the tests need a text-classification data set
that is always there: no download, no network, no third-party licence to check.
Rather than ship an excerpt of a public corpus, the project writes its own, with
this script, from a template grammar.  The output is committed in the package
(``nlp_lstm/samples/sentiment.tsv``) and installed as package data, so the
quickstart runs offline; this script is what regenerates it.

What it generates
-----------------
A UTF-8, tab-separated file with the header ``text<TAB>label`` and 3000 rows of
short English "movie reviews", labelled ``positive`` or ``negative`` (exactly
1500 of each).  Each review is built from a template grammar with several
hundred distinct words: subjects ("the film", "the director's latest"), aspects
(acting, plot, score, cinematography, ...), positive and negative adjectives,
verbs, nouns and adverbs, intensifiers and neutral filler.  The grammar is
chosen so that a bag of words is not enough to get every row right:

* negation flips polarity: "the plot is not gripping", "it never drags",
  "I would not recommend it", "the acting is hardly wooden";
* contrast clauses: in "X, but Y", "Although X, Y" and "Y, even though X" the
  main clause (Y) decides the label, while X carries the opposite sentiment;
* "not only X, but Y" uses "not" and "but" without flipping anything;
* multi-sentence reviews mix aspect comments of both polarities and end with a
  verdict ("Overall, ...") that decides the label;
* neutral filler ("I saw it at a café screening downtown.") pads some rows.

Words in the polar slots are drawn with Zipf-like weights (``ZIPF_S``): a few
("great", "good", "bad", "boring") are common and a long tail is rare, as in
real reviews, so a small model can learn the frequent words and the structure
from 2400 training rows while the vocabulary stays in the hundreds.

Rows run from about 4 to 40 words.  A few contain non-ASCII text (café, naïve,
déjà vu, an em dash, curly apostrophes, an emoji) to exercise tokenisation.
About 5% of the labels (75 per class) are deliberately flipped as label noise,
so the best achievable accuracy is around 95%.  Word order matters: negated and
contrasted rows defeat a bag of words, which an LSTM can learn.  BENCHMARKS.md
holds the quickstart's measured accuracy against the majority class.

Format guarantees: no tab, newline or straight double-quote character inside a
text field, so the file reads the same with ``csv`` (``delimiter="\\t"``),
pandas (``sep="\\t"``) or ``tf.data``.  Generation uses only the standard
library and one ``random.Random(SEED)``, so every run writes the same bytes.

Regenerate it from the repository root with::

    python tools/samples/make_sentiment.py

``--out PATH`` writes somewhere else; ``--check`` regenerates in memory and
exits non-zero if the committed file differs.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from generator_cli import generator_main

SEED = 20240611
N_PER_CLASS = 1500
NOISE_PER_CLASS = 75  # 5% of each class gets the opposite label
MIN_WORDS = 4
MAX_WORDS = 40
ZIPF_S = 1.8  # skew of word frequencies in the polar word lists
# The script lives in tools/samples/ (not installed); the data it writes ships in the package.
OUT_PATH = Path(__file__).resolve().parents[2] / "nlp_lstm" / "samples" / "sentiment.tsv"

POS, NEG = 1, -1

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

# (phrase, plural?)
FILM_SUBJECTS = [
    "the film",
    "this movie",
    "the picture",
    "the director's latest",
    "the director\u2019s latest",
    "the sequel",
    "the remake",
    "this documentary",
    "the feature",
    "this thriller",
    "this comedy",
    "the drama",
    "the animated feature",
    "the biopic",
    "this horror flick",
    "the musical",
    "the adaptation",
    "this little indie",
    "the blockbuster",
    "the debut feature",
    "this western",
    "the romance",
    "this war epic",
    "the prequel",
    "this crime caper",
    "the mystery",
    "this family film",
    "the heist movie",
    "the reboot",
    "this sci-fi outing",
    "the period piece",
    "the satire",
]

ASPECTS = [
    ("the acting", False),
    ("the plot", False),
    ("the score", False),
    ("the cinematography", False),
    ("the script", False),
    ("the dialogue", False),
    ("the pacing", False),
    ("the editing", False),
    ("the soundtrack", False),
    ("the lead performance", False),
    ("the supporting cast", False),
    ("the visual effects", True),
    ("the costume design", False),
    ("the ending", False),
    ("the screenplay", False),
    ("the direction", False),
    ("the set design", False),
    ("the lighting", False),
    ("the chemistry between the leads", False),
    ("the third act", False),
    ("the opening scene", False),
    ("the villain", False),
    ("the humor", False),
    ("the twist", False),
    ("the camerawork", False),
    ("the production design", False),
    ("the storytelling", False),
    ("the character development", False),
    ("the world-building", False),
    ("the fight choreography", False),
    ("the sound design", False),
    ("the performances", True),
    ("the action sequences", True),
    ("the jokes", True),
    ("the songs", True),
    ("the characters", True),
    ("the special effects", True),
    ("the flashbacks", True),
    ("the musical numbers", True),
    ("the battle scenes", True),
]

# Polar word lists are ordered roughly by how common the word is in real
# reviews: Grammar.zpick draws them with Zipf-like weights, so a few words
# ("great", "boring") are frequent and the long tail is rare.
POS_ADJ = [
    "great",
    "good",
    "brilliant",
    "excellent",
    "wonderful",
    "funny",
    "beautiful",
    "moving",
    "gripping",
    "charming",
    "clever",
    "superb",
    "fantastic",
    "delightful",
    "stunning",
    "fun",
    "strong",
    "smart",
    "masterful",
    "riveting",
    "heartfelt",
    "captivating",
    "hilarious",
    "witty",
    "gorgeous",
    "breathtaking",
    "compelling",
    "inventive",
    "thoughtful",
    "tender",
    "exhilarating",
    "luminous",
    "sharp",
    "elegant",
    "polished",
    "memorable",
    "magnificent",
    "spellbinding",
    "engaging",
    "refreshing",
    "touching",
    "powerful",
    "assured",
    "vibrant",
    "nuanced",
    "dazzling",
    "enchanting",
    "poignant",
    "sublime",
    "terrific",
    "lovely",
    "satisfying",
    "enjoyable",
    "rewarding",
    "intelligent",
    "fresh",
    "confident",
    "absorbing",
    "immersive",
    "rich",
    "layered",
    "stylish",
    "electric",
    "graceful",
    "joyous",
    "irresistible",
    "thrilling",
    "striking",
    "affecting",
]

NEG_ADJ = [
    "bad",
    "boring",
    "dull",
    "awful",
    "terrible",
    "weak",
    "predictable",
    "tedious",
    "flat",
    "messy",
    "lazy",
    "clumsy",
    "disappointing",
    "bland",
    "mediocre",
    "forgettable",
    "lifeless",
    "incoherent",
    "tiresome",
    "sluggish",
    "shallow",
    "wooden",
    "dreadful",
    "painful",
    "bloated",
    "pretentious",
    "uninspired",
    "stale",
    "contrived",
    "clich\u00e9d",
    "muddled",
    "grating",
    "hollow",
    "overlong",
    "amateurish",
    "laughable",
    "cheap",
    "sloppy",
    "joyless",
    "tone-deaf",
    "insipid",
    "derivative",
    "plodding",
    "confusing",
    "annoying",
    "ugly",
    "cringeworthy",
    "mind-numbing",
    "unwatchable",
    "poor",
    "horrible",
    "dreary",
    "limp",
    "soulless",
    "overwrought",
    "heavy-handed",
    "turgid",
    "na\u00efve",
    "tacky",
    "lackluster",
    "exhausting",
    "charmless",
    "humorless",
    "generic",
    "underwhelming",
]

# Degree words: polarity-neutral, safe before either kind of adjective.
INTENSIFIERS = [
    "very",
    "really",
    "truly",
    "remarkably",
    "incredibly",
    "genuinely",
    "utterly",
    "thoroughly",
    "absolutely",
    "deeply",
    "quite",
    "rather",
    "extraordinarily",
    "exceptionally",
    "consistently",
    "surprisingly",
    "unexpectedly",
    "simply",
    "so",
    "pretty",
    "altogether",
    "downright",
    "strikingly",
    "frankly",
    "endlessly",
    "often",
]
DOWNTONERS = ["a bit", "slightly", "somewhat", "a little", "fairly", "mostly", "largely"]

# (third person singular, base form)
POS_FILM_VERBS = [
    ("works", "work"),
    ("delivers", "deliver"),
    ("shines", "shine"),
    ("soars", "soar"),
    ("succeeds", "succeed"),
    ("sparkles", "sparkle"),
    ("excels", "excel"),
    ("triumphs", "triumph"),
    ("dazzles", "dazzle"),
    ("resonates", "resonate"),
    ("enthralls", "enthrall"),
    ("charms", "charm"),
    ("impresses", "impress"),
    ("satisfies", "satisfy"),
    ("lands", "land"),
    ("sings", "sing"),
    ("clicks", "click"),
]
NEG_FILM_VERBS = [
    ("drags", "drag"),
    ("fails", "fail"),
    ("flops", "flop"),
    ("falters", "falter"),
    ("stumbles", "stumble"),
    ("sputters", "sputter"),
    ("collapses", "collapse"),
    ("misfires", "misfire"),
    ("bores", "bore"),
    ("disappoints", "disappoint"),
    ("fizzles", "fizzle"),
    ("sinks", "sink"),
    ("grates", "grate"),
    ("meanders", "meander"),
    ("plods", "plod"),
    ("crumbles", "crumble"),
    ("stalls", "stall"),
]
VERB_TAILS = [
    "",
    "",
    "",
    "",
    " from start to finish",
    " in every scene",
    " on every level",
    " throughout",
    " for most of its runtime",
    " in the second half",
    " right from the opening credits",
]

# (past, base) with "I" / "we" / "my whole family" as the experiencer.
POS_EXP_VERBS = [
    ("loved", "love"),
    ("adored", "adore"),
    ("enjoyed", "enjoy"),
    ("admired", "admire"),
    ("relished", "relish"),
    ("cherished", "cherish"),
    ("savored", "savor"),
    ("treasured", "treasure"),
    ("was moved by", "be moved by"),
    ("was gripped by", "be gripped by"),
    ("was charmed by", "be charmed by"),
    ("was blown away by", "be blown away by"),
    ("fell in love with", "fall in love with"),
    ("laughed all the way through", "laugh all the way through"),
]
NEG_EXP_VERBS = [
    ("hated", "hate"),
    ("loathed", "loathe"),
    ("despised", "despise"),
    ("detested", "detest"),
    ("resented", "resent"),
    ("was bored by", "be bored by"),
    ("was annoyed by", "be annoyed by"),
    ("was irritated by", "be irritated by"),
    ("was put off by", "be put off by"),
    ("regretted watching", "regret watching"),
    ("dozed off during", "doze off during"),
    ("walked out of", "walk out of"),
    ("cringed through", "cringe through"),
]
# experiencer verbs that also read well with an aspect as object
ASPECT_OK_VERBS = {
    "loved",
    "adored",
    "enjoyed",
    "admired",
    "relished",
    "savored",
    "was moved by",
    "was charmed by",
    "was blown away by",
    "hated",
    "loathed",
    "despised",
    "detested",
    "was bored by",
    "was annoyed by",
    "was irritated by",
    "was put off by",
    "cringed through",
}
EXPERIENCERS = [
    "I",
    "I",
    "I",
    "we",
    "my partner",
    "my whole family",
    "the audience",
    "my friends",
    "everyone in the theater",
    "the kids",
]

POS_NOUNS = [
    "a masterpiece",
    "a triumph",
    "a gem",
    "a delight",
    "a joy",
    "a treat",
    "a knockout",
    "a crowd-pleaser",
    "a tour de force",
    "a revelation",
    "a must-see",
    "a winner",
    "a marvel",
    "a small miracle",
    "a real achievement",
    "a breath of fresh air",
    "an instant classic",
    "a pleasure",
]
NEG_NOUNS = [
    "a mess",
    "a disaster",
    "a bore",
    "a slog",
    "a letdown",
    "a misfire",
    "a dud",
    "a chore",
    "a failure",
    "a trainwreck",
    "a waste of time",
    "an embarrassment",
    "a snooze",
    "a fiasco",
    "a missed opportunity",
    "a cash grab",
    "a headache",
    "an ordeal",
]

POS_MANNER = [
    "beautifully",
    "brilliantly",
    "wonderfully",
    "expertly",
    "gracefully",
    "skillfully",
    "lovingly",
    "masterfully",
    "deftly",
    "confidently",
    "superbly",
    "elegantly",
    "thoughtfully",
    "tenderly",
]
NEG_MANNER = [
    "clumsily",
    "lazily",
    "poorly",
    "awkwardly",
    "sloppily",
    "carelessly",
    "badly",
    "haphazardly",
    "ineptly",
    "tediously",
    "crudely",
    "blandly",
    "woodenly",
    "shoddily",
]
PARTICIPLES = [
    "handled",
    "executed",
    "crafted",
    "shot",
    "written",
    "directed",
    "staged",
    "edited",
    "acted",
    "paced",
    "put together",
    "realized",
]

# Fixed recommendation phrases: (positive form, negative form) where the
# negative form is the positive one with a negation in it, and vice versa.
VERDICT_PAIRS = [
    ("I would recommend it to anyone", "I would not recommend it to anyone"),
    ("I would watch it again", "I would never watch it again"),
    ("it is worth the ticket price", "it is not worth the ticket price"),
    ("it is worth every penny", "it is not worth a single penny"),
    ("I would happily sit through it again", "I would not sit through it again"),
    ("you should see it", "you should not bother"),
    ("it deserves every award it gets", "it does not deserve the hype"),
    ("I was never bored", "I was never entertained"),
    ("it never loses steam", "it never finds its footing"),
    ("I could not look away", "I could not wait for it to end"),
    ("it lives up to the hype", "it does not live up to the hype"),
    ("I did not want it to end", "I did not care what happened next"),
    ("I cannot wait for the sequel", "I hope there is no sequel"),
]
POS_SHORT = [
    "Loved it",
    "Loved every minute",
    "A triumph",
    "Absolutely brilliant",
    "What a gem",
    "Highly recommended",
    "Simply wonderful",
    "Pure joy",
    "Go see it",
    "Two thumbs up",
    "An instant classic",
    "Stunning work",
    "Best film of the year",
    "Worth every minute",
    "A must-see",
    "Not bad at all",
    "Never boring",
    "Not a dull moment",
    "Could not fault it",
]
NEG_SHORT = [
    "Hated it",
    "Total waste of time",
    "What a mess",
    "Avoid",
    "Skip it",
    "Save your money",
    "Utterly dull",
    "Painfully boring",
    "A real letdown",
    "Worst film of the year",
    "Not worth it",
    "Not good at all",
    "Never again",
    "Not funny at all",
    "Could not finish it",
    "Two hours I will never get back",
    "Deeply disappointing",
    "Not for me",
]

# "despite X" / "even with X" noun phrases
POS_CONCESSION_NP = [
    "a strong cast",
    "gorgeous visuals",
    "a promising premise",
    "a lovely score",
    "some clever dialogue",
    "a charming lead",
    "a few great jokes",
    "stunning cinematography",
    "a brilliant opening scene",
    "its big budget",
    "some inventive camerawork",
    "a terrific villain",
]
NEG_CONCESSION_NP = [
    "a clunky script",
    "a slow start",
    "some rough edges",
    "a thin plot",
    "a few dull stretches",
    "a weak villain",
    "its modest budget",
    "some wooden acting",
    "an overlong runtime",
    "a predictable ending",
    "some sloppy editing",
    "a messy third act",
]

OPENERS = [
    "Honestly,",
    "To be fair,",
    "Frankly,",
    "In my opinion,",
    "For me,",
    "I have to say,",
    "Admittedly,",
    "Personally,",
    "For what it's worth,",
    "Truth be told,",
    "As far as I can tell,",
    "I think",
    "I guess",
    "Let me be clear:",
    "Well,",
    "OK,",
    "So,",
    "In short,",
]
CONTEXT_SENTENCES = [
    "I saw it at a caf\u00e9 screening downtown.",
    "I watched it on a rainy Sunday afternoon.",
    "My sister dragged me along to see it.",
    "We went to the late show on a Tuesday.",
    "It runs just over two hours.",
    "It is based on a novel I have not read.",
    "The story follows a na\u00efve young lawyer in a small town.",
    "It is set in Paris in the 1970s.",
    "It premiered at a festival last spring.",
    "The trailer gave away most of the story.",
    "It stars a mostly unknown cast.",
    "I caught it on a long flight.",
    "It is the second film from this director.",
    "The theater was half empty.",
    "I went in knowing nothing about it.",
    "It is loosely based on a true story.",
    "The premise gave me a sense of d\u00e9j\u00e0 vu.",
    "It is a remake of a Korean thriller.",
    "We streamed it at home with popcorn.",
    "It opens with a long tracking shot through a market.",
    "The plot centers on two brothers and a stolen painting.",
    "My expectations were fairly modest going in.",
    "It has been compared to the original a lot.",
    "I read the reviews after watching it.",
    "It is rated PG-13 and runs about ninety minutes.",
    "The film takes place over a single night \u2014 mostly in one apartment.",
]
VERDICT_MARKERS = [
    "Overall,",
    "In the end,",
    "All in all,",
    "Bottom line:",
    "On balance,",
    "Ultimately,",
    "Taken as a whole,",
    "When all is said and done,",
    "Still, overall,",
    "In sum,",
]
CONTRAST_CONNECTORS = [
    ", but ",
    ". But ",
    ", yet ",
    "; however, ",
    ". But ",
    ". Still, ",
    ". That said, ",
    ", but in the end ",
    " \u2014 but ",
    ", although in the end ",
]
CONCESSIVE_OPENERS = ["Although", "Though", "While", "Even though", "Even if"]

POS_EMOJI = ["\U0001f44d", "\u2764\ufe0f", "\U0001f60d", "\u2b50"]
NEG_EMOJI = ["\U0001f44e", "\U0001f634", "\U0001f612", "\U0001f480"]
NEUTRAL_EMOJI = ["\U0001f3ac", "\U0001f37f"]


# --------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------


class Grammar:
    """Builds clauses of a given polarity; ``negated`` clauses reach that
    polarity by negating a phrase of the opposite polarity."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._cum: dict[tuple[int, float], list[float]] = {}

    def pick(self, seq):
        return self.rng.choice(seq)

    def zpick(self, seq, s: float = ZIPF_S):
        """Pick with weight 1/(rank+1)**s: early items are common, late ones rare."""
        key = (len(seq), s)  # the weights depend only on the length and the skew
        cum = self._cum.get(key)
        if cum is None:
            cum, total = [], 0.0
            for i in range(len(seq)):
                total += 1.0 / (i + 1) ** s
                cum.append(total)
            self._cum[key] = cum
        return self.rng.choices(seq, cum_weights=cum)[0]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- pieces -------------------------------------------------------------
    def adj(self, pol: int) -> str:
        return self.zpick(POS_ADJ if pol == POS else NEG_ADJ)

    def subject(self, film_only: bool = False) -> tuple[str, bool]:
        if film_only or self.chance(0.45):
            return (self.pick(FILM_SUBJECTS + ["it", "it"]), False)
        return self.pick(ASPECTS)

    def be(self, plural: bool, subj: str) -> str:
        past = self.chance(0.35)
        if subj == "it" and not past and self.chance(0.4):
            return "'s"
        if plural:
            return "were" if past else "are"
        return "was" if past else "is"

    @staticmethod
    def join_be(subj: str, be: str) -> str:
        return f"{subj}{be}" if be.startswith("'") else f"{subj} {be}"

    def degree(self, pol: int) -> str:
        r = self.rng.random()
        if r < 0.45:
            return ""
        if r < 0.9 or pol == POS:
            return self.zpick(INTENSIFIERS) + " "
        return self.pick(DOWNTONERS) + " "

    # -- clause types ---------------------------------------------------------
    def copula(self, pol: int, negated: bool) -> str:
        subj, plural = self.subject()
        be = self.be(plural, subj)
        if not negated:
            adj = self.adj(pol)
            second = ""
            if self.chance(0.2):
                second = f" and {self.adj(pol)}"
            verb = self.pick(["", "", "", "feels", "seems", "looks"]) if be in ("is", "are") else ""
            if verb:
                if plural:
                    verb = verb[:-1]
                return f"{subj} {verb} {self.degree(pol)}{adj}{second}"
            return f"{self.join_be(subj, be)} {self.degree(pol)}{adj}{second}"
        adj = self.adj(-pol)
        neg = self.zpick(
            [
                "not",
                "never",
                "not very",
                "hardly",
                "not at all",
                "far from",
                "not particularly",
                "anything but",
                "not remotely",
                "by no means",
                "in no way",
            ],
            1.5,
        )
        if neg == "not" and be in ("is", "are", "was", "were") and self.chance(0.4):
            be = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't"}[be]
            return f"{subj} {be} {adj}"
        if neg == "not at all":
            return f"{self.join_be(subj, be)} not {adj} at all"
        return f"{self.join_be(subj, be)} {neg} {adj}"

    def film_verb(self, pol: int, negated: bool) -> str:
        subj, plural = self.subject()
        verbs = POS_FILM_VERBS if (pol == POS) != negated else NEG_FILM_VERBS
        third, base = self.zpick(verbs)
        tail = self.pick(VERB_TAILS)
        if not negated:
            v = base if plural else third
            adv = self.pick(["", "", "", "really ", "truly ", "genuinely ", "simply ", "mostly "])
            return f"{subj} {adv}{v}{tail}"
        form = self.rng.randrange(4)
        if form == 0:
            aux = "do not" if plural else "does not"
            return f"{subj} {aux} {base}{tail}"
        if form == 1:
            aux = "don't" if plural else "doesn't"
            return f"{subj} {aux} {base}{tail}"
        if form == 2:
            return f"{subj} never {base if plural else third}{tail}"
        return (
            f"{subj} {self.pick(['rarely', 'hardly ever', 'seldom'])} {base if plural else third}"
        )

    def experience(self, pol: int, negated: bool) -> str:
        who = self.pick(EXPERIENCERS)
        verbs = POS_EXP_VERBS if (pol == POS) != negated else NEG_EXP_VERBS
        past, base = self.zpick(verbs)
        if self.chance(0.5):
            obj = "it"
        elif past in ASPECT_OK_VERBS and self.chance(0.6):
            obj = self.pick(ASPECTS)[0]
        else:
            obj = self.pick(FILM_SUBJECTS)
        if not negated:
            adv = self.pick(
                ["", "", "", "really ", "absolutely ", "truly ", "genuinely ", "completely "]
            )
            if past.startswith("was "):
                if who in ("we", "my friends", "the kids"):
                    past = "were " + past[4:]
                adv = adv if adv in ("", "completely ", "really ", "truly ", "genuinely ") else ""
                return f"{who} {past.split(' ', 1)[0]} {adv}{past.split(' ', 1)[1]} {obj}"
            return f"{who} {adv}{past} {obj}"
        if past.startswith("was "):
            was = "were" if who in ("we", "my friends", "the kids") else "was"
            neg = self.pick(["not", "never", "not at all", "hardly"])
            if neg == "not at all":
                return f"{who} {was} not at all {past[4:]} {obj}"
            return f"{who} {was} {neg} {past[4:]} {obj}"
        form = self.rng.randrange(4)
        if form == 0:
            return f"{who} did not {base} {obj}"
        if form == 1:
            return f"{who} didn't {base} {obj}"
        if form == 2:
            return f"{who} never {past} {obj}"
        return (
            f"{who} could not bring "
            f"{'myself' if who == 'I' else 'ourselves' if who == 'we' else 'themselves'} "
            f"to {base} {obj}"
        )

    def noun(self, pol: int, negated: bool) -> str:
        subj = self.pick(FILM_SUBJECTS + ["it", "it", "it"])
        be = self.be(False, subj)
        if not negated:
            n = self.zpick(POS_NOUNS if pol == POS else NEG_NOUNS)
            pre = self.pick(["", "", "", "nothing less than ", "easily ", "simply "])
            return f"{self.join_be(subj, be)} {pre}{n}"
        n = self.zpick(NEG_NOUNS if pol == POS else POS_NOUNS)
        neg = self.zpick(["not", "never", "hardly", "far from", "anything but", "by no means"], 1.5)
        return f"{self.join_be(subj, be)} {neg} {n}"

    def manner(self, pol: int, negated: bool) -> str:
        # Negating a manner adverb reads badly, so this clause is never negated.
        subj, plural = self.pick(ASPECTS) if self.chance(0.7) else (self.pick(FILM_SUBJECTS), False)
        be = ("were" if plural else "was") if self.chance(0.4) else ("are" if plural else "is")
        adv = self.zpick(POS_MANNER if pol == POS else NEG_MANNER)
        return f"{subj} {be} {adv} {self.pick(PARTICIPLES)}"

    def verdict(self, pol: int, negated: bool) -> str:
        pos_form, neg_form = self.pick(VERDICT_PAIRS)
        return pos_form if pol == POS else neg_form

    def clause(self, pol: int, negated: bool | None = None) -> str:
        if negated is None:
            negated = self.chance(0.1)
        kinds = [self.copula] * 6 + [self.film_verb] * 2 + [self.experience] * 2 + [self.noun] * 2
        if not negated:
            kinds += [self.manner]
        kinds += [self.verdict]
        return self.pick(kinds)(pol, negated)

    # -- whole reviews ----------------------------------------------------------
    def end(self, pol: int) -> str:
        r = self.rng.random()
        if r < 0.78:
            return "."
        if r < 0.9:
            return "!"
        if r < 0.96:
            return "..."
        return "!!" if pol == POS else "."

    def opener(self) -> str:
        return self.pick(OPENERS) + " " if self.chance(0.2) else ""

    def r_simple(self, pol: int) -> str:
        s = self.opener() + self.clause(pol, negated=False)
        if self.chance(0.25):
            s += f" and {self.clause(pol, negated=False)}"
        return s + self.end(pol)

    def r_negated(self, pol: int) -> str:
        s = self.opener() + self.clause(pol, negated=True)
        if self.chance(0.2):
            s = f"{s} \u2014 {self.clause(pol, negated=False)}"
        return s + self.end(pol)

    def r_contrast(self, pol: int) -> str:
        """The clause after the connector carries the label; the first clause
        carries the opposite sentiment."""
        first = self.clause(-pol, negated=False)
        second = self.clause(pol)
        conn = self.zpick(CONTRAST_CONNECTORS, 1.0)
        return self.opener() + first + conn + second + self.end(pol)

    def r_concessive(self, pol: int) -> str:
        """Subordinate clause (opposite sentiment) plus main clause (label),
        in either order."""
        form = self.rng.randrange(5)
        if form == 0:
            sub = self.clause(-pol, negated=False)
            return f"{self.pick(CONCESSIVE_OPENERS)} {sub}, {self.clause(pol)}{self.end(pol)}"
        if form == 1:
            sub = self.clause(-pol, negated=False)
            return (
                f"{self.clause(pol)}, "
                f"{self.pick(['even though', 'although', 'though', 'even if'])} "
                f"{sub}{self.end(pol)}"
            )
        if form == 2:
            np_ = self.pick(NEG_CONCESSION_NP if pol == POS else POS_CONCESSION_NP)
            prep = self.pick(["Despite", "In spite of", "Even with"])
            return f"{prep} {np_}, {self.clause(pol)}{self.end(pol)}"
        if form == 3:
            np_ = self.pick(NEG_CONCESSION_NP if pol == POS else POS_CONCESSION_NP)
            prep = self.pick(["despite", "in spite of", "even with"])
            return f"{self.clause(pol)} {prep} {np_}{self.end(pol)}"
        # "not only ... but also": both halves share the label
        subj, plural = self.pick(ASPECTS)
        be = "are" if plural else "is"
        subj2, plural2 = self.pick(ASPECTS)
        be2 = "are" if plural2 else "is"
        return (
            f"Not only {be} {subj} {self.adj(pol)}, but {subj2} {be2} also "
            f"{self.adj(pol)}{self.end(pol)}"
        )

    def r_multi(self, pol: int) -> str:
        sentences = []
        if self.chance(0.6):
            sentences.append(self.pick(CONTEXT_SENTENCES))
        for _ in range(self.rng.randint(1, 3)):
            p = pol if self.chance(0.8) else -pol
            sentences.append(cap(self.clause(p)) + ".")
        marker = self.pick(VERDICT_MARKERS)
        last = f"{marker} {self.clause(pol)}{self.end(pol)}"
        sentences.append(cap(last))
        return " ".join(sentences)

    def r_short(self, pol: int) -> str:
        s = self.pick(POS_SHORT if pol == POS else NEG_SHORT)
        return s + self.pick([".", "!", "!", "...", "."])

    def r_context(self, pol: int) -> str:
        """A neutral context sentence plus one or two opinion sentences."""
        builder = self.pick(
            [self.r_simple, self.r_simple, self.r_negated, self.r_contrast, self.r_concessive]
        )
        body = cap(builder(pol))
        ctx = self.pick(CONTEXT_SENTENCES)
        return f"{ctx} {body}" if self.chance(0.7) else f"{body} {ctx}"

    def review(self, pol: int) -> str:
        builders = (
            [self.r_simple] * 48
            + [self.r_negated] * 15
            + [self.r_contrast] * 11
            + [self.r_concessive] * 7
            + [self.r_multi] * 7
            + [self.r_context] * 7
            + [self.r_short] * 5
        )
        text = cap(self.pick(builders)(pol))
        r = self.rng.random()
        if r < 0.025:
            text += " " + self.pick(POS_EMOJI if pol == POS else NEG_EMOJI)
        elif r < 0.035:
            text += " " + self.pick(NEUTRAL_EMOJI)
        return text


def cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def generate(seed: int = SEED) -> list[tuple[str, str]]:
    """Return the rows (text, label) in file order."""
    rng = random.Random(seed)
    g = Grammar(rng)
    seen: set[str] = set()
    rows: list[tuple[str, int]] = []
    for pol in (POS, NEG):
        made = 0
        while made < N_PER_CLASS:
            text = g.review(pol)
            n = len(text.split())
            if not (MIN_WORDS <= n <= MAX_WORDS) or text.lower() in seen:
                continue
            seen.add(text.lower())
            rows.append((text, pol))
            made += 1
    # Label noise: flip exactly NOISE_PER_CLASS rows of each class.
    pos_idx = [i for i, (_, p) in enumerate(rows) if p == POS]
    neg_idx = [i for i, (_, p) in enumerate(rows) if p == NEG]
    flip = set(rng.sample(pos_idx, NOISE_PER_CLASS)) | set(rng.sample(neg_idx, NOISE_PER_CLASS))
    labelled = []
    for i, (text, pol) in enumerate(rows):
        if i in flip:
            pol = -pol
        labelled.append((text, "positive" if pol == POS else "negative"))
    rng.shuffle(labelled)
    for text, _ in labelled:
        assert "\t" not in text and "\n" not in text and "\r" not in text and '"' not in text, text
    return labelled


def render(rows: list[tuple[str, str]]) -> bytes:
    lines = ["text\tlabel"] + [f"{text}\t{label}" for text, label in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    return generator_main(
        argv,
        __doc__,
        OUT_PATH,
        lambda: render(generate()),
        lambda data: f"{len(data.splitlines()) - 1} rows",
    )


if __name__ == "__main__":
    sys.exit(main())
