"""pytest plugin: log how close the real embedder's cache decisions come to their bars. MARGINS=path"""

import json
import os

PATH = os.environ.get("MARGINS", "")
CUR = {"id": None}


def pytest_runtest_setup(item):
    CUR["id"] = item.nodeid


def pytest_configure(config):
    if not PATH:
        return
    from llm_cost_hooks.cache import _core
    from llm_cost_hooks.embeddings._onnx import OnnxEmbedder

    orig = _core.CacheCore._decide_at

    def write(rec):
        with open(PATH, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def real(core):
        e = core._embedder
        for _ in range(4):
            if isinstance(e, OnnxEmbedder):
                return True
            e = getattr(e, "inner", None) or getattr(e, "embedder", None) or getattr(e, "_inner", None)
            if e is None:
                return False
        return False

    def _decide_at(self, req, neigh, policy, last):
        out = orig(self, req, neigh, policy, last)
        try:
            if neigh and real(self):
                sims = [n.similarity for n in neigh]
                same = [n.answer_key == neigh[0].answer_key for n in neigh]
                floor = self.config.learned_min_similarity if self.learning else policy.min_similarity
                rec = {
                    "test": CUR["id"],
                    "q": req.query[:60],
                    "sim": sims[0],
                    "min": max(policy.min_similarity, floor),
                    "kind": policy.kind,
                    "score": policy.score(sims, same),
                    "thr": policy.threshold,
                    "hit": out is not None
                    and not isinstance(out, object.__class__)
                    and hasattr(out, "status"),
                }
                if (
                    policy.kind == "verified"
                    and policy.pair_threshold < 1.0
                    and hasattr(neigh[0].payload, "query")
                ):
                    rec["p"] = self.verifier.probability(
                        req.query, neigh[0].payload.query, neigh[0].similarity
                    )
                    rec["pthr"] = policy.pair_threshold
                write(rec)
        except Exception as exc:  # the probe must not change the outcome
            write({"test": CUR["id"], "err": repr(exc)})
        return out

    _core.CacheCore._decide_at = _decide_at
