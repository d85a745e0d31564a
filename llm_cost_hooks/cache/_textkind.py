"""Where the semantic tier may decide: text the embedder and the contrast checks were made for.

The shipped embedder is an English MiniLM and the contrast checks are English word rules.
On other text the cosine says little: Chinese and Russian questions on unrelated topics
score as high as English paraphrases, and "bloquer" / "débloquer", 👍 / 👎 or ``x * r`` /
``x + r`` pass every check. Such text is served by the exact tier only
(``bench/results/cachetext-2026-12-07e/``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..embeddings import Embedder

__all__ = ["case_differs", "semantic_refusal"]

_WORDS = re.compile(r"[^\W\d_]+")
# Characters of code, markup and data (JSON, SQL, formulas), indexing and indented lines:
# one of them changes the meaning while the embedding barely moves. "<" and ">" count only
# between two operands spaced alike (age > 30, x<y): typed questions end in one ("my PIN>")
# and wrap placeholders ("for <insert time>"), as brackets do ("[country]").
_CODE = re.compile(r"[{}=*+|\\^~@]|\w\s+[<>]=?\s+\w|\w[<>]=?\w|\w\[|\n[^\S\n]+\S|://")
# Function words of the Latin-script languages users most often write in besides English.
# Words that are also common English words (a, as, die, no, per, come, was, ...) are left out.
_FOREIGN = frozenset(
    # Spanish
    "el la los las del que qué por para con una uno mi mis tu tus es está están cómo cuál cuándo"
    " dónde cuánto cuántos puedo quiero tengo se lo al su sus pero muy y hay ha de en"
    # German
    " der die das und ist hat welche wer ich mein meine meinen nicht wie wann wo warum kann ein eine einen mit auf für"
    " zu von dem den sie habe bin wird wurde werden ihr ihre mich mir noch auch oder nach"
    # French
    " le les des du un est et je mon ma mes pas pourquoi quand où quel quelle quels puis-je puis"
    " pour avec sur dans cette ne vous nous il elle ai suis ma moi qui quoi combien dit sont avez hier"
    # Italian and Portuguese
    " il gli che non sono perché quando dove della mio mia não você meu minha uma isso também".split()
)
_ENGLISH = frozenset(
    "the a an i my me you your is are was were be do does did can could will would should how what"
    " when where why which who of to in on for with from at by it this that there not no and or"
    " have has get want need please".split()
)


@functools.lru_cache(maxsize=4096)
def _latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def semantic_refusal(text: str, embedder: Embedder | None = None) -> str | None:
    """Why the semantic tier must not decide on ``text`` (``None`` when it may):

    * ``"script"``: letters outside the Latin script;
    * ``"language"``: more function words of another language than of English (or as many,
      and at least two);
    * ``"no words"``: fewer than two words ("yes", "ok", emoji, a number);
    * ``"code"``: code, markup or data characters, indented lines, a URL or an email address;
    * ``"long"``: longer than the embedder reads (the rest would not be compared).

    >>> semantic_refusal("How do I block my card?") is None
    True
    >>> [semantic_refusal(t) for t in ("如何冻结我的银行卡？", "¿Cómo bloqueo mi tarjeta?", "👍", "x = a * b")]
    ['script', 'language', 'no words', 'code']
    """
    words = _WORDS.findall(text)
    if not text.isascii() and not all(_latin(c) for w in words for c in w if not c.isascii()):
        return "script"
    if len(words) < 2:  # "yes", "ok", "2", 👍: nothing the model or the checks can compare
        return "no words"
    if _CODE.search(text):
        return "code"
    if "¿" in text or "¡" in text:
        return "language"
    foreign = english = 0
    for w in words:
        lw = w.lower()
        if lw in _ENGLISH:
            english += 1
        elif (lw in _FOREIGN and not w.isupper()) or not lw.isascii():  # IST is a time zone
            foreign += 1
    # One against one is often a name: "switch to Los Angeles time".
    if foreign > english or (foreign >= 2 and foreign == english):
        return "language"
    limit = getattr(embedder, "max_tokens", None)
    # A token is at least one character, plus [CLS] and [SEP]: shorter texts fit unread.
    if isinstance(limit, int) and len(text) + 2 >= limit:
        count = getattr(embedder, "count_tokens", None)
        if callable(count) and count(text) >= limit:  # counted after truncation: at the limit is cut
            return "long"
    return None


_TOKEN = re.compile(r"\w+")


def _mixed(w: str) -> bool:
    return not (w.islower() or w.isupper() or w.istitle()) and any(c.isupper() for c in w)


def case_differs(a: str, b: str) -> bool:
    """Whether a mixed-case code of one text (letters and digits: ``AbC123``) stands in the
    other in another case. The embedder lower-cases everything, so only this tells them apart.

    >>> case_differs("Is the code AbC123 valid?", "Is the code abc123 valid?")
    True
    >>> case_differs("Where is my card?", "where is my card"), case_differs("ATMs", "ATMS")
    (False, False)
    """
    ta, tb = set(_TOKEN.findall(a)), set(_TOKEN.findall(b))
    for mine, other in ((ta, tb), (tb, ta)):
        lowered: dict[str, set[str]] = {}
        for w in other:
            lowered.setdefault(w.lower(), set()).add(w)
        for w in mine:
            # Codes mix letters and digits; MasterCard / mastercard, ATMs / ATMS, HOw / How
            # are one word typed two ways (Banking77 hits this check cost before).
            if _mixed(w) and any(c.isdigit() for c in w) and any(u != w for u in lowered.get(w.lower(), ())):
                return True
    return False
