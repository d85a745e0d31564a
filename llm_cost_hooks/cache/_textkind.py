"""Where the semantic tier may decide: text the embedder and the contrast checks were made for.

The shipped embedder is an English MiniLM and the contrast checks are English word rules.
English is told from other Latin-script languages by the words the MiniLM tokenizer keeps
whole (bench/results/langid-2026-12-07f/: 24 languages, 96.6 % refused on held-out rows).
On other text the cosine says little: Chinese and Russian questions on unrelated topics
score as high as English paraphrases, and "bloquer" / "débloquer", 👍 / 👎 or ``x * r`` /
``x + r`` pass every check. Such text is served by the exact tier only
(``bench/results/cachetext-2026-12-07e/``).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path
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
# Function words of the Latin-script languages users write in besides English, among them
# those the English vocabulary below also holds (ik, het, je, la, de, na, mi, ...). Words that are
# also common English words (a, as, die, no, per, come, was, ...) are left out.
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
    " il gli che non sono perché quando dove della mio mia não você meu minha uma isso também"
    " como faço por que posso onde quanto di què quan puc el meu"
    # Dutch and Afrikaans
    " ik het een mijn jij wij zijn niet wat hoe waar waarom wanneer heb nog naar bij ook dat deze dit voor"
    " jullie uw hoekom ek nie"
    # Scandinavian and Finnish
    " och jag hur mitt mina inte vad när det är på att har ni jeg hvordan hvorfor hvad hvor"
    " mit ikke og hva når miten miksi milloin missä onko voinko minulle ei ja"
    # Slavic, Baltic, Hungarian, Romanian, Turkish
    " jak jest nie czy się gdzie kiedy moja moje mój mam ile przez dla proč kdy kde můžu je na ako"
    " prečo kedy môžem sa kako zašto kada gdje mogu li zakaj kdaj ali kā kāpēc kad vai es ir uz kaip kodėl"
    " mano kuidas miks millal kas mu ma hogyan miért mikor hol van nem és az cum ce când unde este"
    " nu în și pe cu nasıl neden ne zaman nerede mı bir ile"
    # Indonesian, Malay, Tagalog, Swahili, Vietnamese without diacritics
    " bagaimana kenapa kapan apakah saya bisa tidak di ke ini itu yang mau macam mana boleh tak nak"
    " paano bakit kailan saan ang ko ba sa ng mga po nini kwa yangu wangu langu ni"
    " lam sao toi cua khong la khi nao duoc bi va nhieu dau bao muon".split()
)
_ENGLISH = frozenset(
    "the a an i my me you your is are was were be do does did can could will would should how what"
    " when where why which who of to in on for with from at by it this that there not no and or"
    " have has get want need please".split()
)
# Letters only Vietnamese writes (ơ, ư, đ and the dotted and hooked vowels of Latin Extended
# Additional): their words read as English ones once the marks are dropped (làm / lam).
_VIETNAMESE = frozenset("ơưđ" + "".join(chr(c) for c in range(0x1EA0, 0x1EFA)))
# The embedder's own tokenizer, shipped with the package: its whole words are English evidence.
_VOCAB_FILE = (
    Path(__file__).resolve().parent.parent / "embeddings" / "data" / "all-MiniLM-L6-v2.tokenizer.json"
)


_INSIDE, _FOREIGN_FW, _ENGLISH_FW = 0, 1, 2


@functools.cache
def _word_classes() -> dict[str, int]:
    """Each known word's class, one dict lookup per word: the whole words of the MiniLM
    tokenizer's vocabulary (about 21,700, lower case, no accents; what its English pretraining
    text used often enough to keep whole) are inside, then the function words above."""
    try:
        vocab = json.loads(_VOCAB_FILE.read_text(encoding="utf-8"))["model"]["vocab"]
    except (OSError, ValueError, KeyError, TypeError):  # pragma: no cover - the file ships with the package
        vocab = {}
    # Single letters are left out: an apostrophe cuts them off (don't, l'adreça) in any language.
    classes = {w: _INSIDE for w in vocab if len(w) > 1 and w.isascii() and w.isalpha()}
    classes.update(dict.fromkeys(_FOREIGN, _FOREIGN_FW))
    classes.update(dict.fromkeys(_ENGLISH, _ENGLISH_FW))
    return classes


@functools.lru_cache(maxsize=4096)
def _folded(w: str) -> str:
    return unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode()


@functools.lru_cache(maxsize=4096)
def _latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def _inflected(w: str, classes: dict[str, int]) -> bool:
    # The vocabulary keeps stems whole and splits endings off (reminder ##s, refund ##ed).
    for end in ("s", "es", "ed", "d", "ing", "ly"):
        if w.endswith(end) and len(w) - len(end) > 2 and classes.get(w[: -len(end)]) == _INSIDE:
            return True
    return False


def _evidence(words: list[str]) -> tuple[int, int, int, int]:
    """Words inside and outside the English vocabulary, English and foreign function words.

    Whether the words read as another language than English: more of them outside the
    English vocabulary (or another language's function words) than inside it, or more
    function words of another language than of English. Names, brands and acronyms (a
    capital after the first word, mixed or upper case: Kraków, iPhone, BLIK) count for
    neither: English questions are full of them, and so are the others."""
    classes = _word_classes()
    inside = outside = english_fw = foreign_fw = 0
    for i, w in enumerate(words):
        lw = w.lower()
        if lw != w and (i > 0 or not w.istitle()):
            continue  # a name, a brand or an acronym
        kind = classes.get(lw)
        if kind is None:
            if len(w) == 1 or not w.isalpha():
                continue  # a letter cut off by an apostrophe; ½ and ³ are no words
            # Accented words whose plain form is English are loanwords: café, fiancée.
            if lw.isascii() and _inflected(lw, classes):
                inside += 1
            elif lw.isascii() or not _VIETNAMESE.isdisjoint(lw) or classes.get(_folded(lw)) != _INSIDE:
                outside += 1
            else:
                inside += 1
        elif kind == _INSIDE:
            inside += 1
        elif kind == _ENGLISH_FW:
            inside += 1
            english_fw += 1
        else:
            outside += 1
            foreign_fw += 1
    return inside, outside, english_fw, foreign_fw


def _language(words: list[str]) -> bool:
    inside, outside, english_fw, foreign_fw = _evidence(words)
    # Two function words against two is often a name: "switch to Los Angeles time".
    return outside > inside or foreign_fw > english_fw or (foreign_fw >= 2 and foreign_fw == english_fw)


# A quoted phrase in an English question ("what does "je ne sais quoi" mean?") is no evidence
# of the question's language. Single quotes are left alone: they are apostrophes too.
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”|„[^“”]*[“”]|«[^»]*»')


def _foreign(text: str, words: list[str]) -> bool:
    if "¿" in text or "¡" in text:
        return True
    if not _language(words):
        return False
    # Quotes can only keep a text: an English question around a foreign quote is kept, and a
    # quote around an English sentence ("...," Schwarzenegger quipped.) still reads as English.
    if not _QUOTED.search(text):
        return True
    rest = _WORDS.findall(_QUOTED.sub(" ", text))
    return len(rest) < 2 or _language(rest)


def _unspaced(words: list[str]) -> bool:
    # Chinese, Japanese and Thai put no spaces between words: one run of four letters or more
    # is a sentence there, for an embedder that reads them.
    return len(words) == 1 and len(words[0]) >= 4 and not _latin(words[0][0])


def semantic_refusal(text: str, embedder: Embedder | None = None) -> str | None:
    """Why the semantic tier must not decide on ``text`` (``None`` when it may):

    * ``"script"``: letters outside the Latin script;
    * ``"language"``: another Latin-script language: more words outside the English
      vocabulary than inside it, or more function words of another language than of English
      (or as many, and at least two); names, brands and quoted phrases do not count;
    * ``"no words"``: fewer than two words ("yes", "ok", emoji, a number);
    * ``"code"``: code, markup or data characters, indented lines, a URL or an email address;
    * ``"long"``: longer than the embedder reads (the rest would not be compared).

    ``"script"`` and ``"language"`` are for English embedders: an embedder whose
    ``english_only`` attribute is ``False`` (a multilingual model) gets neither.

    >>> semantic_refusal("How do I block my card?") is None
    True
    >>> [semantic_refusal(t) for t in ("如何冻结我的银行卡？", "¿Cómo bloqueo mi tarjeta?", "👍", "x = a * b")]
    ['script', 'language', 'no words', 'code']
    """
    words = _WORDS.findall(text)
    any_language = getattr(embedder, "english_only", True) is False
    if (
        not any_language
        and not text.isascii()
        and not all(_latin(c) for w in words for c in w if not c.isascii() and c.isalpha())
    ):  # letters only: ½ and ³ are no script
        return "script"
    if len(words) < 2 and not (any_language and _unspaced(words)):
        return "no words"  # "yes", "ok", "2", 👍: nothing the model or the checks can compare
    if _CODE.search(text):
        return "code"
    if not any_language and _foreign(text, words):
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
