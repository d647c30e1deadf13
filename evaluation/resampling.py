"""Cluster-bootstrap resampling: the one place that draws whole patients with replacement.

Visits (or recordings) of one patient are not independent, so an interval must come from
resampling *patients* and taking all of each drawn patient's rows (the cluster bootstrap: Field CA,
Welsh AH. J R Stat Soc B 2007;69:369-390). Both ``evaluation.metrics.cluster_bootstrap`` (AUC,
sensitivity and specificity of a model) and ``evaluation.recalibration.weighted_roc_auc`` (a
clinic's verification-weighted AUC) draw their replicates here. Numpy only: the clinic service
imports it on its serving path.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from evaluation.errors import EvaluationError


def cluster_members(clusters) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct cluster labels (sorted, as text) and, for each, the row indices it holds."""
    labels = np.asarray(clusters).astype(str)
    if labels.ndim != 1 or labels.size == 0:
        raise EvaluationError(f"one cluster label per case needed, got shape {labels.shape}")
    names, index = np.unique(labels, return_inverse=True)
    return names, [np.flatnonzero(index == i) for i in range(len(names))]


def cluster_resamples(clusters, *, replicates: int, seed: int) -> Iterator[np.ndarray]:
    """``replicates`` bootstrap samples of row indices: as many clusters as there are, drawn with
    replacement, each bringing all its rows. Seeded: the same clusters give the same samples.

    Examples
    --------
    >>> [sorted(rows.tolist()) for rows in cluster_resamples(["a", "a", "b"], replicates=3, seed=1)]
    [[0, 1, 2], [2, 2], [0, 0, 1, 1]]
    """
    if replicates < 1:
        raise EvaluationError(f"replicates must be >= 1, got {replicates}")
    _names, members = cluster_members(clusters)
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        yield np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))])
