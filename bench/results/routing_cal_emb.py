"""The router's default embedder with each text's vector kept on disk between runs (the
same vectors: it embeds one text per call), for the routing_cal scripts."""

import os
import pickle
from pathlib import Path
from typing import Any


def cached_embedder() -> tuple[Any, Any]:
    """(embedder, save): ``save()`` writes the vectors seen so far back to the cache file
    (``EMB_CACHE``, default bench/.cache/routecal_emb.pkl)."""
    from bench import bench_routing as b
    from llm_cost_hooks.embeddings import default_embedder

    emb = b._CachedEmbedder(default_embedder(int8_matmul=True))
    path = Path(os.environ.get("EMB_CACHE", "bench/.cache/routecal_emb.pkl"))
    if path.exists():
        emb._cache = pickle.loads(path.read_bytes())

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(emb._cache))

    return emb, save
