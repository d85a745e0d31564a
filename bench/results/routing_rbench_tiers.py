import os
import sys
import time

sys.path.insert(0, "bench/results")
import numpy as np
import routing_rank as rr

from llm_cost_hooks.routing import QualityTarget
from llm_cost_hooks.routing._model import L2_GRID, _fit_ridge_loo, _prior_of, fold_of, group_priors
from llm_cost_hooks.routing._strategies import calibrate_points, pick_tiers

B = 16
GPT4 = rr.GPT4


def parts_fit(shrink=30.0):
    def fit(x, q, c):
        keys = x[:, -B:]
        gk, gq, gc = group_priors(keys, q, c, shrink)
        qa, ca = q.mean(0), c.mean(0)
        wq, mu, qm, _ = _fit_ridge_loo(x, q - _prior_of(keys, gk, gq, qa), L2_GRID)
        wc, _, cm, _ = _fit_ridge_loo(x, c - _prior_of(keys, gk, gc, ca), L2_GRID)

        def pred(z):
            k = z[:, -B:]
            pq = _prior_of(k, gk, gq, qa)
            pc = _prior_of(k, gk, gc, ca)
            rq = (z - mu) @ wq + qm
            rc = (z - mu) @ wc + cm
            return np.concatenate([pq, rq], 1), np.concatenate([pc, rc], 1)

        return pred

    return fit


def cross_fit(fit, sp, folds=5):
    tr, te, xtr, xte = sp["tr"], sp["te"], sp["xtr"], sp["xte"]
    a = np.array([fold_of(p, folds) for p in tr.prompts])
    b = np.array([fold_of(p, folds) for p in te.prompts])
    W = 2 * tr.quality.shape[1]
    oq, oc = np.zeros((len(tr), W)), np.zeros((len(tr), W))
    tq, tc = np.zeros((len(te), W)), np.zeros((len(te), W))
    for k in range(folds):
        pred = fit(xtr[a != k], tr.quality[a != k], tr.cost[a != k])
        oq[a == k], oc[a == k] = pred(xtr[a == k])
        tq[b == k], tc[b == k] = pred(xte[b == k])
    return oq, oc, tq, tc


def blend(Q, C, a, T):
    return np.clip(Q[:, :T] + a * Q[:, T:], 0, 1), np.maximum(C[:, :T] + a * C[:, T:], 0)


def evalpt(sp, oq, oc, tq, tc, conf, active=None, mode="utility"):
    tr, te = sp["tr"], sp["te"]
    if active is not None:
        oq = np.where(active[None], oq, -1.0)
        tq = np.where(active[None], tq, -1.0)
    g, rows = te.tiers.index(GPT4), np.arange(len(te))
    target = QualityTarget(share=0.95, of=GPT4, confidence=conf, horizon=len(te) if conf > 0.5 else None)
    p = calibrate_points(tr.quality, tr.cost, oq, oc, tr.tiers, target, mode=mode, texts=tr.prompts)
    pk = pick_tiers(tq, tc, p, te.prompts)
    sq, sc = te.quality[:, g].mean(), te.cost[:, g].mean()
    trsc = tr.cost[:, g].mean()
    return dict(
        q=te.quality[rows, pk].mean() / sq,
        c=te.cost[rows, pk].mean() / sc,
        pc=p.cost / trsc,
        opt=p.optimism,
        ntiers=len(set(pk.tolist())),
        mix=p.mix,
    )


def task_preds(sp):
    tr, te = sp["tr"], sp["te"]
    ftr, fte = np.array(tr.features), np.array(te.features)
    a = np.array([fold_of(p, 5) for p in tr.prompts])
    oq, oc = np.zeros(tr.quality.shape), np.zeros(tr.cost.shape)
    for k in range(5):
        m = a != k
        for t in set(ftr):
            s = m & (ftr == t)
            oq[(a == k) & (ftr == t)] = tr.quality[s].mean(0)
            oc[(a == k) & (ftr == t)] = tr.cost[s].mean(0)
    tq = np.stack([tr.quality[ftr == t].mean(0) for t in fte])
    tc = np.stack([tr.cost[ftr == t].mean(0) for t in fte])
    # in-sample table (as TaskTable does)
    iq = np.stack([tr.quality[ftr == t].mean(0) for t in ftr])
    ic = np.stack([tr.cost[ftr == t].mean(0) for t in ftr])
    return (oq, oc, tq, tc), (iq, ic, tq, tc)


def make_splits(seeds, min_share):
    from llm_cost_hooks.routing._text import TextSelector

    data = rr.load_routerbench(rr.DATA / "routing" / "routerbench_train")
    emb = rr.CachedEmbedder()
    out = []
    for s in seeds:
        tr, te = data.split(0.3, seed=s)
        sel = TextSelector.learn(tr.prompts, min_share=min_share)
        out.append(
            {
                "seed": s,
                "tr": tr,
                "te": te,
                "xtr": sel.features(emb, tr.prompts),
                "xte": sel.features(emb, te.prompts),
            }
        )
    emb.save()
    return out


if __name__ == "__main__" and sys.argv[1] != "greedy":
    splits = make_splits(
        range(int(sys.argv[1]) if len(sys.argv) > 1 else 5),
        float(sys.argv[2]) if len(sys.argv) > 2 else 0.005,
    )
    print("load", os.getloadavg())
    for sp in splits:
        T = len(sp["tr"].tiers)
        t0 = time.process_time()
        OQ, OC, TQ, TC = cross_fit(parts_fit(30.0), sp)
        OQ1, OC1, TQ1, TC1 = cross_fit(parts_fit(1.0), sp)
        tab_oof, tab_in = task_preds(sp)
        out = []
        for conf in (0.5, 0.9):
            res = {}
            for a in (1.0, 0.5, 0.0):
                res[f"r{a}"] = evalpt(sp, *blend(OQ, OC, a, T), *blend(TQ, TC, a, T), conf)
            res["tmpl1"] = evalpt(sp, *blend(OQ1, OC1, 0.0, T), *blend(TQ1, TC1, 0.0, T), conf)
            res["taskOOF"] = evalpt(sp, *tab_oof, conf)
            res["taskIN"] = evalpt(sp, *tab_in, conf)
            print(
                f"seed {sp['seed']} conf {conf}: "
                + " | ".join(
                    f"{k} {v['q']:.1%}@{v['c']:.1%} (prom {v['pc']:.1%} opt {v['opt']:.3f} nt {v['ntiers']} mix {v['mix']:.2f})"
                    for k, v in res.items()
                ),
                flush=True,
            )
        print("cpu", time.process_time() - t0)


def promise(sp, oq, oc, conf, active, mode="utility"):
    tr = sp["tr"]
    g = tr.tiers.index(GPT4)
    oq = np.where(active[None], oq, -1.0)
    target = QualityTarget(
        share=0.95, of=GPT4, confidence=conf, horizon=len(sp["te"]) if conf > 0.5 else None
    )
    p = calibrate_points(tr.quality, tr.cost, oq, oc, tr.tiers, target, mode=mode, texts=tr.prompts)
    return (p.cost / tr.cost[:, g].mean()) if p.met else 9.0


def greedy(sp, oq, oc, conf, kmax=4, mode="utility"):
    T = len(sp["tr"].tiers)
    g = sp["tr"].tiers.index(GPT4)
    act = np.zeros(T, bool)
    act[g] = True
    out = {}
    for k in range(2, kmax + 1):
        best = None
        for t in range(T):
            if act[t]:
                continue
            a = act.copy()
            a[t] = True
            v = promise(sp, oq, oc, conf, a, mode)
            if best is None or v < best[0]:
                best = (v, a)
        act = best[1]
        out[k] = (best[0], act.copy())
    return out


def main2():
    splits = make_splits(range(int(sys.argv[2])), float(sys.argv[3]))
    conf = float(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "utility"
    print("load", os.getloadavg(), "conf", conf, "mode", mode)
    for sp in splits:
        T = len(sp["tr"].tiers)
        OQ, OC, TQ, TC = cross_fit(parts_fit(30.0), sp)
        OQ1, OC1, TQ1, TC1 = cross_fit(parts_fit(1.0), sp)
        line = []
        for name, (oq, oc, tq, tc) in {
            "r1": blend(OQ, OC, 1.0, T) + blend(TQ, TC, 1.0, T),
            "r.5": blend(OQ, OC, 0.5, T) + blend(TQ, TC, 0.5, T),
            "t1": blend(OQ1, OC1, 0.0, T) + blend(TQ1, TC1, 0.0, T),
        }.items():
            allp = promise(sp, oq, oc, conf, np.ones(T, bool), mode)
            e = evalpt(sp, oq, oc, tq, tc, conf, None, mode)
            line.append(f"{name} all prom {allp:.1%} test {e['q']:.1%}@{e['c']:.1%}")
            for k, (v, a) in greedy(sp, oq, oc, conf, 4, mode).items():
                e = evalpt(sp, oq, oc, tq, tc, conf, a, mode)
                line.append(
                    f"{name} k{k} prom {v:.1%} test {e['q']:.1%}@{e['c']:.1%} [{','.join(t.split('/')[-1][:10] for t, x in zip(sp['tr'].tiers, a) if x)}]"
                )
        print(f"seed {sp['seed']}:\n  " + "\n  ".join(line), flush=True)


if __name__ == "__main__" and sys.argv[1] == "greedy":
    main2()
