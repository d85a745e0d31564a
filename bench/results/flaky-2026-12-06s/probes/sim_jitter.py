"""pytest plugin: move the real embedder's similarities as another CPU might, before the cache decides.
SIM_JITTER=up:0.005 | down:0.005 | <seed>:0.005 (a fixed +-amp per pair of texts)"""

import dataclasses
import os
import zlib

SPEC = os.environ.get("SIM_JITTER", "")


def pytest_configure(config):
    if not SPEC:
        return
    from llm_cost_hooks.cache import _core
    from llm_cost_hooks.embeddings._onnx import OnnxEmbedder

    mode, amp = SPEC.split(":")
    amp = float(amp)

    def real(core):
        e = core._embedder
        for _ in range(4):
            if isinstance(e, OnnxEmbedder):
                return True
            e = getattr(e, "inner", None) or getattr(e, "embedder", None) or getattr(e, "_inner", None)
            if e is None:
                return False
        return False

    def delta(a, b):
        if mode == "up":
            return amp
        if mode == "down":
            return -amp
        h = zlib.crc32(f"{mode}\0{a}\0{b}".encode("utf-8", "surrogatepass"))
        return amp if h & 1 else -amp

    orig = _core.CacheCore.decide

    def decide(self, req, neigh, policy):
        if neigh and real(self):
            neigh = [
                dataclasses.replace(
                    n,
                    similarity=min(
                        0.9999, n.similarity + delta(req.query, getattr(n.payload, "query", n.entry_id))
                    ),
                )
                if n.similarity < 0.9999
                else n
                for n in neigh
            ]
        return orig(self, req, neigh, policy)

    _core.CacheCore.decide = decide
