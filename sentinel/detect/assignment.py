"""Optimal one-to-one assignment (the Hungarian method, shortest augmenting paths with potentials).

The tracker matches tens of boxes to tens of tracks per frame; greedy best-first matching swapped the ids of
two people walking side by side (the best single pair taken first leaves the other person the wrong track),
and scipy is not a dependency, so this is the textbook O(n^2 m) algorithm in plain Python.
"""

from __future__ import annotations

import numpy as np


def max_weight_matching(weight: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs of positive weight maximising the total weight, each row and column used once."""
    n, m = weight.shape
    if n == 0 or m == 0:
        return []
    transposed = n > m
    cost = (-weight.T if transposed else -weight).astype(np.float64).tolist()
    if transposed:
        n, m = m, n
    inf = float("inf")
    u, v = [0.0] * (n + 1), [0.0] * (m + 1)
    owner, way = [0] * (m + 1), [0] * (m + 1)  # owner[j]: the row (1-based) holding column j; 0: free
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        minv, used = [inf] * (m + 1), [False] * (m + 1)
        while True:  # grow a shortest augmenting path from row i
            used[j0] = True
            i0, delta, j1 = owner[j0], inf, 0
            row = cost[i0 - 1]
            for j in range(1, m + 1):
                if not used[j]:
                    cur = row[j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the path
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    pairs = [(owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j]]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted((r, c) for r, c in pairs if weight[r, c] > 0)
