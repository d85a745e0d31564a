"""The hand-written IVF index the embedded cache used before it moved to usearch: the
nearest-neighbour benchmark's anchor (``bench/bench_ann.py``). Not used by the package."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from llm_cost_hooks.cache._embedded import _row_dots, _Slab, _top_k


class _IvfConfig:
    kmeans_iters = 10
    train_per_list = 40
    seed = 0


def _nearest_centroid(mat: Any, centroids: Any) -> Any:
    """For each row of ``mat`` the index of its most similar centroid (chunked: the
    similarity block of 100k rows x 316 lists would otherwise be 126 MB)."""
    import numpy as np

    out = np.empty(len(mat), np.int64)
    for i in range(0, len(mat), 8192):
        out[i : i + 8192] = np.argmax(mat[i : i + 8192] @ centroids.T, axis=1)
    return out


def _kmeans(mat: Any, nlist: int, cfg: Any) -> Any:
    """Spherical k-means (unit centroids, dot-product assignment) on a seeded sample."""
    import numpy as np

    rng = np.random.default_rng(cfg.seed)
    size = min(len(mat), nlist * cfg.train_per_list)
    sample = mat[np.sort(rng.choice(len(mat), size, replace=False))] if size < len(mat) else mat
    centroids = sample[rng.choice(len(sample), nlist, replace=False)].astype(np.float32)
    for _ in range(cfg.kmeans_iters):
        assign = _nearest_centroid(sample, centroids)
        order = np.argsort(assign, kind="stable")
        counts = np.bincount(assign, minlength=nlist)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        used = counts > 0  # an empty list keeps its previous centroid
        sums = np.add.reduceat(sample[order], starts[used], axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids[used] = sums / np.maximum(norms, 1e-12)
    return centroids


class _Ivf:
    """Inverted file: centroids and, per centroid, a slab of the vectors nearest to it."""

    __slots__ = ("centroids", "lists", "where")

    def __init__(self, centroids: Any, ids: list[str], mat: Any) -> None:
        import numpy as np

        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        dim = self.centroids.shape[1]
        assign = _nearest_centroid(mat, self.centroids) if len(mat) else np.zeros(0, np.int64)
        order = np.argsort(assign, kind="stable")
        bounds = np.searchsorted(assign[order], np.arange(len(self.centroids) + 1))
        self.lists: list[_Slab] = []
        for j in range(len(self.centroids)):
            members = order[bounds[j] : bounds[j + 1]]
            self.lists.append(_Slab(dim, mat[members], [ids[i] for i in members.tolist()]))
        self.where: dict[str, int] = {ids[i]: int(assign[i]) for i in range(len(ids))}

    def add(self, entry_id: str, vec: Any) -> None:
        import numpy as np

        j = int(np.argmax(_row_dots(self.centroids, vec)))
        old = self.where.get(entry_id)
        if old is not None and old != j:
            self.lists[old].remove(entry_id)
        self.where[entry_id] = j
        self.lists[j].add(entry_id, vec)

    def remove(self, entry_id: str) -> None:
        j = self.where.pop(entry_id, None)
        if j is not None:
            self.lists[j].remove(entry_id)

    def top(self, vec: Any, k: int, nprobe: int) -> tuple[list[str], Any]:
        """The ``nprobe`` nearest non-empty lists (more if they hold fewer than ``k``
        vectors), each scored exactly; the best ``k`` of those candidates."""
        import numpy as np

        order = np.argsort(-_row_dots(self.centroids, vec))
        probed: list[_Slab] = []
        scores = []
        total = 0
        for j in order.tolist():
            slab = self.lists[j]
            if slab.n == 0:
                continue
            probed.append(slab)
            scores.append(_row_dots(slab.view(), vec))
            total += slab.n
            if len(probed) >= nprobe and total >= k:
                break
        if not probed:
            return [], np.zeros(0, np.float32)
        sims = np.concatenate(scores)
        idx = _top_k(sims, k)
        offsets = np.cumsum([0] + [s.n for s in probed])
        which = np.searchsorted(offsets, idx, side="right") - 1
        ids = [probed[w].ids[i - offsets[w]] for w, i in zip(which.tolist(), idx.tolist())]
        return ids, sims[idx]

    def all(self) -> tuple[list[str], Any]:
        import numpy as np

        ids = [i for slab in self.lists for i in slab.ids]
        return ids, np.concatenate([slab.view() for slab in self.lists])


class IvfReference:
    """2 sqrt(n) lists, 16 probes: the previous defaults."""

    def __init__(self, base: Any, nprobe: int = 16) -> None:
        nlist = max(1, round(2.0 * math.sqrt(len(base))))
        self.nprobe = nprobe
        ids = [str(i) for i in range(len(base))]
        self.ivf = _Ivf(_kmeans(base, nlist, _IvfConfig()), ids, base)

    def search(self, q: Any, k: int) -> Any:
        ids, _ = self.ivf.top(q, k, self.nprobe)
        return np.array([int(i) for i in ids], np.int64)
