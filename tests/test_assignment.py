"""max_weight_matching against brute force on small random matrices (with zero = not allowed), and its
rectangular and empty cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sentinel.detect.assignment import max_weight_matching


def brute_force_best(weight: np.ndarray) -> float:
    n, m = weight.shape
    best = 0.0
    if n <= m:
        for cols in itertools.permutations(range(m), n):
            best = max(best, sum(max(weight[r, c], 0.0) for r, c in enumerate(cols)))
    else:
        for rows in itertools.permutations(range(n), m):
            best = max(best, sum(max(weight[r, c], 0.0) for c, r in enumerate(rows)))
    return best


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 6), (6, 4), (5, 5), (2, 7)])
def test_it_finds_the_best_total_weight(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for _ in range(30):
        weight = rng.uniform(0, 1, shape) * (rng.uniform(0, 1, shape) > 0.4)  # about 40% not allowed
        pairs = max_weight_matching(weight)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        assert all(weight[r, c] > 0 for r, c in pairs)
        assert sum(weight[r, c] for r, c in pairs) == pytest.approx(brute_force_best(weight))


def test_it_beats_greedy_where_greedy_swaps_two_neighbours() -> None:
    # two walkers side by side: the best single pair (0, 1) would leave row 1 only its worse track
    weight = np.array([[0.6, 0.7], [0.0, 0.65]])
    assert max_weight_matching(weight) == [(0, 0), (1, 1)]


def test_empty_and_all_forbidden() -> None:
    assert max_weight_matching(np.zeros((0, 3))) == []
    assert max_weight_matching(np.zeros((3, 0))) == []
    assert max_weight_matching(np.zeros((2, 2))) == []
