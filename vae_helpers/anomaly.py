"""One-class anomaly detection and out-of-distribution scores, measured by ROC AUC.

The one-class protocol (as in Ruff et al. 2018): one class is "normal", a model is trained on its
training images only, and the whole test set is scored; images of the other classes are the
anomalies. A score is good when anomalies score higher than normal images: its ROC AUC is the
probability that a random anomaly outscores a random normal image (0.5 is chance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_int
from .data import Dataset


@dataclass(frozen=True)
class OneClassSplit:
    """Training images of the normal class, the whole test set, and which test images are anomalies."""

    normal_class: int
    x_train: np.ndarray
    x_test: np.ndarray
    is_anomaly: np.ndarray


def one_class_split(ds: Dataset, normal_class: int) -> OneClassSplit:
    """The one-class task of ``ds`` with ``normal_class`` as the normal data."""
    if not isinstance(ds, Dataset):
        raise ValueError(f"`ds` must be a Dataset from load_dataset. Received: ds={type(ds).__name__}")
    normal_class = check_int("normal_class", normal_class, 0, len(ds.class_names) - 1)
    return OneClassSplit(normal_class, ds.x_train[ds.y_train == normal_class], ds.x_test, ds.y_test != normal_class)


def _check_scores(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray]:
    scores, is_anomaly = np.asarray(scores, dtype="float64"), np.asarray(is_anomaly)
    if scores.ndim != 1 or is_anomaly.shape != scores.shape or is_anomaly.dtype != bool:
        raise ValueError(f"`scores` (n,) and `is_anomaly` (n,) booleans must match. "
                         f"Received: scores.shape={scores.shape}, is_anomaly.shape={is_anomaly.shape}, dtype={is_anomaly.dtype}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"`scores` must be finite. Received: {int(np.sum(~np.isfinite(scores)))} NaN or infinite scores")
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError("`is_anomaly` must contain both anomalies and normal images (ROC AUC compares the two)")
    return scores, is_anomaly


def roc_auc(scores, is_anomaly) -> float:
    """ROC AUC of ``scores`` (higher means more anomalous) for the labels ``is_anomaly``."""
    from sklearn.metrics import roc_auc_score

    scores, is_anomaly = _check_scores(scores, is_anomaly)
    return float(roc_auc_score(is_anomaly, scores))


def roc_curve(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates of every threshold on ``scores``, for plotting."""
    from sklearn.metrics import roc_curve as sk_roc_curve

    scores, is_anomaly = _check_scores(scores, is_anomaly)
    fpr, tpr, _ = sk_roc_curve(is_anomaly, scores)
    return fpr, tpr
