"""Refusals of the hand-written foreign rows (recall) and false refusals of English, per rule,
on the tune and held-out halves; and the time per text.

    PYTHONPATH=<tree> python bench/results/langid-2026-12-07f/evaluate.py [--py3langid SITE] [--rules a,b]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sets

from llm_cost_hooks.cache import _textkind

LANG = ("language", "script")


def current(text: str) -> bool:
    return _textkind.semantic_refusal(text) in LANG


def _before_module() -> types.ModuleType:
    """The rule as it shipped before this change (commit 44e5ee0), loaded from git."""
    src = subprocess.run(
        ["git", "show", "44e5ee0:llm_cost_hooks/cache/_textkind.py"],
        cwd=sets.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mod = types.ModuleType("llm_cost_hooks.cache._textkind_before")
    mod.__package__ = "llm_cost_hooks.cache"
    exec(compile(src, "_textkind_before.py", "exec"), mod.__dict__)
    return mod


def _before() -> Callable[[str], bool]:
    mod = _before_module()
    return lambda text: mod.semantic_refusal(text) in LANG


def rules(py3langid_site: str | None) -> dict[str, Callable[[str], bool]]:
    out: dict[str, Callable[[str], bool]] = {
        "before (word lists)": _before(),
        "after (vocabulary + word lists)": current,
    }
    if py3langid_site:
        sys.path.insert(0, py3langid_site)
        import py3langid

        ident = py3langid.langid.LanguageIdentifier.from_model_file(
            py3langid.langid.MODEL_FILE, norm_probs=True
        )

        def p3(text: str) -> bool:
            return _textkind.semantic_refusal(text) == "script" or ident.classify(text)[0] != "en"

        out["py3langid"] = p3
        ident2 = py3langid.langid.LanguageIdentifier.from_model_file(
            py3langid.langid.MODEL_FILE, norm_probs=True
        )
        ident2.set_languages(
            [
                "en",
                "nl",
                "pl",
                "sv",
                "da",
                "no",
                "fi",
                "cs",
                "sk",
                "hu",
                "ro",
                "tr",
                "id",
                "ms",
                "tl",
                "sw",
                "vi",
                "pt",
                "it",
                "ca",
                "hr",
                "et",
                "lv",
                "lt",
                "af",
                "sl",
                "es",
                "de",
                "fr",
            ]
        )

        def p3r(text: str) -> bool:
            return _textkind.semantic_refusal(text) == "script" or ident2.classify(text)[0] != "en"

        out["py3langid_latin29"] = p3r

        def combo(text: str) -> bool:
            # The vocabulary rule, and py3langid where the evidence is close (one word apart).
            if current(text):
                return True
            if _textkind.semantic_refusal(text) is not None:
                return False
            inside, outside, _, _ = _textkind._evidence(_textkind._WORDS.findall(text))
            return inside - outside <= 1 and ident2.classify(text)[0] != "en"

        out["after + py3langid_latin29 where close"] = combo
    return out


def rate(fn: Callable[[str], bool], texts: list[str]) -> tuple[int, int]:
    return sum(1 for t in texts if fn(t)), len(texts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--py3langid")
    ap.add_argument("--rules")
    ap.add_argument("--tune-only", action="store_true", help="leave the held-out half unread (while tuning)")
    ap.add_argument(
        "--show", action="store_true", help="print the misjudged hand-written rows (tune half only)"
    )
    args = ap.parse_args()
    foreign, english = sets.hand_written()
    f_tune, f_held = sets.split(foreign)
    e_tune, e_held = sets.split(english)
    dev = sets.dev_english()
    dev_tune: dict[str, list[str]] = {}
    dev_held: dict[str, list[str]] = {}
    for name, texts in dev.items():
        dev_tune[name], dev_held[name] = sets.split(texts)
    old_foreign = [t for _, t in sets.cachetext_foreign()]
    chosen = rules(args.py3langid)
    if args.rules:
        chosen = {k: v for k, v in chosen.items() if k in args.rules.split(",")}
    for name, fn in chosen.items():
        print(f"== {name}")
        for half, fr, en, dv in (("tune", f_tune, e_tune, dev_tune), ("held-out", f_held, e_held, dev_held)):
            if half == "held-out" and args.tune_only:
                continue
            r, n = rate(fn, [t for _, t in fr])
            missed = Counter(lang for lang, t in fr if not fn(t))
            er, en_n = rate(fn, [t for _, t in en])
            dv_r = {k: rate(fn, v) for k, v in dv.items()}
            tot_r = sum(a for a, _ in dv_r.values())
            tot_n = sum(b for _, b in dv_r.values())
            print(
                f"  {half:8s} foreign refused {r}/{n} ({100 * r / n:.1f} %) missed {dict(missed)}"
                f"\n           hand-written English refused {er}/{en_n}; dev English refused {tot_r}/{tot_n}"
                f" ({100 * tot_r / tot_n:.2f} %) " + " ".join(f"{k}={a}/{b}" for k, (a, b) in dv_r.items())
            )
            if args.show and half == "tune":
                for lang, t in fr:
                    if not fn(t):
                        print(f"      kept   {lang}: {t}")
                for kind, t in en:
                    if fn(t):
                        print(f"      refused en/{kind}: {t}")
                for k, v in dv.items():
                    bad = [t for t in dev_tune[k] if fn(t)]
                    for t in bad[:8]:
                        print(f"      refused {k}: {t}")
        r, n = rate(fn, old_foreign)
        print(f"  es/de/fr rows the shipped rule was written on: {r}/{n}")
    # Time per text: all rules interleaved, 5 rounds over the same 3,000 texts (Banking77 test
    # and the hand-written rows), median and range of the per-text mean.
    sample = dev["banking77_test"][:2700] + [t for _, t in foreign] + [t for _, t in english]
    times: dict[str, list[float]] = {k: [] for k in chosen}
    for _ in range(5):
        for name, fn in chosen.items():
            t0 = time.perf_counter()
            for t in sample:
                fn(t)
            times[name].append((time.perf_counter() - t0) / len(sample) * 1e6)
    for name, ts in times.items():
        print(
            f"  {name}: {statistics.median(ts):.2f} us/text (range {min(ts):.2f}-{max(ts):.2f}, 5 rounds, {len(sample)} texts)"
        )


if __name__ == "__main__":
    main()
