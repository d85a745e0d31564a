"""The long shadow stream under the default policy with route train's choice among candidates
replaced by the ridge candidate alone (is the choice what makes the stream's calibrated
point fall short of its promise?):

    LLM_COST_HOOKS_DATA_DIR=/work/shared/data PYTHONPATH=. python bench/results/routing_shadow_dr_ridge_only.py 0,1,2,3,4
"""

import json
import os
import sys
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("EMB_CACHE", "bench/.cache/routerbench_emb.pkl")
import llm_cost_hooks.routing._train as T
from bench import bench_routing as b
from bench.results.routing_cal_emb import cached_embedder
from llm_cost_hooks.routing._model import RouterModel
from llm_cost_hooks.routing._shadow import simulate_shadow
from llm_cost_hooks.routing._strategies import calibrate_points


def ridge_only(
    data, embedder, x, target, *, folds=5, kind="ridge", group_cols=0, group_shrink=30.0, weights=None, **_
):
    groups = {"group_cols": group_cols, "group_shrink": group_shrink} if group_cols else {}
    base, q, c = RouterModel.cross_fit(data, embedder, x, folds=folds, kind=kind, **groups)
    point = calibrate_points(
        data.quality, data.cost, q, c, data.tiers, target, texts=data.prompts, weights=weights
    )
    base.info = dict(base.info, candidate="ridge")
    return base, q, c, point


T.cross_fit_select = ridge_only
emb, save = cached_embedder()
data = b._shadow_stream_data()
for seed in map(int, sys.argv[1].split(",")):
    t0 = time.time()
    sim = simulate_shadow(
        data,
        emb,
        seed=seed,
        target=b.shadow_target(data, seed),
        checkpoints=b.SHADOW_STREAM_CHECKPOINTS,
        **b.SHADOW_POLICY,
    )
    print(
        json.dumps({"seed": seed, "policy": {"ridge_only": True}, "seconds": round(time.time() - t0), **sim}),
        flush=True,
    )
