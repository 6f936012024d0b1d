"""Scores of a clustering against labels: pairwise precision, recall, F1 and the ARI."""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    ari: float
    true_pairs: int
    predicted_pairs: int
    shared_pairs: int  # pairs together in both labelings


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def score(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> PairScores:
    """Compare two labelings of the same items, given in the same order."""
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted labels for {len(truth)} true labels")
    both = Counter(zip(predicted, truth))
    pred_sizes = Counter(predicted)
    true_sizes = Counter(truth)
    together = sum(_pairs(n) for n in both.values())
    pred_pairs = sum(_pairs(n) for n in pred_sizes.values())
    true_pairs = sum(_pairs(n) for n in true_sizes.values())
    precision = together / pred_pairs if pred_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = _pairs(len(truth))
    expected = pred_pairs * true_pairs / total if total else 0.0
    maximum = (pred_pairs + true_pairs) / 2
    ari = (together - expected) / (maximum - expected) if maximum != expected else 1.0
    return PairScores(precision, recall, f1, ari, true_pairs, pred_pairs, together)


def pairs_found(predicted: Sequence[Hashable], groups: Sequence[Hashable | None]) -> tuple[int, int]:
    """How many pairs within each labelled group share a predicted cluster, and how many exist.

    Items whose group is None are unlabelled and ignored.
    """
    members: dict[Hashable, list[Hashable]] = {}
    for p, g in zip(predicted, groups):
        if g is not None:
            members.setdefault(g, []).append(p)
    found = total = 0
    for preds in members.values():
        total += _pairs(len(preds))
        found += sum(_pairs(n) for n in Counter(preds).values())
    return found, total
