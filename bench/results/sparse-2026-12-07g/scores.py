from llm_cost_hooks.cache import DecisionPolicy

p = DecisionPolicy()
cases = {
    "repeated070": ([0.70, 0.69, 0.69], [True] * 3),
    "sparse3_075": ([0.75, 0.74, 0.73], [True] * 3),
    "sparse3_080": ([0.80, 0.79, 0.78], [True] * 3),
    "sparse3_090": ([0.90, 0.89, 0.88], [True] * 3),
    "sparse3_095": ([0.95, 0.94, 0.93], [True] * 3),
    "sparse3_far": ([0.75, 0.74, 0.73, 0.3, 0.2], [True] * 3 + [False] * 2),
    "full_075": ([0.75, 0.74, 0.73] + [0.70] * 7, [True] * 3 + [False] * 7),
    "full_075b": ([0.75, 0.74, 0.73] + [0.60] * 7, [True] * 3 + [False] * 7),
    "dense10_060": ([0.6 - 0.002 * i for i in range(10)], [True] * 10),
    "dense10_080": ([0.8 - 0.002 * i for i in range(10)], [True] * 10),
}
for k, (s, e) in cases.items():
    print(f"{k:14s} {p.score(s, e):.4f}")
