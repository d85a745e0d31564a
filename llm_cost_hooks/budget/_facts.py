"""What the user said, in few tokens: rule-based extraction of the facts in chat messages.

When old turns must leave the context, the user's constraints in them (numbers, dates,
times, names, places, amounts, choices, negations) should not leave with them. A
message is cut into clauses; each clause keeps its content words and the short words
that tie a value to what it refers to ("in east", "for 4 people", "not spicy") and drops
pleasantries, pronouns and auxiliaries. The clauses read like telegram notes:

>>> extract_facts("Hi! I need a table for 4 people at 19:30 on Friday, somewhere in the centre please.")
['table for 4 people at 19:30 on Friday', 'somewhere in centre']

Plain English rules, no model and no per-dataset vocabulary; other languages keep
their words (nothing is recognised as filler) and so are shortened less.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Fact", "extract_facts", "fact_clauses"]

# Function words that carry no constraint on their own. Prepositions and negations are
# not here: they say what a value refers to ("from Cambridge", "not before 9").
_FILLER = frozenset(
    """
a an the this that these those it its it's i i'm i'd i'll i've me my mine myself we we're we'd we'll us our ours
you you're you'd you'll your yours he she him her his they them their there here
is are was were be been being am do does did doing done have has had having will would shall should
can could may might must ought 's 're 've 'd 'll 'm
and but so then also just really very quite actually maybe perhaps please thanks thank thx cheers
hi hello hey ok okay yes yeah yep sure great good fine cool awesome alright right well oh um uh hmm
bye goodbye welcome sorry excuse perfect excellent wonderful lovely nice sounds appreciate appreciated
need needs want wants wanted like liked looking look find get got help let lets let's tell know think guess
wondering wonder interested trying try going gonna able
what which who whom whose when where why how whether if as than too
some any anything something everything all
""".split()
)
_NEGATIONS = frozenset({"not", "no", "never", "without", "none", "nor", "nothing", "n't"})
_NEGATED = re.compile(
    r"^(?:do|does|did|is|are|was|were|can|could|would|should|won|wo|have|has|had|ai)n[’']t$", re.I
)
_LINKS = frozenset(
    """
in at on for from to after before by near around between under over until till within within per with
about of into via than since during off out up down or
""".split()
)
_WEEKDAYS_MONTHS = frozenset(
    """
monday tuesday wednesday thursday friday saturday sunday today tonight tomorrow yesterday weekend
january february march april may june july august september october november december
""".split()
)
_NUMBER_WORDS = frozenset(
    """
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million
first second third fourth fifth half quarter dozen single double twin
""".split()
)
_WORD = re.compile(
    r"[$€£¥]\s?\d(?:[\d,.]*\d)?[kKmM]?"  # amounts
    r"|\d(?:[\w,.:/-]*\w)?(?:\s?(?:am|pm)\b|%)?"  # numbers, times, dates, codes starting with a digit
    r"|[’'][A-Za-z]{1,2}\b"  # split contractions ("I 'm", "you 'd")
    r"|[^\W\d_][\w’'@.-]*\w|[^\W\d_]"  # words (with inner ' . - @: emails, o'clock)
    r"|n[’']t"  # split negations ("does n't")
)
_INTERJECTION = re.compile(r"^(?:u+m+|h+m+|u+h+|a+h+|o+h+|e+r+m*|w+o+w+)$")
_CLAUSE = re.compile(r"[.!?;\n]+(?:\s|$)|\s?,\s+(?:and\s+|but\s+|or\s+|so\s+)?|\s+but\s+")
_PHRASES = re.compile(r"\b(?:as long as|as well as|in order to|at all)\b", re.I)


@dataclass(frozen=True)
class Fact:
    """One clause of kept words; ``strong`` when it holds a number, a date or time, a
    name or another value that is easy to lose (see :func:`fact_clauses`).

    >>> fact_clauses("Book a table for 4 at 19:30 on Friday, please.")
    [Fact(text='Book table for 4 at 19:30 on Friday', strong=True)]
    """

    text: str
    strong: bool


def _is_value(word: str, first: bool) -> bool:
    low = word.lower()
    if any(ch.isdigit() for ch in word) or word[0] in "$€£¥":
        return True
    if low in _WEEKDAYS_MONTHS or low in _NUMBER_WORDS:
        return True
    # A capitalised word inside a sentence is a name (a place, a product, a person).
    return not first and word[0].isupper() and low not in _FILLER and low != "i"


def fact_clauses(text: str) -> list[Fact]:
    """The clauses of ``text`` with their filler removed, in order; empty clauses go.

    >>> [f.text for f in fact_clauses("Thanks! That doesn't matter, as long as it has free wifi.")]
    ['not matter', 'free wifi']
    """
    out: list[Fact] = []
    for clause in _CLAUSE.split(_PHRASES.sub(" ", text)):
        words = _WORD.findall(clause)
        kept: list[str] = []
        strong = False
        negated = False
        link: str | None = None
        for pos, word in enumerate(words):
            low = word.lower().replace("’", "'")
            if low in _NEGATIONS or _NEGATED.match(low):
                negated = True
            elif low in _LINKS:
                link = low  # the preposition nearest the value says what it refers to
            elif low not in _FILLER and not _INTERJECTION.match(low):
                value = _is_value(word, pos == 0)
                strong = strong or value
                if link == "to" and not value:
                    link = None  # "to book", not "to Paris"
                kept.extend(w for w in ("not" if negated else None, link) if w)
                kept.append(word)
                negated, link = False, None
        if kept:
            out.append(Fact(" ".join(kept), strong))
    return out


def extract_facts(text: str) -> list[str]:
    """The fact clauses of ``text`` as strings (see :func:`fact_clauses`)."""
    return [f.text for f in fact_clauses(text)]
