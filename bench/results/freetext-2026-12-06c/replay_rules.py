"""Candidate serve rules replayed over the hits replay_hits.py saved (a refused hit is not re-streamed)."""

import pickle

for fa in (0.0, 0.05):
    with open(f"hits_{fa}.pkl", "rb") as fh:
        d = pickle.load(fh)
    print("== judge fa", fa)
    rules = {
        "base": lambda r: True,
        "noref": lambda r: r["nref"] == 0,
        "ref<sim-0.05": lambda r: r["ref_max"] < r["sim"] - 0.05,
        "ref<sim": lambda r: r["ref_max"] < r["sim"],
        "score>=.97": lambda r: r["score"] >= 0.97,
        "post>=.5": lambda r: (r["agree"] + 1) / (r["agree"] + r["dis"] + 2) >= 0.5,
        "post>=.7": lambda r: (r["agree"] + 1) / (r["agree"] + r["dis"] + 2) >= 0.7,
        "noref+post.5": lambda r: r["nref"] == 0 and (r["agree"] + 1) / (r["agree"] + r["dis"] + 2) >= 0.5,
        "noref+post.7": lambda r: r["nref"] == 0 and (r["agree"] + 1) / (r["agree"] + r["dis"] + 2) >= 0.7,
        "noref+agree>=3": lambda r: r["nref"] == 0 and r["agree"] >= 3,
        "noref+post.7+agree>=3": lambda r: (
            r["nref"] == 0 and r["agree"] >= 3 and (r["agree"] + 1) / (r["agree"] + r["dis"] + 2) >= 0.7
        ),
    }
    for name, (rows, ntr, nte, nall) in d.items():
        for rn, f in rules.items():
            kept = [r for r in rows if f(r)]
            t = [r for r in kept if r["test"]]
            ws = sum(r["ok"] for r in kept)
            ts = sum(r["ok"] for r in t)
            print(
                f"{name:10} {rn:24} stream {len(kept) / nall:.4f} prec {ws / max(len(kept), 1):.4f} wrong {len(kept) - ws:3} | test {len(t) / nte:.4f} prec {ts / max(len(t), 1):.4f}"
            )
