"""How often would a stricter 'scope' contrast veto same-intent nearest neighbours (lost
hits) and different-intent ones (prevented false hits)?

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=. python bench/results/firsthour-2026-12-07/scope_rule_pairs.py

Run on the code before the rule (on this branch the rule's pairs are already flagged, so it
counts 0 new vetoes).
"""

import numpy as np

from bench.bench_cache import _embed_cached, _intent_sets
from llm_cost_hooks.cache._contrast import _FRAMING, _stem, contrast_flags, view

PREP = {"for", "to", "from", "in", "on", "at", "with", "about", "via", "by", "into", "of"}


def tail_qualifier(a, b, min_words):
    extra_a, extra_b = a.content - b.content, b.content - a.content
    if extra_b or len(extra_a - _FRAMING) < min_words:
        return False
    low = a.lower
    for i, t in enumerate(low):
        if t in PREP:
            after = {_stem(w) for w in low[i + 1 :]} & a.content
            if after and after <= extra_a and (extra_a - _FRAMING) <= after:
                return True
    return False


def plain(a, b, n):
    ea, eb = a.content - b.content, b.content - a.content
    return (len(ea - _FRAMING) >= n and not eb) or (len(eb - _FRAMING) >= n and not ea)


rules = {
    "plain>=2": lambda a, b: plain(a, b, 2),
    "prep-tail>=2": lambda a, b: tail_qualifier(a, b, 2) or tail_qualifier(b, a, 2),
}
for name, (tr, trl, te, tel) in _intent_sets(False).items():
    vtr, vte = _embed_cached(tr), _embed_cached(te)
    sims = vte @ vtr.T
    nn = sims.argmax(1)
    best = sims.max(1)
    for lo in (0.7, 0.8):
        sel = np.where(best >= lo)[0]
        same = [i for i in sel if tel[i] == trl[nn[i]]]
        diff = [i for i in sel if tel[i] != trl[nn[i]]]

        def cnt(idx, rule):
            n = 0
            for i in idx:
                q, s = te[i], tr[nn[i]]
                if contrast_flags(q, s):
                    continue
                n += rule(view(q), view(s))
            return n

        base_same = sum(not contrast_flags(te[i], tr[nn[i]]) for i in same)
        base_diff = sum(not contrast_flags(te[i], tr[nn[i]]) for i in diff)
        print(
            f"{name} cos>={lo}: nearest same intent {len(same)} (unvetoed {base_same}), different {len(diff)} (unvetoed {base_diff})"
        )
        for rn, r in rules.items():
            print(f"   {rn}: newly vetoes {cnt(same, r)} same-intent, {cnt(diff, r)} different-intent")

print("examples")
for name, (tr, trl, te, tel) in _intent_sets(False).items():
    vtr, vte = _embed_cached(tr), _embed_cached(te)
    sims = vte @ vtr.T
    nn = sims.argmax(1)
    best = sims.max(1)
    for i in np.where(best >= 0.7)[0]:
        q, s = te[i], tr[nn[i]]
        if not contrast_flags(q, s) and rules["prep-tail>=2"](view(q), view(s)):
            print(name, tel[i] == trl[nn[i]], round(float(best[i]), 3), repr(q), "|", repr(s))
