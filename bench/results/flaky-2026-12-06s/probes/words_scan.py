import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "tests"))
from test_cache_redis_recovery import WordsEmbedder

e = WordsEmbedder()
own = min(
    float(e.embed_one("how do I reset my card pin" + s) @ e.embed_one("how can I reset my card pin" + s))
    for s in ["", " number 0", " number 1", " number 2", " number 3"]
)
cross = max(
    float(
        e.embed_one(f"how can I reset my card pin number {i}")
        @ e.embed_one(f"how do I reset my card pin number {j}")
    )
    for i in range(4)
    for j in range(4)
    if i != j
)
print(f"{own:.3f} {cross:.3f}")
