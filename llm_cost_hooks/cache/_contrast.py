"""Contrast checks: does a query differ from a stored question in a way that changes the answer?

Two questions can be almost the same sentence and still need different answers ("block" vs
"unblock" a card, order 1234 vs 5678, Saturday vs Sunday). Sentence embeddings put such
pairs very close together, so the semantic tier checks them explicitly before serving:

* ``negation``: a negation word on one side only of otherwise similar wording, or a negating
  prefix (``unblock``/``block``, ``illegal``/``legal``);
* ``number``: each side has a number the other lacks (digits and number words, so "2" and
  "two" agree, and "1.5 million" is 1500000);
* ``date``: each side has a weekday, month, holiday, relative day, year or part of the day the
  other lacks;
* ``entity``: each side has a name (a capitalised word inside the sentence) the other lacks, up
  to aliases ("EPA" / "Environmental Protection Agency", "Fed" / "Federal"), or the same
  sentence has one slot filled with other words ("side effects of X / of Y");
* ``unit``: both name a currency or unit, and not the same ones;
* ``direction``: the words on either side of "to"/"from"/"into"/... trade places, or opposite
  direction words (up/down, upload/download, before/after);
* ``antonym``: opposite words (increase/decrease, cheapest/most expensive, buy/sell);
* ``role``: the parties differ (buyer/seller, tenant/landlord) or trade places, or the same
  words name who does what to whom in another order ("Smith defeated Jones" / "Jones
  defeated Smith");
* ``scope``: one question is the other plus a qualifier of three or more content words, or
  the two quantify differently ("all my cards" / "one of my cards", "each item" / "total");
* ``question``: the same words ask another question: another question word ("how do I close
  my account" / "why was my account closed"), tense ("was I charged" / "will I be charged")
  or modality ("can I cancel" / "should I cancel").

"unless" and "except" count as negations ("if I cancel" / "unless I cancel").

Numbers, dates, names and units compare what differs, not what is present: a value stated on
both sides is no contrast, and a value on one side only is a contrast when that side is the
other plus a specific ("status of my order" / "status of order 1234"), and a name, number or
date is when the other side names, counts or dates nothing. A value one side adds while the other side
words things differently (news restated with or without its date, a name dropped beside
others kept) is left to the pair verifier, which weighs it (:func:`one_sided_counts`).

Each check is a flag; a flagged candidate is not served. The checks look only at the two
texts (no model), take microseconds, and never look at answers.

>>> contrast_flags("How do I block my card?", "How do I unblock my card?")
['negation']
>>> contrast_flags("How do I reset my PIN?", "How can I reset my PIN?")
[]
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

__all__ = ["CONTRAST_KINDS", "TextView", "content_words", "contrast_flags", "one_sided_counts", "view"]

CONTRAST_KINDS = (
    "negation",
    "number",
    "date",
    "entity",
    "unit",
    "direction",
    "antonym",
    "role",
    "scope",
    "question",
)

_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+(?:[.,:]\d+)*[A-Za-z]*|[$€£¥%]")
_NEG_WORDS = frozenset(
    """
not no never none nobody nothing neither nor without cannot cant wont dont doesnt didnt isnt arent wasnt
werent havent hasnt hadnt shouldnt wouldnt couldnt mustnt aint nowhere
""".split()
)
_NEG_PREFIXES = ("un", "dis", "de", "in", "im", "il", "ir", "non", "mis", "anti")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update(
    {
        "thirty": "30",
        "forty": "40",
        "fifty": "50",
        "sixty": "60",
        "seventy": "70",
        "eighty": "80",
        "ninety": "90",
        "hundred": "100",
        "thousand": "1000",
        "million": "1000000",
        "billion": "1e9",
        "once": "1",
        "twice": "2",
        "single": "1",
        "double": "2",
        "triple": "3",
        "half": "0.5",
        "dozen": "12",
        "first": "1st",
        "second": "2nd",
        "third": "3rd",
        "fourth": "4th",
        "fifth": "5th",
    }
)
_DATE_WORDS = frozenset(
    """
monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
january february march april may june july august september october november december jan feb mar apr jun jul
aug sep sept oct nov dec today tomorrow yesterday tonight morning afternoon evening night noon midnight weekend
weekday weekdays weekends week month year quarter spring summer autumn fall winter christmas easter halloween
thanksgiving eve hanukkah ramadan diwali new last next previous this coming past daily weekly monthly yearly annual
annually hourly
""".split()
)
# "may", "new", "this", "last", "next", "past", "second" etc. are dates only beside another date word.
_DATE_CONTEXT_ONLY = frozenset("may new last next previous this coming past eve sun sat wed mar fall".split())
_UNIT_WORDS = {
    "$": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "usd": "usd",
    "€": "eur",
    "euro": "eur",
    "euros": "eur",
    "eur": "eur",
    "£": "gbp",
    "pound": "gbp",
    "pounds": "gbp",
    "gbp": "gbp",
    "sterling": "gbp",
    "¥": "jpy",
    "yen": "jpy",
    "jpy": "jpy",
    "franc": "chf",
    "francs": "chf",
    "chf": "chf",
    "rupee": "inr",
    "rupees": "inr",
    "peso": "mxn",
    "pesos": "mxn",
    "yuan": "cny",
    "bitcoin": "btc",
    "btc": "btc",
    "crypto": "crypto",
    "kg": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "kilo": "kg",
    "kilos": "kg",
    "lb": "lb",
    "lbs": "lb",
    "g": "g",
    "gram": "g",
    "grams": "g",
    "mg": "mg",  # a dose: "2 mg" and "2 g" differ a thousandfold
    "milligram": "mg",
    "milligrams": "mg",
    "mcg": "mcg",
    "microgram": "mcg",
    "micrograms": "mcg",
    "ounce": "oz",
    "ounces": "oz",
    "oz": "oz",
    "stone": "st",
    "km": "km",
    "kilometer": "km",
    "kilometers": "km",
    "kilometre": "km",
    "kilometres": "km",
    "mile": "mi",
    "miles": "mi",
    "mi": "mi",
    "meter": "m",
    "meters": "m",
    "metre": "m",
    "metres": "m",
    "foot": "ft",
    "feet": "ft",
    "ft": "ft",
    "inch": "in",
    "inches": "in",
    "cm": "cm",
    "centimeter": "cm",
    "centimeters": "cm",
    "mm": "mm",
    "celsius": "c",
    "centigrade": "c",
    "fahrenheit": "f",
    "kelvin": "k",
    "liter": "l",
    "liters": "l",
    "litre": "l",
    "litres": "l",
    "gallon": "gal",
    "gallons": "gal",
    "ml": "ml",
    "cup": "cup",
    "cups": "cup",
    "tablespoon": "tbsp",
    "teaspoon": "tsp",
    "percent": "%",
    "%": "%",
    "second": "s",
    "seconds": "s",
    "minute": "min",
    "minutes": "min",
    "hour": "h",
    "hours": "h",
    "day": "d",
    "days": "d",
    "mb": "mb",
    "gb": "gb",
    "tb": "tb",
    "kb": "kb",
    "mph": "mph",
    "kmh": "kmh",
    "watt": "w",
    "watts": "w",
    "calorie": "kcal",
    "calories": "kcal",
    "kcal": "kcal",
    "acre": "acre",
    "acres": "acre",
    "hectare": "ha",
    "hectares": "ha",
}
# Opposites. Direction words and antonyms are kept apart only to name the flag.
_DIRECTION_PAIRS = [
    ("up", "down"),
    ("in", "out"),
    ("on", "off"),
    ("into", "out"),
    ("upload", "download"),
    ("uploading", "downloading"),
    ("import", "export"),
    ("importing", "exporting"),
    ("incoming", "outgoing"),
    ("inbound", "outbound"),
    ("before", "after"),
    ("above", "below"),
    ("over", "under"),
    ("left", "right"),
    ("north", "south"),
    ("east", "west"),
    ("forward", "backward"),
    ("forwards", "backwards"),
    ("push", "pull"),
    ("send", "receive"),
    ("sent", "received"),
    ("sending", "receiving"),
    ("deposit", "withdraw"),
    ("deposits", "withdrawals"),
    ("deposit", "withdrawal"),
    ("credit", "debit"),
    ("inside", "outside"),
    ("top", "bottom"),
    ("front", "back"),
    ("arrive", "depart"),
    ("arrival", "departure"),
    ("arrivals", "departures"),
    ("arriving", "departing"),
    ("check-in", "check-out"),
    ("checkin", "checkout"),
    ("upstairs", "downstairs"),
    ("uphill", "downhill"),
    ("upstream", "downstream"),
    ("higher", "lower"),
    ("rise", "fall"),
    ("ascending", "descending"),
    ("enter", "exit"),
    ("entrance", "exit"),
    ("zoom-in", "zoom-out"),
]
_ANTONYM_PAIRS = [
    ("increase", "decrease"),
    ("increase", "reduce"),
    ("raise", "lower"),
    ("more", "less"),
    ("more", "fewer"),
    ("most", "least"),
    ("maximum", "minimum"),
    ("max", "min"),
    ("highest", "lowest"),
    ("high", "low"),
    ("cheap", "expensive"),
    ("cheapest", "expensive"),
    ("cheaper", "expensive"),
    ("fast", "slow"),
    ("faster", "slower"),
    ("fastest", "slowest"),
    ("quick", "slow"),
    ("hot", "cold"),
    ("warm", "cold"),
    ("hotter", "colder"),
    ("warmer", "colder"),
    ("add", "remove"),
    ("add", "delete"),
    ("added", "removed"),
    ("accept", "decline"),
    ("accept", "reject"),
    ("accepted", "rejected"),
    ("accepted", "declined"),
    ("approve", "reject"),
    ("approved", "rejected"),
    ("approve", "deny"),
    ("approved", "denied"),
    ("allow", "block"),
    ("allowed", "blocked"),
    ("allow", "forbid"),
    ("start", "stop"),
    ("start", "end"),
    ("begin", "end"),
    ("started", "stopped"),
    ("starting", "stopping"),
    ("open", "close"),
    ("open", "closed"),
    ("opened", "closed"),
    ("opening", "closing"),
    ("join", "leave"),
    ("joined", "left"),
    ("invite", "remove"),
    ("invite", "leave"),
    ("buy", "sell"),
    ("buying", "selling"),
    ("bought", "sold"),
    ("buyer", "seller"),
    ("lend", "borrow"),
    ("lent", "borrowed"),
    ("income", "expense"),
    ("income", "expenses"),
    ("profit", "loss"),
    ("gain", "loss"),
    ("win", "lose"),
    ("won", "lost"),
    ("include", "exclude"),
    ("included", "excluded"),
    ("upgrade", "downgrade"),
    ("benefit", "risk"),
    ("benefits", "risks"),
    ("advantage", "disadvantage"),
    ("advantages", "disadvantages"),
    ("pros", "cons"),
    ("strong", "weak"),
    ("stronger", "weaker"),
    ("strongest", "weakest"),
    ("early", "late"),
    ("earlier", "later"),
    ("earliest", "latest"),
    ("first", "last"),
    ("bright", "dim"),
    ("brighter", "dimmer"),
    ("brighter", "darker"),
    ("light", "dark"),
    ("loud", "quiet"),
    ("louder", "quieter"),
    ("big", "small"),
    ("bigger", "smaller"),
    ("biggest", "smallest"),
    ("large", "small"),
    ("larger", "smaller"),
    ("largest", "smallest"),
    ("long", "short"),
    ("longer", "shorter"),
    ("heavy", "light"),
    ("good", "bad"),
    ("better", "worse"),
    ("best", "worst"),
    ("safe", "dangerous"),
    ("safe", "unsafe"),
    ("healthy", "unhealthy"),
    ("wet", "dry"),
    ("full", "empty"),
    ("old", "new"),
    ("older", "newer"),
    ("oldest", "newest"),
    ("young", "old"),
    ("younger", "older"),
    ("easy", "hard"),
    ("easy", "difficult"),
    ("easiest", "hardest"),
    ("true", "false"),
    ("right", "wrong"),
    ("correct", "wrong"),
    ("correct", "incorrect"),
    ("pass", "fail"),
    ("passed", "failed"),
    ("success", "failure"),
    ("successful", "failed"),
    ("always", "never"),
    ("everyone", "nobody"),
    ("all", "none"),
    ("public", "private"),
    ("online", "offline"),
    ("mute", "unmute"),
    ("on", "off"),
    ("yes", "no"),
    ("hire", "fire"),
    ("hired", "fired"),
    ("lock", "unlock"),
    ("show", "hide"),
    ("expand", "collapse"),
    ("attach", "detach"),
    ("connect", "disconnect"),
    ("plus", "minus"),
    ("gross", "net"),
    ("positive", "negative"),
    ("rich", "poor"),
    ("thick", "thin"),
    ("deep", "shallow"),
    ("wide", "narrow"),
    ("tight", "loose"),
    ("sweet", "sour"),
    ("sweeter", "sourer"),
    ("male", "female"),
    ("men", "women"),
    ("man", "woman"),
    ("boy", "girl"),
    ("husband", "wife"),
    ("inhale", "exhale"),
    ("freeze", "thaw"),
    ("asleep", "awake"),
    ("sleep", "wake"),
    ("lowest", "highest"),
    ("raise", "cut"),
    ("hike", "cut"),
    ("save", "spend"),
    ("saving", "spending"),
    ("overpaid", "underpaid"),
    ("overcharged", "undercharged"),
    ("subscribe", "unsubscribe"),
    ("follow", "unfollow"),
    ("pin", "unpin"),
    ("enable", "disable"),
    ("enabled", "disabled"),
    ("activate", "deactivate"),
    ("activated", "deactivated"),
    ("before", "after"),
]
_ROLE_GROUPS = [
    "tenant landlord renter lessee lessor",
    "buyer seller purchaser vendor",
    "employer employee worker boss staff",
    "lender borrower guarantor cosigner debtor creditor",
    "driver passenger rider",
    "host guest visitor",
    "parent child student teacher kid kids children",
    "doctor patient nurse",
    "sender recipient receiver payee payer",
    "admin administrator member owner editor viewer moderator user guest",
    "customer merchant seller",
    "husband wife partner spouse",
    "landlord tenant",
    "manager employee",
    "plaintiff defendant",
    "insurer insured policyholder beneficiary",
    "seller buyer agent",
    "coach player",
    "pilot passenger",
]
_ROLE_OF: dict[str, str] = {}
for _g, _words in enumerate(_ROLE_GROUPS):
    for _w in _words.split():
        _ROLE_OF.setdefault(_w, f"g{_g}")
_ROLE_WORDS = frozenset(_ROLE_OF)
# Subject and object forms: "I paid him" and "he paid me" use different ones.
_PERSONS = frozenset("i me we us he him she her they them".split())
# Subject and object forms of one person: "I sent him" / "he sent me" trade them.
_SUBJECT = {"i": "1s", "we": "1p", "he": "3m", "she": "3f", "they": "3p"}
_OBJECT = {"me": "1s", "us": "1p", "him": "3m", "her": "3f", "them": "3p"}
_POSSESSIVE = frozenset("my our your his her their".split())
# People a question can be about besides the asker: one side naming one while the other names
# none asks about someone else's account, card or leave.
_PARTY_WORDS = frozenset(
    """
child children kid kids son sons daughter daughters baby newborn wife husband spouse partner mother father
mom mum dad parent parents brother brothers sister sisters grandmother grandfather grandparent grandparents
colleague colleagues coworker coworkers team teammate friend friends boss manager employee employees member
members
""".split()
)
_ORDER_WORDS = frozenset("to from into onto than vs versus over by for with against".split())

# Opposite adjectives in all three degrees ("long" / "short", "longer" / "shorter",
# "longest" / "shortest"; "closest" / "farthest"): a comparison asks for the other end.
_GRADED_PAIRS = """
long:short close:far near:far high:low big:small large:small fast:slow quick:slow cheap:dear old:new
old:young early:late hot:cold warm:cold cool:warm strong:weak light:dark light:heavy thick:thin deep:shallow
wide:narrow loud:quiet bright:dim easy:hard rich:poor tight:loose low:high short:tall few:many
"""
_IRREGULAR = {"far": ("farther", "farthest"), "good": ("better", "best"), "bad": ("worse", "worst")}
_IRREGULAR.update({"many": ("more", "most"), "few": ("fewer", "fewest"), "little": ("less", "least")})


def _degrees(w: str) -> tuple[str, str]:
    """The comparative and superlative of a one-word adjective."""
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if w.endswith("e"):
        return w + "r", w + "st"
    if w.endswith("y") and w[-2] not in "aeiou":
        return w[:-1] + "ier", w[:-1] + "iest"
    if len(w) <= 4 and w[-1] not in "aeiouwxy" and w[-2] in "aeiou" and w[-3] not in "aeiou":
        return w + w[-1] + "er", w + w[-1] + "est"  # big, hot, thin, wet
    return w + "er", w + "est"


for _pair in _GRADED_PAIRS.split():
    _x, _y = _pair.split(":")
    _ANTONYM_PAIRS += [(_x, _y), *zip(_degrees(_x), _degrees(_y))]
_ANTONYM_PAIRS += [("further", "nearer"), ("furthest", "nearest"), ("furthest", "closest")]

_OPPOSITE: dict[str, set[tuple[str, str]]] = {}
for _kind, _pairs in (("direction", _DIRECTION_PAIRS), ("antonym", _ANTONYM_PAIRS)):
    for _a, _b in _pairs:
        _OPPOSITE.setdefault(_a, set()).add((_b, _kind))
        _OPPOSITE.setdefault(_b, set()).add((_a, _kind))

# What a question asks, beside its content words: these words are stop words elsewhere, but
# "was I charged" / "will I be charged" and "how do I close" / "why was it closed" need
# different answers. Each side's classes are compared only when both sides have one.
# "where do I update my details" and "how do I update my details" ask the same thing.
_QUESTION_WORDS = {"how": "how", "why": "why", "when": "when", "where": "how", "who": "who", "whom": "who"}
# A question word asks when an auxiliary follows it ("when will", "where do").
_AUXILIARIES = frozenset(
    "is am are was were do does did have has had can could will would shall should may might must "
    "to isn't aren't wasn't weren't don't doesn't didn't can't won't hasn't haven't".split()
)
_CAME = frozenset("come comes came coming".split())
# "what time" asks when; "how much" / "how many" ask amounts, not a method.
_WHAT_WHEN = frozenset("time day date year month hour".split())
_PAST = frozenset("was were did wasn't weren't didn't been".split())
_PERFECT = frozenset("has have had hasn't haven't hadn't".split())
_FUTURE = frozenset("will shall 'll".split())  # "won't work" is a refusal, not a tense
_IRREGULAR_PARTICIPLES = frozenset(
    "paid sent made got gotten taken given done gone seen built bought sold lost found left kept "
    "held brought told shown known put set cut hit frozen chosen stolen written spent".split()
)
# Permission or ability against obligation or advice ("can I" / "should I", "do I need to").
_PERMISSION = frozenset("can could may allowed able possible".split())
_OBLIGATION = frozenset("should must ought required mandatory necessary".split())
# Quantifiers: "all my cards" / "one of my cards", "each item" / "the total".
_QUANTIFIERS = {
    **dict.fromkeys("all every everything everyone everybody both whole entire".split(), "all"),
    # "any" reads as "all" as often as "some" ("do you take any currency"): no class.
    **dict.fromkeys("some either single".split(), "some"),
    **dict.fromkeys("each per".split(), "each"),
    **dict.fromkeys("total combined altogether overall".split(), "total"),
    "only": "only",
    **dict.fromkeys("none nobody neither".split(), "none"),
}
# "unless" is "if not", "except" is "not including": negations a negation word list misses.
_EXCEPT = frozenset("unless except excluding".split())


def _asks(low: list[str]) -> frozenset[str]:
    """The classes of the question words: "how" (and "where"), "why", "when", "who"."""
    out: set[str] = set()
    for i, t in enumerate(low):
        nxt = low[i + 1] if i + 1 < len(low) else ""
        if (t == "what" and nxt in _WHAT_WHEN) or (t == "how" and nxt in ("long", "soon")):
            out.add("when")
        elif t == "how" and nxt in ("much", "many", "often", "far", "big"):
            continue  # an amount: the number and unit checks compare those
        elif t == "how" and nxt == "come":
            out.add("why")
        elif t == "where" and "from" in low[i + 2 : i + 11] and _CAME & set(low[i + 2 : i + 11]):
            out.add("why")  # "where did this fee come from?"
        # "When the item is damaged, who pays?": a "when" opening a clause asks nothing.
        elif t in _QUESTION_WORDS and (t in ("who", "whom", "how", "why") or nxt in _AUXILIARIES):
            out.add(_QUESTION_WORDS[t])
    return frozenset(out)


def _tense(low: list[str]) -> frozenset[str]:
    """ "past" and/or "future" from auxiliaries ("did", "was", "has ... shipped", "will")."""
    out: set[str] = set()
    for i, t in enumerate(low):
        if t in _PAST:
            out.add("past")
        elif t in _FUTURE or t.endswith("'ll") or (t == "going" and low[i + 1 : i + 2] == ["to"]):
            out.add("future")
        elif t in _PERFECT and any(
            w.endswith("ed") or w in _IRREGULAR_PARTICIPLES for w in low[i + 1 : i + 4]
        ):
            out.add("past")
    return frozenset(out)


def _modality(low: list[str]) -> frozenset[str]:
    """ "may" (permission, ability) and/or "must" (obligation, advice) of a yes/no question;
    "can you" asks for help, and after a question word ("what should I do", "when can I
    expect") the modal is mostly a manner of speaking."""
    out: set[str] = set()
    for i, t in enumerate(low):
        if t in _QUESTION_WORDS or t == "what":
            break
        nxt = low[i + 1] if i + 1 < len(low) else ""
        prev = low[i - 1] if i else ""
        if t in _PERMISSION and nxt not in ("you", "u") and (t != "may" or nxt in ("i", "we")):
            out.add("may")
        elif t in _OBLIGATION or (
            t in ("need", "needs", "have", "has")
            and nxt == "to"
            and (
                # "do I need to" / "does it have to" ask whether it must; "I need to X" asks how.
                {"do", "does", "did", "will"} & set(low[max(0, i - 4) : i])
            )
        ):
            out.add("must")
        elif t == "ok" and prev == "it":
            out.add("may")
    return frozenset(out)


_STOP = frozenset(
    """
a an the i me my mine we us our you your he him his she her it its they them their this that these those
is am are was were be been being do does did done doing have has had having can could will would shall should
may might must of in on at to for from by with about as into onto over under up down out off
and or but if then so than too very just also please thanks thank hi hello hey there here what which who whom
whose when where why how any some all each every much many more most other such own same again still yet
get got getting go going want wanted need needed like would'd i'm i've i'd it's what's how's there's
let let's tell know okay ok
""".split()
)


_DOTTED = re.compile(r"\b(?:[A-Z]\.){2,}")  # "U.S." reads as "US"
_RUN_JOINERS = frozenset("of and for the de".split())
# Titles before a name ("Mr. al-Amoudi" / "Al-Amoudi") name no one by themselves.
_TITLES = frozenset("mr mrs ms miss dr prof sen rep gov gen sir st".split())
_DATE_CANON = {"annual": "year", "annually": "year", "yearly": "year", "daily": "day", "weekly": "week"}
_DATE_CANON.update({"monthly": "month", "hourly": "hour", "weekday": "weekdays", "weekends": "weekend"})
_MAGNITUDE = {"hundred": 100.0, "thousand": 1e3, "million": 1e6, "billion": 1e9}


def _date_word(t: str) -> str:
    """Read "Mondays" as "monday" and "annually" as "year"."""
    if t.endswith("s") and t not in _DATE_WORDS and t[:-1] in _DATE_WORDS:
        t = t[:-1]
    return _DATE_CANON.get(t, t)


def _number_key(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(x)


_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?(am|pm)?")


def _clock_time(t: str, nxt: str, after: str) -> tuple[str, int] | None:
    """A time of day written with am/pm ("7pm", "7 p.m.", "10:30 am") as 24-hour "19:00",
    and how many following tokens it used; None when ``t`` is not one."""
    m = _CLOCK.fullmatch(t)
    if m is None:
        return None
    used, half = 0, m.group(3)
    if half is None and nxt in ("am", "pm"):
        used, half = 1, nxt
    elif half is None and nxt in ("a", "p") and after == "m":  # "7 a.m." tokenises as "a", "m"
        used, half = 2, nxt + "m"
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if half is None or not 1 <= hour <= 12 or minute > 59:
        return None
    hour = hour % 12 + (12 if half == "pm" else 0)
    return f"{hour}:{minute:02d}", used


def _numbers(low: list[str]) -> set[str]:
    """Number values: digits and number words, "1.5 million" and "1,500,000" both 1500000;
    a time of day as 24-hour "H:MM" ("7 pm", "7pm" and "19:00" are one value, 7 am another)."""
    nums: set[str] = set()
    skip = -1
    for i, t in enumerate(low):
        if i <= skip:
            continue
        if t[0].isdigit():
            nxt = low[i + 1] if i + 1 < len(low) else ""
            clock = _clock_time(t, nxt, low[i + 2] if i + 2 < len(low) else "")
            if clock is not None:
                nums.add(clock[0])
                skip = i + clock[1]
                continue
            raw = t.replace(",", "")
        elif t in _NUMBER_WORDS and t not in ("second", "single", "double", "half", "first"):
            if t == "once" and not _once_counts(low, i):
                continue
            raw = _NUMBER_WORDS[t]
        else:
            continue
        try:
            value = float(raw)
        except ValueError:  # "14a", "3rd": kept as written; "07:30" as "7:30"
            hm = raw.split(":")
            if len(hm) == 2 and hm[0].isdigit() and hm[1].isdigit() and len(hm[1]) == 2:
                raw = f"{int(hm[0])}:{hm[1]}"
            nums.add(raw)
            continue
        nxt = low[i + 1] if i + 1 < len(low) else ""
        if nxt in _MAGNITUDE:
            value, skip = value * _MAGNITUDE[nxt], i + 1
        elif "." in raw and raw.endswith("0"):
            # "2.10" is not "2.1" in a version ("v2.10", "Python 3.10"); kept as written, so
            # a trailing zero costs at most a hit on "$1.50" against "$1.5".
            nums.add(raw)
            continue
        nums.add(_number_key(value))
    return nums


# "once again", "once more", "at once", "once the order arrives": no count.
_ONCE_IDIOM_NEXT = frozenset(
    "again more upon i we you he she they it the my our your this that there its his their".split()
)


def _once_counts(low: list[str], i: int) -> bool:
    """ "once" is the number 1 ("once a week", "charged once"), not an idiom or "as soon as"."""
    nxt = low[i + 1] if i + 1 < len(low) else ""
    return nxt not in _ONCE_IDIOM_NEXT and (i == 0 or low[i - 1] != "at")


def _shouted(toks: list[str]) -> bool:
    """All capitals ("SEND AN EMAIL TO MY FRIEND") or Every Word Capitalised: capitals name
    nothing there."""
    words = [t for t in toks if t[0].isalpha() and len(t) > 1]
    if len(words) < 3:
        return False
    upper = sum(1 for t in words if t.isupper())
    title = sum(1 for t in words if t[0].isupper())
    return upper >= 0.6 * len(words) or title >= 0.8 * len(words)


def _norm(tok: str) -> str:
    t = tok.lower().replace("’", "'")
    return t[:-2] if t.endswith("'s") and len(t) > 3 else t


def _stem(w: str) -> str:
    if w.endswith(("sses", "ches", "shes", "xes")) and len(w) > 5:
        return w[:-2]
    for suf in ("ing", "ed", "s", "ly"):
        if len(w) > len(suf) + 2 and w.endswith(suf) and not w.endswith("ss"):
            return w[: -len(suf)]
    return w


# Request wording that adds no qualifier ("Give information about the traffic near my
# location" / "How is the traffic near me?"): not counted by the scope check.
_FRAMING = frozenset(
    _stem(w) for w in "give information info details show find check need help provide right now".split()
)


class TextView:
    """The parts of a text the checks compare, computed once per text."""

    __slots__ = (
        "articles",
        "asks",
        "caps",
        "content",
        "dates",
        "except_",
        "lower",
        "modality",
        "names",
        "negation",
        "negations",
        "numbers",
        "one_word",
        "order",
        "parties",
        "persons",
        "quantifiers",
        "roles",
        "runs",
        "stems",
        "tense",
        "tokens",
        "units",
        "words",
    )

    def __init__(self, text: str) -> None:
        toks = _TOKEN.findall(_DOTTED.sub(lambda m: m.group(0).replace(".", ""), text))
        self.tokens = toks
        low = [_norm(t) for t in toks]
        self.lower = low
        self.words = frozenset(low)
        self.stems = frozenset(_stem(t) for t in low)
        neg = 0
        for t in low:
            if t in _NEG_WORDS or t.endswith("n't"):
                neg += 1
        self.negation = neg % 2
        self.negations = neg
        self.asks = _asks(low)
        self.tense = _tense(low)
        self.modality = _modality(low)
        self.quantifiers = frozenset(
            _QUANTIFIERS[t]
            for i, t in enumerate(low)
            if t in _QUANTIFIERS and low[i + 1 : i + 3] != ["of", "a"]
        )  # "all of a sudden"
        self.except_ = any(t in _EXCEPT for t in low) or ("apart", "from") in pairwise(low)
        self.numbers = frozenset(_numbers(low))
        # "one shooting scene" / "a shooting scene": the word "one" may stand for an article.
        self.articles = "a" in self.words or "an" in self.words
        self.one_word = "one" in self.words and "1" not in self.words
        dates = {_date_word(t) for t in low}
        dates = {t for t in dates if t in _DATE_WORDS and t not in _DATE_CONTEXT_ONLY}
        for i, t in enumerate(low):  # "next week", "last month", "this evening", "New Year's"
            nxt = low[i + 1] if i + 1 < len(low) else ""
            if t in _DATE_CONTEXT_ONLY and nxt in _DATE_WORDS and nxt not in _DATE_CONTEXT_ONLY:
                dates.add(f"{t} {low[i + 1]}")
        dates |= {t for t in low if t.isdigit() and len(t) == 4 and t[:2] in ("19", "20")}
        self.dates = frozenset(dates)
        names: set[str] = set()
        caps: set[str] = set()
        runs: list[tuple[str, frozenset[str]]] = []
        run: list[str] = []
        shouted = _shouted(toks)
        for i, t in enumerate([*toks, "."]):
            capital = (  # "Paris", "EPA", "iPhone"
                not shouted
                and t[0].isalpha()
                and any(c.isupper() for c in t)
                and t.lower() not in ("i", "i'm", "i've", "i'd", "i'll")
            )
            if capital and (run or _norm(t) not in _STOP):
                caps.add(_norm(t))
                run.append(t)
            elif not (run and t.lower() in _RUN_JOINERS):
                if len(run) >= 2:  # "Environmental Protection Agency" also reads "EPA"
                    runs.append(("".join(w[0] for w in run).lower(), frozenset(_stem(_norm(w)) for w in run)))
                run = []
            if i == 0 or i == len(toks) or not capital:
                continue
            name = _norm(t)
            if name not in _STOP and name not in _DATE_WORDS and name not in _TITLES and name != "pm":
                names.add(_stem(name))
        self.names = frozenset(names)
        self.caps = frozenset(caps)
        self.runs = tuple(runs)
        self.units = frozenset(_UNIT_WORDS[t] for t in low if t in _UNIT_WORDS)
        self.content = frozenset(
            _stem(t)
            for t in low
            if t not in _STOP and not t[0].isdigit() and len(t) > 1 and t not in _NUMBER_WORDS
        )
        self.roles = frozenset(_ROLE_OF[t] + ":" + t for t in low if t in _ROLE_WORDS)
        self.persons = frozenset(t for t in low if t in _PERSONS)
        # People the question is about, as the asker names them: "my child", "my late mother",
        # "a colleague's password" ("can someone help", "a friend" name no one in particular).
        self.parties = frozenset(
            t
            for i, t in enumerate(low)
            if t in _PARTY_WORDS
            and (toks[i].lower().endswith(("'s", "’s")) or _POSSESSIVE.intersection(low[max(0, i - 2) : i]))
        )
        # (word before, order word, word after) around "to"/"from"/...: "euros to dollars".
        kept = [t for t in low if t not in _STOP or t in _ORDER_WORDS]
        self.order = frozenset(
            (kept[i - 1], t, kept[i + 1])
            for i, t in enumerate(kept)
            if t in _ORDER_WORDS
            and 0 < i < len(kept) - 1
            and kept[i - 1] not in _ORDER_WORDS
            and kept[i + 1] not in _ORDER_WORDS
        )


@lru_cache(maxsize=4096)
def view(text: str) -> TextView:
    """The cached :class:`TextView` of ``text``."""
    return TextView(text)


def content_words(text: str) -> frozenset[str]:
    """Stemmed content words (no stop words, numbers or one-letter tokens)."""
    return view(text).content


def _prefix_negated(a: frozenset[str], b: frozenset[str]) -> bool:
    for w in a - b:
        for p in _NEG_PREFIXES:
            if w.startswith(p) and len(w) - len(p) >= 3 and w[len(p) :] in b and w[len(p) :] not in a:
                return True
    return False


def _opposite(a: TextView, b: TextView) -> str | None:
    only_a, only_b = a.words - b.words, b.words - a.words
    for w in only_a:
        for other, kind in _OPPOSITE.get(w, ()):
            if other in only_b:
                return kind
    return None


def _order_swapped(a: TextView, b: TextView) -> bool:
    """The two sides of an order word trade places ("euros to dollars" / "dollars to euros")."""
    return any((y, w, x) in b.order for x, w, y in a.order if x != y)


def _actors_swapped(a: TextView, b: TextView) -> bool:
    """Same content words in another order with a party named ("the owner sees my..." vs "I see the owner's...")."""
    if a.content != b.content or not (a.roles or a.parties):
        return False
    ca = [_stem(t) for t in a.lower if _stem(t) in a.content]
    cb = [_stem(t) for t in b.lower if _stem(t) in b.content]
    return ca != cb


def _words_swapped(a: TextView, b: TextView) -> bool:
    """The same content words, with two of them trading places ("Smith defeated Jones" /
    "Jones defeated Smith"). Moving one clause to the front or the back keeps the words of
    each clause in order ('"...," he said' / 'He said "..."') and is no swap."""
    if a.content != b.content or len(a.content) < 3:
        return False

    def order(v: TextView) -> list[str]:
        seen: list[str] = []
        for t in v.lower:
            w = _stem(t)
            if w in v.content and w not in seen:
                seen.append(w)
        return seen

    oa, ob = order(a), order(b)
    pos = [ob.index(w) for w in oa]
    breaks = sum(1 for x, y in pairwise(pos) if y != x + 1)
    if breaks == 2 and _one_adjacent_swap(pos):
        return False  # "the PIN of my card" / "my card PIN": one phrase, restructured
    return breaks >= 2


def _one_adjacent_swap(pos: list[int]) -> bool:
    """``pos`` is the identity with two neighbours exchanged (an "X of Y" / "Y X" rewording;
    direction words such as "to" and "from" have their own check)."""
    moved = [i for i, p in enumerate(pos) if p != i]
    return len(moved) == 2 and moved[1] == moved[0] + 1


def _persons_swapped(a: TextView, b: TextView) -> bool:
    """Subject and object trade places between two people ("I sent him ..." / "He sent me
    ..."): the first subject and first object pronouns of one side are the other's, crossed."""

    def first(v: TextView) -> tuple[str | None, str | None]:
        subj = next((_SUBJECT[t] for t in v.lower if t in _SUBJECT), None)
        return subj, next((_OBJECT[t] for t in v.lower if t in _OBJECT), None)

    (sa, oa), (sb, ob) = first(a), first(b)
    return sa is not None and oa is not None and sa != oa and (sa, oa) == (ob, sb)


def _other_party(a: TextView, b: TextView) -> bool:
    """One side asks about someone else's thing ("my card" / "my child's card", "do I get" /
    "does my team get"): a person of the asker's named on one side while the other names no
    such person at all ("my friend" / "a friend" is the same friend)."""
    return bool(a.parties and not b.words & _PARTY_WORDS) or bool(b.parties and not a.words & _PARTY_WORDS)


def _slot_swapped(a: TextView, b: TextView) -> bool:
    """The same sentence with one slot filled differently ("side effects of ibuprofen" /
    "... of paracetamol"): a changed subject, not a rewording."""
    x, y = a.lower, b.lower
    if min(len(x), len(y)) < 4:
        return False
    i = 0
    while i < min(len(x), len(y)) and x[i] == y[i]:
        i += 1
    j = 0
    while j < min(len(x), len(y)) - i and x[-1 - j] == y[-1 - j]:
        j += 1
    mid_a, mid_b = x[i : len(x) - j], y[i : len(y) - j]
    if not (1 <= len(mid_a) <= 3 and 1 <= len(mid_b) <= 3) or i + j < 3:
        return False
    if "".join(mid_a) == "".join(w[0] for w in mid_b) or "".join(mid_b) == "".join(w[0] for w in mid_a):
        return False  # "EPA" / "Environmental Protection Agency": one name, spelled out

    def slot(ts: list[str]) -> set[str]:  # negation has its own check
        # Numbers count by value ("15" / "fifteen", "1.5 million" / "1,500,000", "7 PM" /
        # "19:00"): "iPhone 15 Pro" / "iPhone 14" fills one slot with other values even though
        # the number check sees a number on one side only.
        words = {
            _stem(_date_word(t))
            for t in ts
            if t not in _STOP
            and not t[0].isdigit()
            and t not in _NUMBER_WORDS
            and t not in _MAGNITUDE
            and t not in ("am", "pm", "m")
            and t not in _NEG_WORDS
            and not t.endswith("n't")
        }
        return words | _numbers(ts)

    ca, cb = slot(mid_a), slot(mid_b)
    return bool(ca) and bool(cb) and not (ca & cb)


# Capitalised common words that other texts spell another way.
_SAME_WORD = {"email": "mail", "mail": "email", "e-mail": "mail"}


def _name_matched(name: str, other: TextView) -> bool:
    """``name`` names something ``other`` names too: the same word, an acronym of it, or a
    short form ("Fed" / "Federal")."""
    if name in other.stems or any(name == acronym for acronym, _ in other.runs):
        return True
    if _SAME_WORD.get(name) in other.stems:  # "Email" / "mail"
        return True
    for w in other.caps:
        short, long_ = (name, w) if len(name) < len(w) else (w, name)
        if len(short) >= 3 and len(long_) - len(short) >= 3 and long_.startswith(short):
            return True
    return False


def _unmatched_names(a: TextView, b: TextView) -> set[str]:
    out = {n for n in a.names if not _name_matched(n, b)}
    for acronym, words in a.runs:  # "Environmental Protection Agency" / "EPA"
        if acronym in b.words:
            out -= words
    return out


def _one_sided(a: TextView, b: TextView) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per kind, what only ``a`` has and what only ``b`` has."""
    na, nb = a.numbers - b.numbers, b.numbers - a.numbers
    if a.one_word and b.articles and not a.articles:
        na -= {"1"}
    if b.one_word and a.articles and not b.articles:
        nb -= {"1"}
    return {
        "number": (na, nb),
        "date": (a.dates - b.dates, b.dates - a.dates),
        "entity": (frozenset(_unmatched_names(a, b)), frozenset(_unmatched_names(b, a))),
        "unit": (a.units - b.units, b.units - a.units),
    }


# Prepositions that open a qualifier phrase at the end of a question ("... for my child's
# account", "... for a gift card").
_QUALIFIER_PREPS = frozenset("for to from in on at with about via by into of".split())


def _added_qualifier(a: TextView, b: TextView) -> bool:
    """``a`` is ``b`` plus a short closing phrase opened by a preposition, with two or more
    content words ``b`` lacks ("reset my password" / "... for my child's account"): a
    question about someone or something else. Longer additions are the scope check's."""
    extra = a.content - b.content - _FRAMING
    if len(extra) < 2 or b.content - a.content:
        return False
    low = a.lower
    for i in range(max(0, len(low) - 7), len(low) - 1):  # the phrase: at most six words
        if low[i] in _QUALIFIER_PREPS:
            tail = {_stem(t) for t in low[i + 1 :]} & a.content
            if extra <= tail and not tail & b.content:
                return True
    return False


_CHATTER = _FRAMING | {"quick", "question"}


def _close(x: frozenset[str], y: frozenset[str], share: float) -> bool:
    """The content words other than quantifiers and framing ("quick question: ...") mostly
    shared, "approves" and "approved" one word."""
    cx = {w.rstrip("e") for w in x - _CHATTER if w not in _QUANTIFIERS}
    cy = {w.rstrip("e") for w in y - _CHATTER if w not in _QUANTIFIERS}
    union = cx | cy
    return not union or len(cx & cy) / len(union) >= share


def _apart(x: frozenset[str], y: frozenset[str]) -> bool:
    """Both sides have a class and share none."""
    return bool(x) and bool(y) and not x & y


def one_sided_counts(query: str, stored: str) -> tuple[int, int, int, int]:
    """How many numbers, dates, names and units one text has and the other lacks (both ways
    added up). Where a contrast check does not fire, these are a rewording's added or dropped
    details, which the pair verifier weighs."""
    d = _one_sided(view(query), view(stored))
    return (
        len(d["number"][0]) + len(d["number"][1]),
        len(d["date"][0]) + len(d["date"][1]),
        len(d["entity"][0]) + len(d["entity"][1]),
        len(d["unit"][0]) + len(d["unit"][1]),
    )


def contrast_flags(query: str, stored: str) -> list[str]:
    """The contrast kinds that tell ``query`` and ``stored`` apart (empty: none found)."""
    a, b = view(query), view(stored)
    flags: list[str] = []
    union = a.content | b.content
    overlap = len(a.content & b.content) / len(union) if union else 1.0
    # A negation word on one side matters when the rest says the same ("arrived" / "never
    # arrived"); between loosely worded paraphrases ("isn't working" / "stopped") it does not.
    # A negated side against one with no negation at all is a contrast even when the negations
    # come in twos ("connects and loads" / "does not connect and does not load").
    if (
        ((a.negation != b.negation or bool(a.negations) != bool(b.negations)) and overlap >= 0.5)
        or (a.except_ != b.except_ and overlap >= 0.5)  # "if I cancel" / "unless I cancel"
        or _prefix_negated(a.words, b.words)
        or _prefix_negated(b.words, a.words)
    ):
        flags.append("negation")
    # A value on each side that the other lacks is a different value (order 1234 / 5678). A
    # value on one side only is a contrast when the other side adds nothing of its own: the
    # question is the other plus a specific ("status of my order" / "... of order 1234").
    one = _one_sided(a, b)
    extra_a, extra_b = a.content - b.content, b.content - a.content
    adds_a = bool(extra_a) or any(x for x, _ in one.values())
    adds_b = bool(extra_b) or any(y for _, y in one.values())
    # A name, number or date against a side that names, counts or dates nothing at all is a
    # specific question against a generic one ("When does the Prado open?" / "What are the
    # opening hours?"; "... yesterday, but it isn't there" / "... but it hasn't arrived").
    present = {"number": (a.numbers, b.numbers), "entity": (a.names, b.names), "date": (a.dates, b.dates)}
    for kind, (only_a, only_b) in one.items():
        has_a, has_b = present.get(kind, (True, True))
        if (
            (only_a and only_b)
            or (kind == "unit" and (only_a or only_b) and a.units and b.units)  # GBP / GBP or USD
            or (only_a and (not adds_b or not has_b))
            or (only_b and (not adds_a or not has_a))
        ):
            flags.append(kind)
    opp = _opposite(a, b)
    if _order_swapped(a, b):
        flags.append("direction")
    elif opp is not None:
        flags.append(opp)
    if (
        (a.roles and b.roles and a.roles != b.roles)
        or _actors_swapped(a, b)
        or _words_swapped(a, b)
        or (a.content == b.content and a.persons and b.persons and a.persons != b.persons)
        or _persons_swapped(a, b)
        or _other_party(a, b)
    ):
        flags.append("role")
    # The same words asking another thing: "when" / "how", "was" / "will", "can" / "should".
    # Support questions word these loosely ("how did my top-up fail" / "why did it fail"), so
    # only near-identical wording counts; the rest is left to the embedding and the verifier.
    if _close(a.content, b.content, 0.75) and (
        _apart(a.asks, b.asks) or _apart(a.tense, b.tense) or _apart(a.modality, b.modality)
    ):
        flags.append("question")
    if (
        (_close(a.content, b.content, 0.5) and _apart(a.quantifiers, b.quantifiers))  # "all" / "one of"
        or (len(extra_a - _FRAMING) >= 3 and not extra_b)
        or (len(extra_b - _FRAMING) >= 3 and not extra_a)
        or _added_qualifier(a, b)
        or _added_qualifier(b, a)
    ):
        flags.append("scope")
    if not flags and _slot_swapped(a, b):  # nothing more specific explains the swap
        flags.append("entity")
    return flags
