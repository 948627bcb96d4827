"""Generate ``play.txt``, the project's own small stage-play corpus for character-level
language models.

Why this file exists
--------------------
The character-level examples and tests need a text corpus that is always there:
no download, no network, no third-party licence to check.  Rather than ship an
excerpt of a public corpus (tiny-shakespeare and the like), the project writes
its own, with this script, from a template grammar.  The output is committed
in the package (``nlp_lstm/samples/play.txt``); this script is what
regenerates it.

What it generates
-----------------
An ASCII text file of about 180 KB (some 1800 speeches) laid out like
tiny-shakespeare: an invented five-act play about a lost silver key, in blocks
of ``NAME:`` on its own line followed by one to four lines of speech, blocks
separated by one blank line::

    DUKE HAVERICK:
    I cannot say. We must to the market by sunset; there
    Is love in this, and mercy too. Look to the silver
    Key, and to Meribel. Where is Rosamel?

    FALCONET:
    She is gone to the north wall, your grace.
    Away! 'Tis a sweet gate, and an idle night. I
    Ne'er saw a hollow storm till now.

Each act opens with an ``ACT I`` block and each scene with a ``SCENE II. <place>.``
block.  Eight recurring characters speak (``CHARACTERS``); two to four of them
are on stage in a scene, and a speaker never follows themself.

The speeches come from a template grammar (``RULES``) with a few hundred words:
greetings, questions, answers, exclamations, statements, oaths, farewells and
stage-like commands ("Peace! Here comes Meribel.").  It is built to be varied
but learnable by a small model:

* structure a character model can pick up quickly: capitalised speaker names
  followed by a colon, a blank line between blocks, verse-like lines that
  start with a capital letter and wrap at 40 to 60 characters;
* agreement across sentences and speeches: a question sets a state ("Where is
  Meribel?") and the next speaker usually answers it with the matching kind of
  reply and pronoun ("She is gone to the orchard, my lord."); vocatives name a
  character who is on stage; scenes tend to open with greetings and close with
  farewells;
* recurring phrases and motifs ("the silver key", "by the old moon", "before
  the bell tolls twelve", "Mark me well"), so some long strings repeat often;
* punctuation ``, ; : ! ? '`` and archaic contractions ('tis, ne'er, o'er).

Only ASCII characters are used (57 distinct ones; unigram entropy about 4.9
bits per character).  The size is chosen so that a tiny character LSTM can
train on the whole file in about a minute on a CPU.  The sentences are
grammatical but often nonsense ("Why should I break the cloak?"): what is
learnable is the form, not the plot.  Generation uses only the standard
library and one ``random.Random(SEED)``, so every run writes the same bytes.

Regenerate it from the repository root with::

    python tools/samples/make_play.py

``--out PATH`` writes somewhere else; ``--check`` regenerates in memory and
exits non-zero if the committed file differs.
"""

from __future__ import annotations

import random
import re
import sys
import textwrap
from pathlib import Path

from generator_cli import generator_main

SEED = 20240612
N_ACTS = 5
TARGET_BYTES = 175_000  # the play stops at the end of the first scene past this size
MAX_LINES = 4  # lines of speech per block
# The script lives in tools/samples/ (not installed); the data it writes ships in the package.
OUT_PATH = Path(__file__).resolve().parents[2] / "nlp_lstm" / "samples" / "play.txt"

# --------------------------------------------------------------------------
# Characters
# --------------------------------------------------------------------------

# speaker tag -> (how others name them, pronoun he/she, vocatives used by others, weight);
# a speaker names themself by the last word of the tag ("Haverick", "Tobias").
CHARACTERS = {
    "DUKE HAVERICK": (
        "the duke",
        "he",
        ["my lord", "good my lord", "your grace", "my lord duke"],
        3,
    ),
    "ROSAMEL": ("Rosamel", "she", ["Rosamel", "lady", "sweet Rosamel", "fair Rosamel"], 5),
    "ALDREDO": ("Aldredo", "he", ["Aldredo", "sir", "good Aldredo", "cousin"], 5),
    "MERIBEL": ("Meribel", "she", ["Meribel", "lady", "gentle Meribel", "mistress"], 4),
    "FALCONET": ("Falconet", "he", ["Falconet", "sir", "good Falconet", "captain"], 4),
    "ISOLDINE": ("Isoldine", "she", ["Isoldine", "madam", "good Isoldine", "aunt"], 3),
    "GRUMWELL": ("Grumwell", "he", ["Grumwell", "sirrah", "knave", "good Grumwell"], 4),
    "OLD TOBIAS": ("Tobias", "he", ["Tobias", "old man", "father", "good Tobias"], 3),
}
PRONOUNS = {"he": ("he", "him", "his"), "she": ("she", "her", "her")}

SETTINGS = [
    "A room in the duke's palace",
    "The orchard",
    "A street in Castelmoor",
    "Before the tower",
    "The harbour, at night",
    "The great hall",
    "A chapel by the river",
    "The north wall",
    "Rosamel's chamber",
    "A tavern near the market",
    "The garden, by moonlight",
    "The river gate",
    "A road outside the town",
    "The same; later",
]

# --------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------
# Each rule is a list of alternatives; repeat an alternative to weight it.
# ``{slot}`` expands a rule or a context value; ``{Slot}`` does the same and
# capitalises the first letter.  Context slots, filled per speech:
#   addr   a vocative for the listener        self   the speaker's name
#   other  another character's name           opron/oobj/oposs  their pronouns
#   qname, qpron, qobj, qposs   the character a "where" question asked about

RULES: dict[str, list[str]] = {
    # -- words --------------------------------------------------------------
    "item": [  # things one can carry, keep, steal or lose
        "letter",
        "ring",
        "sword",
        "purse",
        "lantern",
        "seal",
        "portrait",
        "crown",
        "candle",
        "cup",
        "cloak",
        "old map",
        "silver key",
        "silver key",
        "silver key",
        "silver key",
    ],
    "noun": [
        "{item}",
        "{item}",
        "{item}",
        "horse",
        "garden",
        "tower",
        "river",
        "moon",
        "storm",
        "feast",
        "bell",
        "gate",
        "ship",
        "wedding",
        "quarrel",
        "oath",
        "banner",
        "night",
    ],
    "thing": [  # abstract nouns, no article
        "love",
        "grief",
        "honour",
        "fortune",
        "mercy",
        "patience",
        "envy",
        "courage",
        "shame",
        "hope",
        "anger",
        "sorrow",
        "joy",
        "treason",
    ],
    "adj": [
        "fair",
        "foul",
        "sweet",
        "bitter",
        "cold",
        "gentle",
        "proud",
        "heavy",
        "strange",
        "true",
        "false",
        "noble",
        "idle",
        "weary",
        "merry",
        "wicked",
        "honest",
        "pale",
        "dark",
        "bright",
        "sad",
        "wild",
        "quiet",
        "cruel",
        "kind",
        "old",
        "young",
        "hollow",
        "golden",
        "stubborn",
    ],
    "mood": [
        "sad",
        "merry",
        "pale",
        "heavy",
        "strange",
        "weary",
        "troubled",
        "quiet",
        "angry",
        "glad",
        "idle",
        "cold",
    ],
    "verb": [
        "find",
        "keep",
        "seek",
        "bring",
        "break",
        "mend",
        "follow",
        "watch",
        "guard",
        "trust",
        "answer",
        "forgive",
        "carry",
        "open",
        "hide",
        "burn",
        "sell",
        "steal",
        "bury",
        "mark",
        "fetch",
        "lose",
    ],
    "pverb": ["find", "follow", "watch", "trust", "answer", "forgive", "seek", "warn"],
    "pp": [
        "found",
        "kept",
        "sought",
        "brought",
        "broken",
        "mended",
        "followed",
        "watched",
        "guarded",
        "answered",
        "carried",
        "opened",
        "hidden",
        "burned",
        "sold",
        "stolen",
        "stolen",
        "lost",
        "lost",
        "buried",
        "taken",
    ],
    "place": [
        "the orchard",
        "the tower",
        "the chapel",
        "the market",
        "the river gate",
        "the north wall",
        "the duke's hall",
        "the harbour",
        "Castelmoor",
        "Belhaven",
        "the garden",
        "the tavern",
        "the old mill",
        "the court",
    ],
    "time": [
        "tonight",
        "ere morning",
        "before the bell tolls twelve",
        "before the bell tolls twelve",
        "by sunset",
        "within this hour",
        "tomorrow at dawn",
        "this very night",
        "ere the moon is up",
    ],
    "oath": [
        "By the old moon",
        "By the old moon",
        "Upon my life",
        "On my honour",
        "By this hand",
        "As the river runs",
        "By my faith",
    ],
    "door": ["gate", "gate", "door", "river gate", "tower door"],
    "insult": ["rogue", "villain", "knave", "fool", "dog", "rascal", "thief"],
    "exclaim": [
        "Alas!",
        "Fie, fie!",
        "O me!",
        "Away!",
        "Hark! the bell.",
        "Peace, I say!",
        "Heaven forbid!",
        "Ha! ha!",
        "What, ho!",
        "O strange!",
        "Soft! who comes?",
        "Out, out, you {insult}!",
        "Alas, poor heart!",
        "O {adj} {thing}!",
        "Away, away!",
        "Enough!",
    ],
    # -- clauses (no final punctuation) -------------------------------------
    "clause": [
        "the {noun} is {adj}, and the {noun} is {adj}",
        "I will {verb} the {item} {time}",
        "let us {verb} the {item}, for the night grows {adj}",
        "my heart is {mood}; my {item} is {pp}",
        "the silver key is {pp}, and {other} knows it",
        "{other} hath {pp} the {item}",
        "'tis a {adj} {noun}, and a {adj} night",
        "I have {pp} the {item}, and I am {mood} for it",
        "{thing} is a {adj} thing, and {thing} is {adj}",
        "the {item} was {pp} at {place}",
        "there is {thing} in this, and {thing} too",
        "I'll not {verb} the {item}, nor {verb} it neither",
        "you are as {adj} as the {noun}",
        "{other} loves you not",
        "we must to {place} {time}",
        "the duke will {verb} the {item} {time}",
        "I ne'er saw a {adj} {noun} till now",
        "o'er {place} the moon is {adj}",
    ],
    # -- sentences ------------------------------------------------------------
    "statement": [
        "{Clause}.",
        "{Clause}.",
        "{Clause}.",
        "{Clause}.",
        "{Clause}; {clause}.",
        "Hear me: {clause}.",
        "Mark me well, {addr}: {clause}.",
        "{Oath}, {clause}.",
        "{Oath}, I will {pverb} {other} {time}.",
        "I will {pverb} {other} {time}, and tell {oobj} all.",
        "{Other} is {mood}; I saw it in {oposs} face.",
        "{Other} is {mood}, and {opron} knows not why.",
        "I would I had not seen the {noun}.",
        "O {adj} {noun}, that thou shouldst be so {adj}!",
        "Thou art {adj} as the {noun}, {addr}.",
        "{Other} hath {pp} the {item}; I would I had not seen it.",
        "I came; I waited; none came.",
        "'Tis {adj}, 'tis {adj}, and yet 'tis {thing}.",
        "{Thing} and {thing}, {addr}: no more.",
        "So {adj} a night I have not seen.",
    ],
    "command": [
        "Come, {addr}, let us go in.",
        "Go, fetch me the silver key.",
        "Peace! Here comes {other}.",
        "Bring lights, and call {other} hither.",
        "Stand, and name yourself!",
        "Go in, and bolt the {door}.",
        "Follow me, and say nothing.",
        "Leave us, {addr}.",
        "Look to the {item}, and to {other}.",
        "Take this {item}, and guard it well.",
    ],
    "greeting": [
        "Good morrow, {addr}.",
        "Good even, {addr}.",
        "Well met, {addr}! I have sought you this hour.",
        "Hail, {addr}, and welcome home.",
        "God give you good day, {addr}.",
        "How now, {addr}!",
        "Welcome, {addr}; you come in good time.",
    ],
    "farewell": [
        "Farewell, {addr}.",
        "Adieu; we meet {time}.",
        "Good night, {addr}.",
        "Come, let us go in.",
        "Away, and speak of this to none.",
        "I'll to {place}. Farewell.",
        "Let us part, then, and meet {time}.",
    ],
    # -- questions, by kind, and the answers that fit them -------------------
    "q_where": [
        "Where is {qname}?",
        "Where is {qname}, {addr}?",
        "Saw you {qname} today?",
        "Where hath {qname} gone?",
    ],
    "a_where": [
        "{Qpron} is gone to {place}, {addr}.",
        "I saw {qobj} by {place} an hour since.",
        "I know not; ask {other}.",
        "Within, {addr}; {qpron} would see no one.",
        "At {place}, with the silver key in {qposs} hand.",
        "{Qpron} went out {time2} and came not back.",
    ],
    "time2": ["at dawn", "at noon", "at dusk", "last night", "this morning"],
    "q_news": [
        "What news from {place}?",
        "What news, {addr}?",
        "What news of the {item}?",
    ],
    "a_news": [
        "Ill news, {addr}: the {item} is {pp}.",
        "Good news! {Other} hath {pp} the {item}.",
        "None, {addr}, but that the {item} is {pp}.",
        "Strange news: {clause}.",
        "The worst: the silver key is lost.",
    ],
    "q_yesno": [
        "Is it true that {other} hath {pp} the {item}?",
        "Will you {verb} the {item} for me?",
        "Shall we to {place}?",
        "Dost thou love {other}?",
        "Is the {item} {pp}?",
        "Will you swear it, {addr}?",
    ],
    "a_yesno": [
        "Ay, {addr}, and gladly.",
        "Ay, {addr}.",
        "Ay; {clause}.",
        "No, by the old moon, I will not.",
        "No, {addr}.",
        "Not I, {addr}.",
        "Perhaps; but not {time}.",
        "I cannot say.",
    ],
    "q_why": [
        "Why do you look so {mood}, {addr}?",
        "Why should I {verb} the {item}?",
        "Why came you not {time2}?",
    ],
    "a_why": [
        "Because the {item} is {pp}, and my heart with it.",
        "Ask me not why; I cannot tell.",
        "For that {other} hath {pp} the {item}.",
        "Because I am {mood}, {addr}, and there's an end.",
    ],
    "q_who": ["Who goes there?", "Who's there?"],
    "a_who": [
        "A friend! 'Tis I, {self}.",
        "A friend to the duke.",
        "{Self}, {addr}; put up your sword.",
        "No one, {addr}; the wind.",
    ],
}
QUESTION_KINDS = ["where", "news", "yesno", "yesno", "why"]  # "who" only opens a scene

_SLOT = re.compile(r"\{(\w+)\}")
_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU]|hon)")


def cap(s: str) -> str:
    """Upper-case the first letter, looking past a leading apostrophe ('tis)."""
    i = 1 if s[:1] == "'" else 0
    return s[:i] + s[i : i + 1].upper() + s[i + 1 :]


class Grammar:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def expand(self, sym: str, ctx: dict[str, str]) -> str:
        key = sym[:1].lower() + sym[1:]
        if key in ctx:
            out = ctx[key]
        else:
            template = self.rng.choice(RULES[key])
            out = _SLOT.sub(lambda m: self.expand(m.group(1), ctx), template)
        return cap(out) if sym[:1].isupper() else out

    def sentence(self, sym: str, ctx: dict[str, str]) -> str:
        return _ARTICLE.sub(r"\1n ", cap(self.expand(sym, ctx)))


# --------------------------------------------------------------------------
# The play
# --------------------------------------------------------------------------


def roman(n: int) -> str:
    out = ""
    for value, digits in ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out += digits
            n -= value
    return out


class Play:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.g = Grammar(self.rng)
        self.tags = list(CHARACTERS)
        self.weights = [CHARACTERS[t][3] for t in self.tags]

    def context(self, speaker: str, listener: str, question: dict | None) -> dict[str, str]:
        others = [t for t in self.tags if t not in (speaker, listener)]
        about = (
            question["about"]
            if question and question["kind"] == "where"
            else self.rng.choice(others)
        )
        other = self.rng.choice([t for t in others if t != about])
        name, pron, _, _ = CHARACTERS[other]
        subj, obj, poss = PRONOUNS[pron]
        ctx = {
            "addr": self.rng.choice(CHARACTERS[listener][2]),
            "self": speaker.split()[-1].title(),
            "other": name,
            "opron": subj,
            "oobj": obj,
            "oposs": poss,
        }
        qname, qpron, _, _ = CHARACTERS[about]
        ctx.update(zip(("qpron", "qobj", "qposs"), PRONOUNS[qpron]))
        ctx["qname"] = qname
        ctx["_about"] = about
        return ctx

    def speech(
        self, speaker: str, listener: str, question: dict | None, first: bool, last: bool
    ) -> tuple[list[str], dict | None]:
        """Return the lines of one speech and the question it leaves open, if any."""
        rng, g = self.rng, self.g
        ctx = self.context(speaker, listener, question)
        parts: list[tuple[str, dict | None]] = []
        if question and rng.random() < 0.85:
            parts.append((g.sentence("a_" + question["kind"], ctx), None))
        elif first and rng.random() < 0.7:
            parts.append((g.sentence("greeting", ctx), None))
        if rng.random() < 0.12:
            parts.append((g.sentence("exclaim", ctx), None))
        for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 3])):
            parts.append((g.sentence(rng.choice(["statement"] * 4 + ["command"]), ctx), None))
        if last:
            parts.append((g.sentence("farewell", ctx), None))
        elif rng.random() < 0.45:
            kind = rng.choice(QUESTION_KINDS + (["who"] if first else []))
            parts.append((g.sentence("q_" + kind, ctx), {"kind": kind, "about": ctx["_about"]}))
        if not parts:
            parts.append((g.sentence("statement", ctx), None))
        width = rng.randint(40, 60)
        while True:
            text = " ".join(p for p, _ in parts)
            lines = [cap(line) for line in textwrap.wrap(text, width=width)]
            if len(lines) <= MAX_LINES or len(parts) == 1:
                break
            parts.pop()
        assert 1 <= len(lines) <= MAX_LINES, lines
        return lines, parts[-1][1]

    def scene(self) -> list[str]:
        rng = self.rng
        n_on = rng.choice([2, 2, 3, 3, 3, 4])
        on: list[str] = []
        while len(on) < n_on:
            tag = rng.choices(self.tags, weights=self.weights)[0]
            if tag not in on:
                on.append(tag)
        n_speeches = rng.randint(30, 80)
        blocks: list[str] = []
        speaker, listener, question = None, rng.choice(on), None
        for i in range(n_speeches):
            if speaker is not None and (question or rng.random() < 0.75):
                nxt = listener  # the one spoken to answers, always so if asked
            else:
                nxt = rng.choice([t for t in on if t != speaker])
            speaker, prev = nxt, speaker
            if prev is not None and (question or rng.random() < 0.7):
                listener = prev
            else:
                listener = rng.choice([t for t in on if t != speaker])
            lines, question = self.speech(
                speaker, listener, question, first=i < 2, last=i == n_speeches - 1
            )
            # speaker tags are the only all-capital lines ending in ':'
            assert not any(re.fullmatch(r"[A-Z ]+:", line) for line in lines), lines
            blocks.append(speaker + ":\n" + "\n".join(lines))
        return blocks

    def generate(self) -> str:
        blocks: list[str] = []
        size = 0
        for act in range(1, N_ACTS + 1):
            blocks.append(f"ACT {roman(act)}")
            n_scene = 0
            while n_scene == 0 or size < TARGET_BYTES * act / N_ACTS:
                n_scene += 1
                blocks.append(f"SCENE {roman(n_scene)}. {self.rng.choice(SETTINGS)}.")
                for block in self.scene():
                    blocks.append(block)
                    size += len(block) + 2
        return "\n\n".join(blocks) + "\n"


def render(text: str) -> bytes:
    data = text.encode("ascii")  # raises if a non-ASCII character slipped in
    assert "\r" not in text and "\t" not in text and "\n\n\n" not in text
    return data


def main(argv: list[str] | None = None) -> int:
    return generator_main(
        argv,
        # The docstring's first paragraph as one line (generator_main describes the script by its
        # first line).
        " ".join(__doc__.split("\n\n", 1)[0].split()),
        OUT_PATH,
        lambda: render(Play().generate()),
        lambda data: f"{len(re.findall(rb'^[A-Z][A-Z ]+:$', data, re.M))} speeches",
    )


if __name__ == "__main__":
    sys.exit(main())
