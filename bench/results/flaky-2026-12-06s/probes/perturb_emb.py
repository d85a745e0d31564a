"""pytest plugin: perturb the real embedder's vectors as another CPU might. PERTURB_EMB=seed:scale"""

import os
import zlib

SPEC = os.environ.get("PERTURB_EMB", "")


def pytest_configure(config):
    if not SPEC:
        return
    import numpy as np

    from llm_cost_hooks.embeddings import _onnx

    seed, scale = SPEC.split(":")
    seed, scale = int(seed), float(scale)
    orig = _onnx.OnnxEmbedder.embed

    def embed(self, texts):
        out = np.array(orig(self, texts), dtype=np.float32, copy=True)
        for i, t in enumerate(texts):
            rng = np.random.default_rng([seed, zlib.crc32(t.encode("utf-8", "surrogatepass"))])
            v = out[i] + rng.normal(0.0, scale, size=out.shape[1]).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    _onnx.OnnxEmbedder.embed = embed
