"""Routing: the saved router users ship, scored on held-out real outcomes, and the
routing decision overhead.

Every quality/cost row comes from the path a user takes: per seed, the outcome set is
split 70/30 (stratified by task when known), both parts are written in the documented
long form and read back (``load_long``), ``train_router`` (what ``llm-cost route train``
runs) fits, cross-fits and calibrates the router and saves it to a directory, and
``evaluate_router`` (``llm-cost route eval --router DIR``) loads that directory and routes
the test rows exactly as deployed. Nothing is tuned on the test rows.

* RouterBench layout (11 real models; ARC-Challenge, Winogrande, MBPP), 5 seeds: target
  >= 95% of gpt-4-1106-preview's quality at <= 25% of its cost, and cheaper than a
  task-name lookup table (the tier per task, calibrated to the same target on the same
  training rows).
* GSM8K (RouteLLM: Mixtral-8x7B vs GPT-4-1106, contaminated prompts dropped) and
  MT-Bench (GPT-4-judge scores of the same two models), 5 seeds: the router's calibrated
  point against random mixing of the two models at the same quality.
* Shadow learning (GSM8K): a stream that starts with no labels, see
  :func:`llm_cost_hooks.routing.simulate_shadow`.
* Overhead: the decision on long templated prompts (text selection + embedding + ridge),
  against the raw-text decision in the same run; on 4-8k-token prompts behind a shared
  prefix, against the same router without its prefix memo; rules; the RoutedChatModel
  wrapper.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._common import Row, percentile, time_per_call

BENCH = "routing"
_UNITS_RE = re.compile(r"\w+|[^\w\s]")
QUALITY_SHARE = 0.95
SEEDS = (0, 1, 2, 3, 4)
# Confidences the saved router is calibrated at (QualityTarget): 0.5 aims at the share
# exactly; higher asks for that one-sided lower confidence bound of the quality gap on the
# cross-fitted calibration rows, with the promise judged on as many requests as the test
# file holds (its size is the horizon; its content is never seen).
CONFIDENCES = (0.5, 0.9)
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
GPT4 = "gpt-4-1106-preview"


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load unknown"
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def _data_dir() -> Path:
    env = os.environ.get("LLM_COST_HOOKS_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


class _CachedEmbedder:
    """The same embedder, each distinct text embedded once per bench run (the router's
    int8-matmul embedder embeds one text per call, so a cached vector is the vector)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Any) -> np.ndarray:
        out = []
        for t in texts:
            v = self._cache.get(t)
            if v is None:
                v = self._cache[t] = np.asarray(self.inner.embed_one(t), dtype=np.float32)
            out.append(v)
        return np.stack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def saved_router_run(
    data: Any, embedder: Any, seed: int, strong: str, confidence: float, workdir: Path, kind: str = "ridge"
) -> dict[str, Any]:
    """One seed through the user's path; returns the test report and the promise."""
    from llm_cost_hooks.routing import QualityTarget
    from llm_cost_hooks.routing._data import load_long, write_long
    from llm_cost_hooks.routing._train import evaluate_router, train_router

    tr, te = data.split(0.3, seed=seed)
    d = workdir / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    train = load_long(write_long(tr, d / "train.csv.gz"))
    test = load_long(write_long(te, d / "test.csv.gz"))
    out = d / f"router-{kind}-{confidence:g}"
    router = train_router(
        train,
        embedder,
        target=QualityTarget(
            share=QUALITY_SHARE,
            of=strong,
            confidence=confidence,
            horizon=len(test) if confidence > 0.5 else None,
        ),
        kind=kind,
        out=out,
    )  # type: ignore[arg-type]
    report = evaluate_router(out, test, embedder=embedder, train=train)
    return {
        "report": report,
        "promise": router.operating_point,
        "train": train,
        "test": test,
        "candidate": router.model.info.get("candidate", kind),
    }


def _share(report: Any, name: str, strong: str) -> tuple[float, float]:
    s = report.singles[strong]
    p = report.result(name).calibrated
    return p.quality / s.quality, p.cost / s.cost


def _curve_cost_at(report: Any, name: str, strong: str, share: float = QUALITY_SHARE) -> float:
    """The cheapest single knob of ``name``'s curve swept on the test rows that reaches
    ``share`` of the strong tier's quality, as a share of its cost (hindsight: what the
    learned ranking is worth, calibration apart); nan when no knob reaches it."""
    s = report.singles[strong]
    costs = [p.cost / s.cost for p in report.result(name).points if p.quality >= share * s.quality]
    return min(costs) if costs else float("nan")


def _routerbench(embedder: Any, quick: bool, rows: list[Row], workdir: Path) -> None:
    from llm_cost_hooks.routing import load_routerbench

    path = _data_dir() / "routing" / "routerbench_train"
    if not path.is_dir():
        print(f"[routing] RouterBench data not found at {path}; skipping its rows", file=sys.stderr)
        return
    data = load_routerbench(path)
    if quick:
        data = data.subset(np.random.default_rng(0).permutation(len(data))[:600])
    for confidence in CONFIDENCES:
        met = below_table = 0
        details = []
        for seed in SEEDS:
            t0 = time.perf_counter()
            run = saved_router_run(data, embedder, seed, GPT4, confidence, workdir / "routerbench")
            rep = run["report"]
            q, c = _share(rep, "saved-router", GPT4)
            tq, tc = _share(rep, "task-table", GPT4)
            hq, htc = _curve_cost_at(rep, "saved-router", GPT4), _curve_cost_at(rep, "task-table", GPT4)
            # The headroom: an oracle that knows every outcome, on the same sweep.
            oracle = _curve_cost_at(rep, "oracle", GPT4)
            ok = q >= QUALITY_SHARE and c <= 0.25
            cheaper = c < tc and q >= min(tq, QUALITY_SHARE)
            met += ok
            below_table += cheaper
            details.append(
                f"seed {seed}: {q:.1%} at {c:.1%} (table {tq:.1%} at {tc:.1%}; saved: {run['candidate']}); "
                f"curve at 95%: {hq:.1%} (table {htc:.1%}; oracle {oracle:.1%})"
            )
            rows.append(
                Row(
                    BENCH,
                    f"routerbench saved router @conf {confidence:g} seed {seed}: cost share of gpt-4",
                    100 * c,
                    "% of gpt-4 cost",
                    "task-name table cost",
                    100 * tc,
                    ">=95% quality at <=25% cost, below the table",
                    ok=bool(ok and cheaper),
                    note=f"quality {q:.2%} of gpt-4 (table {tq:.2%}); promised on train {run['promise'].quality:.4f} "
                    f"(lower bound {run['promise'].quality_low or 0:.4f}) "
                    f"at ${run['promise'].cost:.6f}; saved candidate: {run['candidate']}; "
                    f"hindsight, cheapest knob reaching 95% on the test rows: "
                    f"{hq:.1%} (table {htc:.1%}, oracle {oracle:.1%}); {len(run['train'])} train / "
                    f"{len(run['test'])} test rows; "
                    f"{time.perf_counter() - t0:.0f}s",
                )
            )
        rows.append(
            Row(
                BENCH,
                f"routerbench saved router @conf {confidence:g}: seeds meeting >=95% at <=25%",
                met,
                f"of {len(SEEDS)} seeds",
                "seeds",
                float(len(SEEDS)),
                "5 of 5",
                ok=met == len(SEEDS),
                note=f"below the task table on {below_table} of {len(SEEDS)}; " + "; ".join(details),
            )
        )


def _random_mix_cost(rep: Any, weak: str, strong: str, quality: float) -> float:
    w, s = rep.singles[weak], rep.singles[strong]
    p = min(max((quality - w.quality) / (s.quality - w.quality), 0.0), 1.0) if s.quality != w.quality else 1.0
    return w.cost + p * (s.cost - w.cost)


def _two_model(name: str, data: Any, embedder: Any, rows: list[Row], workdir: Path) -> None:
    for confidence in CONFIDENCES:
        above = 0
        details = []
        for seed in SEEDS:
            run = saved_router_run(data, embedder, seed, GPT4, confidence, workdir / name)
            rep = run["report"]
            q, c = _share(rep, "saved-router", GPT4)
            p = rep.result("saved-router").calibrated
            rand = _random_mix_cost(rep, MIXTRAL, GPT4, p.quality)
            rand95 = _random_mix_cost(rep, MIXTRAL, GPT4, QUALITY_SHARE * rep.singles[GPT4].quality)
            s_cost = rep.singles[GPT4].cost
            ok = q >= QUALITY_SHARE and p.cost < rand
            above += ok
            details.append(
                f"seed {seed}: {q:.1%} at {c:.1%} (random mix at that quality {rand / s_cost:.1%})"
            )
            rows.append(
                Row(
                    BENCH,
                    f"{name} saved router @conf {confidence:g} seed {seed}: cost share of GPT-4",
                    100 * c,
                    "% of GPT-4 cost",
                    "random mix at the same quality",
                    100 * rand / s_cost,
                    ">=95% quality, below random mixing",
                    ok=bool(ok),
                    note=f"quality {q:.2%} of GPT-4; GPT-4 calls {p.strong_share:.1%}; random mix at 95%: "
                    f"{rand95 / s_cost:.1%}; {len(run['train'])} train / {len(run['test'])} test rows",
                )
            )
        rows.append(
            Row(
                BENCH,
                f"{name} saved router @conf {confidence:g}: seeds above random mixing at >=95%",
                above,
                f"of {len(SEEDS)} seeds",
                "seeds",
                float(len(SEEDS)),
                "5 of 5",
                ok=above == len(SEEDS),
                note="; ".join(details),
            )
        )


def _gsm8k_data(quick: bool) -> Any:
    from llm_cost_hooks.routing import load_routellm

    path = _data_dir() / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    if not path.is_file():
        print(f"[routing] RouteLLM GSM8K data not found at {path}; skipping its rows", file=sys.stderr)
        return None
    data = load_routellm(path, price_models={MIXTRAL: "together_ai/" + MIXTRAL})
    if quick:
        data = data.subset(np.random.default_rng(0).permutation(len(data))[:500])
    return data


def _mtbench_data() -> Any:
    from llm_cost_hooks.routing import load_mtbench

    path = _data_dir() / "routing" / "routellm_gsm8k_mtbench"
    if not (path / "mt_bench_question.jsonl.gz").is_file():
        print(f"[routing] RouteLLM MT-Bench data not found at {path}; skipping its rows", file=sys.stderr)
        return None
    return load_mtbench(path, price_models={MIXTRAL: "together_ai/" + MIXTRAL})


# The exploration policy the shadow rows replay: ShadowMode's default (its arguments of the
# same names). A request the strong tier answered is checked against the cheap tier (a cheap
# call, 2-5 % of GPT-4's price here) at ``cheap_share``; one the cheap tier answered is
# checked against the strong tier (a full GPT-4 call) at ``share``.
SHADOW_POLICY: dict[str, Any] = {"share": 0.06, "cheap_share": 0.3}
SHADOW_FLAT: dict[str, Any] = {"share": 0.3}
SHADOW_CHECKPOINTS = (100, 200, 300, 400, 600, 800, 915)
# The confidence the stream's routers are calibrated at: what a user ships.
SHADOW_CONFIDENCE = 0.9


def shadow_target(data: Any, seed: int) -> Any:
    """The stream's target: 95 % of GPT-4's quality at :data:`SHADOW_CONFIDENCE`, judged on
    as many requests as the held-out rows of ``seed`` hold (their number, never their content)."""
    from llm_cost_hooks.routing import QualityTarget

    _, test = data.split(0.3, seed=seed)
    return QualityTarget(share=QUALITY_SHARE, of=GPT4, confidence=SHADOW_CONFIDENCE, horizon=len(test))


# A longer real stream of the same two models: RouterBench's prompts (ARC-Challenge,
# Winogrande, MBPP; its Mixtral-8x7B-chat is the instruct model served by Together, as in
# RouteLLM's file) followed by GSM8K's, each row once: 3,512 prompts, 2,458 streamed and
# 1,054 held out per seed (stratified by task). Costs are each source's real dollars.
SHADOW_STREAM_CHECKPOINTS = (200, 400, 800, 1200, 1600, 2000, 2458)


def _shadow_stream_data() -> Any:
    from llm_cost_hooks.routing import load_routerbench
    from llm_cost_hooks.routing._data import OutcomeDataset

    path = _data_dir() / "routing" / "routerbench_train"
    gsm8k = _gsm8k_data(False)
    if not path.is_dir() or gsm8k is None:
        print(
            f"[routing] RouterBench data not found at {path}; skipping the long shadow stream",
            file=sys.stderr,
        )
        return None
    rb = load_routerbench(path).select_tiers(["mistralai/mixtral-8x7b-chat", GPT4])
    return OutcomeDataset(
        prompts=rb.prompts + gsm8k.prompts,
        tiers=[MIXTRAL, GPT4],
        quality=np.vstack([rb.quality, gsm8k.quality[:, [gsm8k.index(MIXTRAL), gsm8k.index(GPT4)]]]),
        cost=np.vstack([rb.cost, gsm8k.cost[:, [gsm8k.index(MIXTRAL), gsm8k.index(GPT4)]]]),
        features=[str(f) for f in rb.features or [""] * len(rb)] + ["gsm8k"] * len(gsm8k),
        source="routerbench+gsm8k",
    )


# How a checkpoint's cost at 95 % quality is read (see ``_shadow``).
_SHADOW_READINGS = (
    ("hull", "hull cost at 95%", "hull_total_share", "hull_cost_share"),
    ("curve", "curve cost at 95%", "curve_total_share", "curve_cost_share"),
    ("calibrated", "calibrated point @conf 0.9 (>= 95% quality)", "total_share", "cost_share"),
)


def _shadow(data: Any, embedder: Any, quick: bool, rows: list[Row]) -> None:
    """The simulated stream under :data:`SHADOW_POLICY` and, as the anchor, a flat 30 %
    share. Reached = the first checkpoint whose router, plus the exploration spent so
    far, costs within 5 points of the router trained on every stream label, both taken
    at 95 % of GPT-4's quality on the test rows: on the convex hull of each router's
    curve (two knobs mixed by request, as a calibrated router mixes them), at the
    cheapest single point of the curve that reaches 95 % (the knob swept on the test
    rows: what the learned ranking is worth, calibration apart), and at the calibrated
    point as deployed (which must also reach 95 %): every router of the stream and the
    fully-labelled one are calibrated at :data:`SHADOW_CONFIDENCE`, as a user ships them;
    the stream's calibration weighs each pair by 1 / the chance its request was shadowed.
    "Held" = it stays within 5 points at every later checkpoint too."""
    from llm_cost_hooks.routing._shadow import simulate_shadow

    def within(sim: dict[str, Any], p: dict[str, Any], reading: str, total: str, ref: str) -> bool:
        ok = p[total] <= sim["full"][ref] + 0.05
        return ok and (reading != "calibrated" or p["quality_share"] >= QUALITY_SHARE)

    def reached(sim: dict[str, Any], reading: str, total: str, ref: str) -> tuple[Any, bool]:
        pts = sim["points"]
        for k, p in enumerate(pts):
            if within(sim, p, reading, total, ref):
                return p, all(within(sim, later, reading, total, ref) for later in pts[k + 1 :])
        return None, False

    for seed in SEEDS[: 2 if quick else 3]:
        sims = {
            name: simulate_shadow(
                data,
                embedder,
                seed=seed,
                target=shadow_target(data, seed),
                checkpoints=SHADOW_CHECKPOINTS,
                **policy,
            )
            for name, policy in (("policy", SHADOW_POLICY), ("flat", SHADOW_FLAT))
        }
        sim, flat = sims["policy"], sims["flat"]
        full = sim["full"]
        lines = [
            f"{p['requests']} req: {p['labels']} labels ({p['labels_below_1']} weighted up), router {p['router_cost_share']:.1%} (quality "
            f"{p['quality_share']:.1%}), curve@95% {p['curve_cost_share']:.1%}, hull@95% "
            f"{p['hull_cost_share']:.1%}, + exploration {p['exploration_share']:.1%} (answers served so "
            f"far {p['served_share']:.1%})"
            for p in sim["points"]
        ]
        for reading, what, total, ref in _SHADOW_READINGS:
            hit, held = reached(sim, reading, total, ref)
            flat_hit, _ = reached(flat, reading, total, ref)
            rows.append(
                Row(
                    BENCH,
                    f"shadow learning seed {seed}: requests until within 5 points of the fully-labelled "
                    f"router, {what}",
                    float(hit["requests"]) if hit else float("nan"),
                    "requests",
                    "flat 30% share",
                    float(flat_hit["requests"]) if flat_hit else float("nan"),
                    "reached within the stream",
                    ok=hit is not None,
                    note=f"{'held at every later checkpoint' if held else 'not held at every later checkpoint'}; "
                    f"policy {SHADOW_POLICY}; fully-labelled router: {full['quality_share']:.1%} at "
                    f"{full['cost_share']:.1%} of GPT-4's cost, curve@95% {full['curve_cost_share']:.1%}, "
                    f"hull@95% {full['hull_cost_share']:.1%}; reference {full[ref]:.1%}; {sim['stream']} "
                    f"requests, {sim['labels']} labelled (flat: {flat['labels']}); " + "; ".join(lines),
                )
            )


def _shadow_stream(embedder: Any, quick: bool, rows: list[Row]) -> None:
    """:data:`SHADOW_POLICY` on the long stream (:func:`_shadow_stream_data`), every seed,
    calibrated point only. Stated number = the first checkpoint from which every seed's
    router, plus the exploration spent so far, stays within 5 points of the router trained
    on all of its stream's labels, at 95 % of GPT-4's quality or more."""
    from llm_cost_hooks.routing._shadow import simulate_shadow

    data = _shadow_stream_data()
    if data is None:
        return
    seeds = SEEDS[:2] if quick else SEEDS
    marks = SHADOW_STREAM_CHECKPOINTS[::2] if quick else SHADOW_STREAM_CHECKPOINTS
    ok_at: dict[int, list[bool]] = {m: [] for m in marks}
    below = 0  # seed-checkpoints whose calibrated point fell short of 95 % on the test rows
    for seed in seeds:
        t0 = time.perf_counter()
        sim = simulate_shadow(
            data, embedder, seed=seed, target=shadow_target(data, seed), checkpoints=marks, **SHADOW_POLICY
        )
        full = sim["full"]
        for p in sim["points"]:
            ok_at[p["requests"]].append(
                p["quality_share"] >= QUALITY_SHARE and p["total_share"] <= full["cost_share"] + 0.05
            )
            below += p["quality_share"] < QUALITY_SHARE
        last = sim["points"][-1]
        rows.append(
            Row(
                BENCH,
                f"shadow learning, long stream seed {seed}: calibrated point + exploration after "
                f"{last['requests']} requests",
                100 * last["total_share"],
                "% of GPT-4 cost",
                "fully-labelled router",
                100 * full["cost_share"],
                "within 5 points, >= 95% quality",
                ok=bool(ok_at[last["requests"]][-1]),
                note=f"policy {SHADOW_POLICY}; quality {last['quality_share']:.1%}; fully-labelled "
                f"{full['quality_share']:.1%} at {full['cost_share']:.1%}; {sim['stream']} requests, "
                f"{sim['test_rows']} held out; {time.perf_counter() - t0:.0f}s; "
                + "; ".join(
                    f"{p['requests']} req: {p['labels']} labels ({p['labels_below_1']} weighted up, "
                    f"{p.get('calibration_rows_effective', 0):.0f} effective), router "
                    f"{p['router_cost_share']:.1%} (quality {p['quality_share']:.1%}) + exploration "
                    f"{p['exploration_share']:.1%}"
                    for p in sim["points"]
                ),
            )
        )
    held = [m for k, m in enumerate(marks) if all(all(ok_at[later]) for later in marks[k:])]
    rows.append(
        Row(
            BENCH,
            "shadow learning, long stream: requests after which every seed stays within 5 points",
            float(held[0]) if held else float("nan"),
            "requests",
            "stream length",
            float(marks[-1]),
            f"every seed ({len(seeds)}) within 5 points, >= 95% quality",
            ok=bool(held),
            note="seeds within 5 points per checkpoint: "
            + ", ".join(f"{m}: {sum(ok_at[m])}/{len(ok_at[m])}" for m in marks),
        )
    )
    checked = sum(len(v) for v in ok_at.values())
    rows.append(
        Row(
            BENCH,
            "shadow learning, long stream: checkpoints below 95% quality on the test rows",
            100 * below / checked if checked else float("nan"),
            "% of seed-checkpoints",
            "promised at confidence 0.9",
            100 * (1 - SHADOW_CONFIDENCE),
            "at most the promised share",
            ok=checked > 0 and below / checked <= 1 - SHADOW_CONFIDENCE,
            note=f"{below} of {checked} seed-checkpoints below 95% of GPT-4's quality",
        )
    )


def _overhead(embedder: Any, quick: bool, rows: list[Row]) -> None:
    from llm_cost_hooks.langchain import FakeChatModelWithUsage
    from llm_cost_hooks.langchain._routed import RoutedChatModel
    from llm_cost_hooks.routing import (
        HashingEmbedder,
        OutcomeDataset,
        RouteRequest,
        RouterModel,
        Rule,
        RuleRouter,
        TrainedRouter,
        load_routellm,
    )

    small = FakeChatModelWithUsage(model_name="gpt-4o-mini", responses=["The answer is 42."])
    large = FakeChatModelWithUsage(model_name="gpt-4o", responses=["The answer is 42."])
    prompt = (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?"
    )
    rules = RuleRouter(
        [
            Rule(tier="small", feature=["classification"]),
            Rule(tier="large", keywords=["prove", "step by step", "derive"]),
            Rule(tier="large", min_chars=4000),
        ],
        default="small",
    )
    number = 200 if quick else 2000
    request = RouteRequest(prompt, {"feature": "qa"})
    t_rule = time_per_call(lambda: rules.route(request, ["small", "large"]), number=number * 5)
    t_bare = time_per_call(lambda: small.invoke(prompt), number=number // 4, warmup=20)
    routed = RoutedChatModel(tiers={"small": small, "large": large}, strategy=rules)
    t_routed = time_per_call(lambda: routed.invoke(prompt), number=number // 4, warmup=20)
    rows.append(
        Row(
            BENCH,
            "rules decision",
            t_rule * 1e6,
            "us/request",
            "bare wrapped model call",
            t_bare * 1e6,
            "<50 us",
            ok=bool(t_rule * 1e6 < 50),
        )
    )
    rows.append(
        Row(
            BENCH,
            "RoutedChatModel(rules) invoke overhead",
            (t_routed - t_bare) * 1e6,
            "us/request",
            "bare wrapped model call",
            t_bare * 1e6,
            "",
            note="whole wrapper (the router's own LangChain run "
            "+ decision) minus a bare invoke of the same fake model",
        )
    )

    # Trained router: embedding + kNN over the GSM8K prompts (real requests).
    path = _data_dir() / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    if path.is_file():
        data = load_routellm(
            path, cost_per_call={"mistralai/Mixtral-8x7B-Instruct-v0.1": 1e-4, "gpt-4-1106-preview": 1e-3}
        )
    else:
        print(
            "[routing] GSM8K data absent: trained-router overhead measured on a tiny synthetic set",
            file=sys.stderr,
        )
        data = OutcomeDataset(
            prompts=[prompt, "prove it"], tiers=["a", "b"], quality=np.ones((2, 2)), cost=np.ones((2, 2))
        )
    from llm_cost_hooks.routing._model import embed_texts

    train_n = min(len(data), 300 if quick else 1000)
    tmap = {"small": data.tiers[0], "large": data.tiers[1]}
    samples = data.prompts[train_n : train_n + (50 if quick else 300)] or data.prompts[:50]
    load = _load()

    def decision_times(emb: Any) -> tuple[RouterModel, list[float]]:
        m = RouterModel.fit(
            data.subset(np.arange(train_n)),
            emb,
            kind="ridge",
            embeddings=embed_texts(emb, data.prompts[:train_n]),
        )
        router = TrainedRouter(m, embedder=emb, tier_map=tmap)
        for p in samples[:5]:
            router.route(RouteRequest(p), ["small", "large"])
        times = []
        for p in samples:
            t0 = time.perf_counter()
            router.route(RouteRequest(p), ["small", "large"])
            times.append(time.perf_counter() - t0)
        return m, times

    from llm_cost_hooks.embeddings import default_embedder

    # The router's default embedder (int8 matmuls) is the target row; the semantic cache's
    # fp32 vectors are measured the same way, right after, as the reference.
    model, times = decision_times(embedder)
    fp32 = default_embedder() if getattr(embedder, "int8_matmul", False) else None
    _, ref_times = decision_times(fp32) if fp32 is not None else (None, times)
    p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
    r50 = percentile(ref_times, 0.5)
    rows.append(
        Row(
            BENCH,
            "trained router decision p50 (embed+ridge)",
            p50 * 1e3,
            "ms/request",
            "bare wrapped model call",
            t_bare * 1e3,
            "<10 ms",
            ok=bool(p50 * 1e3 < 10),
            note=f"{len(samples)} real GSM8K prompts, {embedder.name}"
            f"{' (fused graph)' if getattr(embedder, 'fused', False) else ''}, router of {train_n} rows; "
            f"p95 {p95 * 1e3:.2f} ms; {load} (2-core box: absolute ms only mean something when idle)",
        )
    )
    if fp32 is not None:
        rows.append(
            Row(
                BENCH,
                "trained router decision p50, fp32 MiniLM (cache's vectors)",
                r50 * 1e3,
                "ms/request",
                "int8-matmul decision (row above)",
                p50 * 1e3,
                "",
                note=f"same prompts and router size, run right after; p95 {percentile(ref_times, 0.95) * 1e3:.2f} ms",
            )
        )
        _interleaved(embedder, fp32, samples, rows, "MiniLM embed p50, int8 matmuls", "fp32 fused graph")
    fused = fp32 if fp32 is not None else embedder
    if getattr(fused, "fused", False):
        from llm_cost_hooks.embeddings import OnnxEmbedder

        _interleaved(
            fused,
            OnnxEmbedder(fused=False, threads=fused.threads),
            samples,
            rows,
            "MiniLM embed p50, fused graph",
            "model file's own graph",
        )
    one = embedder.embed_one(samples[0])
    t_embed = time_per_call(lambda: embedder.embed_one(samples[0]), number=max(number // 20, 20), warmup=5)
    t_model = time_per_call(lambda: model.predict(one), number=number, warmup=20)
    rows.append(
        Row(
            BENCH,
            "trained router: ridge prediction alone",
            t_model * 1e6,
            "us/request",
            "MiniLM embed of the same prompt",
            t_embed * 1e6,
            "",
            note="the decision is the embedding plus this; the embedder is the semantic "
            "cache's offline MiniLM file (int8 matmuls by default for the router); anchor: one "
            f"prompt of {embedder.count_tokens(samples[0]) if hasattr(embedder, 'count_tokens') else '?'} tokens",
        )
    )
    fast = HashingEmbedder(256)
    fmodel = RouterModel.fit(data.subset(np.arange(train_n)), fast, kind="ridge")
    frouter = TrainedRouter(fmodel, embedder=fast, tier_map=tmap)
    ft = time_per_call(
        lambda: frouter.route(RouteRequest(samples[0]), ["small", "large"]), number=number // 2
    )
    rows.append(
        Row(
            BENCH,
            "trained router decision (hashing embedder)",
            ft * 1e3,
            "ms/request",
            "bare wrapped model call",
            t_bare * 1e3,
            "<10 ms",
            ok=bool(ft * 1e3 < 10),
            note="dependency-free fallback embedder (weaker)",
        )
    )


def _long_prompt_decision(embedder: Any, quick: bool, rows: list[Row]) -> None:
    """Decision time on long templated prompts (ARC-Challenge: a ~2,000-character few-shot
    block, then the question): the saved router (template lines dropped, head and tail
    kept) against a router embedding the raw text, interleaved in blocks in this run."""
    from llm_cost_hooks.routing import (
        RouteRequest,
        RouterModel,
        TrainedRouter,
        load_routerbench,
        train_router,
    )
    from llm_cost_hooks.routing._model import embed_texts

    path = _data_dir() / "routing" / "routerbench_train" / "arc_challenge_train.csv.gz"
    if not path.is_file():
        print(f"[routing] {path} not found; skipping the long-prompt decision rows", file=sys.stderr)
        return
    data = load_routerbench(path)
    n_train = 150 if quick else 400
    train = data.subset(np.arange(n_train))
    samples = data.prompts[n_train : n_train + (40 if quick else 150)]
    tiers = data.tiers
    saved = train_router(train, embedder)
    raw = TrainedRouter(
        RouterModel.fit(train, embedder, embeddings=embed_texts(embedder, train.prompts)),
        embedder=embedder,
        knob=0.0,
    )
    pair = (saved, raw)
    best = _interleaved_best(samples, lambda k, p: pair[k].route(RouteRequest(p), tiers))
    p50, raw50 = float(np.median(best[0])), float(np.median(best[1]))
    chars = float(np.median([len(p) for p in samples]))
    load = _load()
    rows.append(
        Row(
            BENCH,
            "saved router decision p50, long templated prompts",
            p50 * 1e3,
            "ms/request",
            "raw-text router decision",
            raw50 * 1e3,
            "<=10 ms",
            ok=bool(p50 * 1e3 <= 10),
            note=f"{len(samples)} ARC-Challenge prompts (median {chars:.0f} chars), router of {n_train} rows, "
            f"{saved.model.info.get('template_lines')} template lines learned; best of 2 interleaved rounds; "
            f"p95 {float(np.quantile(best[0], 0.95)) * 1e3:.2f} ms; {load}",
        )
    )


def _interleaved_best(
    samples: list[str],
    call: Any,
    prepare: Any = None,
    *,
    rounds: int = 2,
    block: int = 25,
    clock: Any = time.perf_counter,
) -> np.ndarray:
    """Best time per prompt of two variants ``call(k, prompt)`` (k = 0, 1), interleaved in
    blocks of ``block`` prompts, the order alternating; each block starts with an untimed
    call (the box is shared, so the ratio is the result). ``prepare(k)`` switches to k."""
    best = np.full((2, len(samples)), np.inf)
    for rnd in range(rounds):
        for b0 in range(0, len(samples), block):
            for k in (0, 1) if (b0 // block + rnd) % 2 == 0 else (1, 0):
                if prepare is not None:
                    prepare(k)
                call(k, samples[b0])
                for i in range(b0, min(b0 + block, len(samples))):
                    t0 = clock()
                    call(k, samples[i])
                    best[k, i] = min(best[k, i], clock() - t0)
    return best


def _shared_prefix_prompts(data: Any, tokens: Any) -> tuple[Any, dict[str, Any]]:
    """GSM8K questions behind two long shared prefixes (a tutor's instructions and a
    few-shot block of other GSM8K problems), one of ~4k and one of ~8k tokens: the
    templated traffic of a real deployment. Returns the dataset and a description."""
    import dataclasses

    shots = data.prompts[:300]
    prefixes = []
    for n_tokens, head in (
        (4000, "You are a careful math tutor."),
        (8000, "You grade and solve math homework."),
    ):
        lines = [
            head,
            "Solve the problem step by step and give the final number on the last line.",
            "Examples:",
        ]
        i = 0
        while tokens.count_text("\n".join(lines), "gpt-4o").tokens < n_tokens and i < len(shots):
            lines.append(f"Example {i + 1}: " + " ".join(shots[i].split()))
            i += 1
        prefixes.append("\n".join(lines))
    rest = data.subset(np.arange(300, len(data)))
    prompts = [prefixes[i % 2] + "\nQuestion: " + q for i, q in enumerate(rest.prompts)]
    sizes = [tokens.count_text(p, "gpt-4o").tokens for p in prefixes]
    return dataclasses.replace(rest, prompts=prompts), {"prefix_tokens": sizes}


def _shared_prefix_decision(embedder: Any, quick: bool, rows: list[Row]) -> None:
    """Decision time of the shipped default router (``train_router`` with the MiniLM int8
    embedder) on 4-8k-token prompts that share a prefix, against the same router with its
    template-prefix memo off (each line of the prompt normalised and hashed), interleaved
    in blocks in this run."""
    from llm_cost_hooks.routing import RouteRequest, load_routellm, train_router
    from llm_cost_hooks.routing import _text as text_mod
    from llm_cost_hooks.tokens import default_counter

    path = _data_dir() / "routing" / "routellm_gsm8k_mtbench" / "gsm8k_responses.csv.gz"
    if not path.is_file():
        print(f"[routing] {path} not found; skipping the shared-prefix decision rows", file=sys.stderr)
        return
    data = load_routellm(path, cost_per_call={MIXTRAL: 1e-4, GPT4: 1e-3})
    long, info = _shared_prefix_prompts(data, default_counter())
    n_train = 150 if quick else 400
    train = long.subset(np.arange(n_train))
    samples = long.prompts[n_train : n_train + (40 if quick else 150)]
    router = train_router(train, embedder)
    selector = router.model.selector
    memo_min = text_mod._MEMO_MIN_CHARS

    def memo(k: int) -> None:  # k = 1: the anchor, no prefix memo (no prefix is long enough)
        text_mod._MEMO_MIN_CHARS = memo_min if k == 0 else 1 << 60

    try:
        best = _interleaved_best(samples, lambda k, p: router.route(RouteRequest(p), long.tiers), memo)
        sel_best = _interleaved_best(samples, lambda k, p: selector.select(p), memo)
    finally:
        text_mod._MEMO_MIN_CHARS = memo_min
    p50, ref50 = float(np.median(best[0])), float(np.median(best[1]))
    s50, sref50 = float(np.median(sel_best[0])), float(np.median(sel_best[1]))
    chars = float(np.median([len(p) for p in samples]))
    load = _load()
    rows.append(
        Row(
            BENCH,
            "saved router decision p50, 4-8k-token prompts with a shared prefix",
            p50 * 1e3,
            "ms/request",
            "same router, prefix memo off",
            ref50 * 1e3,
            "<=10 ms",
            ok=bool(p50 * 1e3 <= 10),
            note=f"{len(samples)} GSM8K questions behind two shared prefixes of {info['prefix_tokens']} tokens "
            f"(median {chars:.0f} chars), router of {n_train} rows, {embedder.name}; text selection alone "
            f"p50 {s50 * 1e3:.3f} ms vs {sref50 * 1e3:.3f} ms without the memo; median per-prompt ratio "
            f"{float(np.median(best[0] / best[1])):.3f}; best of 2 interleaved rounds; "
            f"p95 {float(np.quantile(best[0], 0.95)) * 1e3:.2f} ms; {load}",
        )
    )
    sel_tokens = float(np.median([len(_UNITS_RE.findall(selector.select(p)[0])) for p in samples]))
    _decision_cpu(
        router,
        samples,
        long.tiers,
        rows,
        f"{len(samples)} GSM8K questions behind shared prefixes of {info['prefix_tokens']} tokens; the "
        f"router embeds the question, median {sel_tokens:.0f} words and marks (budget "
        f"{selector.max_tokens})",
    )


def _decision_cpu(router: Any, samples: list[str], tiers: list[str], rows: list[Row], note: str) -> None:
    """CPU time of one decision (this process, all its threads) with the router's embedder
    on one intra-op thread against the default two, interleaved: onnxruntime's second
    thread spins while it waits, which the CPU clock counts."""
    from llm_cost_hooks.embeddings._onnx import OnnxEmbedder
    from llm_cost_hooks.routing import RouteRequest, TrainedRouter

    one = OnnxEmbedder(int8_matmul=True, threads=1)
    if one.name != router.embedder.name:
        return
    pair = (TrainedRouter(router.model, embedder=one), router)
    best = _interleaved_best(
        samples, lambda k, p: pair[k].route(RouteRequest(p), tiers), clock=time.process_time
    )
    c1, c2 = float(np.median(best[0])), float(np.median(best[1]))
    rows.append(
        Row(
            BENCH,
            "saved router decision CPU p50, 4-8k-token prompts, embedder on 1 thread",
            c1 * 1e3,
            "ms CPU/request",
            f"same, {router.embedder.threads} threads (default)",
            c2 * 1e3,
            "<=10 ms",
            ok=bool(c1 * 1e3 <= 10),
            note=f"{note}; process CPU time, best of 2 interleaved rounds; {_load()}",
        )
    )


def _interleaved(a: Any, b: Any, samples: list[str], rows: list[Row], name: str, anchor: str) -> None:
    """Embedder ``a`` against ``b``, same prompts, interleaved in this process in blocks of
    25 prompts (order alternating, 3 rounds, the best per prompt): the box is shared, so the
    ratio is the result, not the milliseconds. Each block starts with an untimed call: the
    other session's threads may still be spinning."""
    pair = (a, b)
    best = _interleaved_best(samples, lambda k, p: pair[k].embed_one(p), rounds=3)
    f50, x50 = float(np.median(best[0])), float(np.median(best[1]))
    cos = [float(a.embed_one(p) @ b.embed_one(p)) for p in samples]
    load = _load()
    rows.append(
        Row(
            BENCH,
            name,
            f50 * 1e3,
            "ms/request",
            anchor,
            x50 * 1e3,
            "",
            note=f"{len(samples)} GSM8K prompts, {a.threads} threads, interleaved; "
            f"median per-prompt ratio {float(np.median(best[0] / best[1])):.3f}; cosine between "
            f"the two: min {min(cos):.7f}, median {float(np.median(cos)):.7f}; {load}",
        )
    )


def run(quick: bool) -> list[Row]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from llm_cost_hooks.embeddings import default_embedder

    # The trained router's default: MiniLM with int8 matmuls (see OnnxEmbedder).
    base = default_embedder(int8_matmul=True)
    embedder = _CachedEmbedder(base)
    rows: list[Row] = []
    parts = os.environ.get(
        "LLM_COST_HOOKS_BENCH_ROUTING_PARTS", "routerbench,gsm8k,mtbench,shadow,shadow-stream,overhead"
    ).split(",")
    with tempfile.TemporaryDirectory(prefix="bench-routing-") as tmp:
        work = Path(tmp)
        if "routerbench" in parts:
            _routerbench(embedder, quick, rows, work)
        gsm8k = _gsm8k_data(quick) if {"gsm8k", "shadow"} & set(parts) else None
        if gsm8k is not None and "gsm8k" in parts:
            _two_model("gsm8k", gsm8k, embedder, rows, work)
        mtbench = _mtbench_data() if "mtbench" in parts else None
        if mtbench is not None:
            _two_model("mt-bench", mtbench, embedder, rows, work)
        if gsm8k is not None and "shadow" in parts:
            _shadow(gsm8k, embedder, quick, rows)
        if "shadow-stream" in parts:
            _shadow_stream(embedder, quick, rows)
    if "overhead" in parts:
        _long_prompt_decision(base, quick, rows)
        _shared_prefix_decision(base, quick, rows)
        _overhead(base, quick, rows)
    return rows
