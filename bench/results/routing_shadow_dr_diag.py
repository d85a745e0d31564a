"""How far a stream router's calibration estimate is from what it delivers: replays one seed
of the long shadow stream (``routing_shadow_stream.py``'s data and target, default policy),
keeps the last router trained on the stream's labels, and prints its realised quality and
cost on the stream's own requests and on the test rows, its calibrated estimate, and, per
knob, the truth on the stream against the inverse-propensity and doubly robust estimates:

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=. python bench/results/routing_shadow_dr_diag.py SEED DR

(DR: 1 calibrates the stream's routers doubly robust, 0 by inverse-propensity weights.)
"""

import json
import os
import sys

sys.path.insert(0, os.getcwd())
os.environ.setdefault("EMB_CACHE", "bench/.cache/routerbench_emb.pkl")
import numpy as np

import llm_cost_hooks.routing._train as T
from bench import bench_routing as b
from bench.results.routing_cal_emb import cached_embedder
from llm_cost_hooks.routing._shadow import simulate_shadow
from llm_cost_hooks.routing._strategies import choose_tiers, knob_grid, pick_tiers


def main(seed: int, dr: bool) -> None:
    emb, _save = cached_embedder()
    data = b._shadow_stream_data()
    if data is None:
        return
    orig = T.train_router
    last: dict = {}

    def keep_last(ds, *a, **k):  # the stream's routers, not the one on all labels
        r = orig(ds, *a, **k)
        if len(ds) < len(data) * 0.6:
            last["r"], last["ds"] = r, ds
        return r

    T.train_router = keep_last
    target = b.shadow_target(data, seed)
    sim = simulate_shadow(
        data,
        emb,
        seed=seed,
        target=target,
        checkpoints=b.SHADOW_STREAM_CHECKPOINTS,
        doubly_robust=dr,
        **b.SHADOW_POLICY,
    )
    stream, test = data.split(0.3, seed=seed)
    r, ds = last["r"], last["ds"]
    op = r.operating_point
    ref = stream.index(target.of)
    g4 = stream.quality[:, ref].mean()
    for name, d in (("stream", stream), ("test", test)):
        q, c = r.predict_texts(d.prompts)
        p = pick_tiers(q, c, op, d.prompts)
        rows = np.arange(len(d))
        print(
            f"{name}: quality {d.quality[rows, p].mean() / d.quality[:, ref].mean():.4f} of GPT-4's, "
            f"cost {d.cost[rows, p].mean() / d.cost[:, ref].mean():.4f} of GPT-4's"
        )
    print(
        f"calibrated estimate: quality {op.quality / g4:.4f} of the stream's GPT-4 (bound {op.quality_low / g4:.4f}); "
        f"optimism {op.optimism:.4f}; candidate {r.model.info.get('candidate')}"
    )
    print(json.dumps(sim["points"][-1]))
    w = 1.0 / np.array(ds.extra["propensity"])
    ql, cl = r.predict_texts(ds.prompts)
    seen = list(ds.extra.get("unlabelled", ()))
    qs_all, cs_all = r.predict_texts(stream.prompts)
    rows, rl = np.arange(len(stream)), np.arange(len(ds))
    print(
        "knob, truth, IPW, doubly robust (its standard error), cheap share: quality as a share of the stream's GPT-4"
    )
    for k in knob_grid(cl, "utility")[::4]:
        pa = choose_tiers(qs_all, cs_all, k)
        pl = choose_tiers(ql, cl, k)
        ipw = np.average(ds.quality[rl, pl], weights=w)
        drv = se = float("nan")
        if seen:
            qu, cu = r.predict_texts(seen)
            pu = choose_tiers(qu, cu, k)
            phi = np.concatenate(
                [
                    ql[rl, pl] + w * (ds.quality[rl, pl] - ql[rl, pl]),
                    np.clip(qu[np.arange(len(seen)), pu], 0, 1),
                ]
            )
            drv, se = phi.mean(), phi.std() / np.sqrt(len(phi))
        print(
            f"{k:10.4g} {stream.quality[rows, pa].mean() / g4:.4f} {ipw / g4:.4f} {drv / g4:.4f} ({se / g4:.4f}) "
            f"{(pa == 0).mean():.3f}"
        )


main(int(sys.argv[1]), sys.argv[2] == "1")
