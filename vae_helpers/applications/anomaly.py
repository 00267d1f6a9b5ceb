"""One-class anomaly detection and out-of-distribution scores, measured by ROC AUC.

The one-class protocol (as in Ruff et al. 2018): one class is "normal", a model is trained on its
training images only, and the whole test set is scored; images of the other classes are the
anomalies. A score is good when anomalies score higher than normal images: its ROC AUC is the
probability that a random anomaly outscores a random normal image (0.5 is chance).

Scores (higher = more anomalous): :func:`squared_error` of a reconstruction, the negative ELBO or
IWAE bound of a VAE (:mod:`vae_helpers.measures.evaluation`), and :func:`complexity_corrected`, the input
complexity correction of Serrà et al. 2020 for likelihoods that favour simple images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.checks import check_images, check_int, check_unconditional
from ..data.datasets import Dataset

__all__ = ["OneClassSplit", "complexity_corrected", "one_class_scores", "one_class_split", "roc_auc", "roc_curve",
           "squared_error"]


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
    train, is_anomaly = ds.y_train == normal_class, ds.y_test != normal_class
    if not train.any() or is_anomaly.all() or not is_anomaly.any():
        raise ValueError(f"`normal_class` {normal_class} must have training images and the test split must hold both "
                         f"it and other classes; in this (subset of) {ds.name}: {int(train.sum())} training images, "
                         f"{int((~is_anomaly).sum())} of {len(is_anomaly)} test images. Received: normal_class={normal_class}")
    return OneClassSplit(normal_class, ds.x_train[train], ds.x_test, is_anomaly)


def _check_scores(scores, is_anomaly) -> tuple[np.ndarray, np.ndarray]:
    try:
        scores = np.asarray(scores, dtype="float64")
    except (TypeError, ValueError):
        raise ValueError(f"`scores` must be numbers, one per test image. Received: scores of type "
                         f"{type(scores).__name__} ({np.asarray(scores).dtype})") from None
    is_anomaly = np.asarray(is_anomaly)
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


def squared_error(model, x, batch_size: int = 512) -> np.ndarray:
    """Sum over pixels of ``(x - model.reconstruct(x))**2`` for each image: the classic autoencoder score."""
    if not callable(getattr(model, "reconstruct", None)):
        raise ValueError(f"`model` must be a trained course model with a reconstruct(x) method. Received: model={model!r}")
    check_unconditional("model", model)
    x = check_images("x", x)
    error = (x.astype("float64") - model.reconstruct(x, batch_size)) ** 2
    return error.reshape(len(x), -1).sum(1)


def complexity_corrected(nll_nats, x) -> np.ndarray:
    """``-log2 p(x) - L(x)`` in bits: the negative log-likelihood minus the image's lossless PNG size.

    Serrà et al. (2020) correct a likelihood for input complexity with the length ``L(x)`` of a
    general-purpose lossless code: an image that any compressor finds simple (a thin digit on a
    black background) gets a high likelihood from every model, and subtracting ``L(x)`` removes that
    shared part, leaving how much *better* than a generic compressor the model explains ``x``
    (a log-likelihood ratio against the compressor).

    Args:
        nll_nats: negative log-likelihood (or -ELBO) of each image in nats, shape ``(n,)``.
        x: the images, shape ``(n, h, w, c)`` in [0, 1] (PNG of the 8-bit image, :func:`png_bits`).
    """
    from ..measures.image_quality import png_bits

    x = check_images("x", x)
    nll = np.asarray(nll_nats, dtype="float64")
    if nll.shape != (len(x),) or not np.all(np.isfinite(nll)):
        raise ValueError(f"`nll_nats` must hold one finite value per image ({len(x)}). "
                         f"Received: shape {nll.shape}, {int(np.sum(~np.isfinite(nll)))} non-finite")
    return nll / np.log(2.0) - png_bits(x)


def one_class_scores(autoencoder, vae, x, k: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """The anomaly scores of notebook 05 for images ``x``, by name (higher = more anomalous).

    Args:
        autoencoder: a trained :class:`~vae_helpers.models.autoencoder.Autoencoder` (its squared error).
        vae: a trained :class:`~vae_helpers.models.vae.VAE` (squared error of its mean reconstruction,
            -ELBO and -IWAE_k in nats, and the KL of the code alone).
        x: images ``(n, h, w, c)`` in [0, 1].
        k: samples of z per image for both the ELBO and the IWAE bound.
        seed: seed of those samples.
    """
    from ..measures.evaluation import elbo_and_iwae_per_example, kl_per_example

    x = check_images("x", x)
    elbo, iwae = elbo_and_iwae_per_example(vae, x, k=k, seed=seed)
    return {
        "AE squared error": squared_error(autoencoder, x),
        "VAE squared error": squared_error(vae, x),
        "VAE -ELBO": -elbo,
        f"VAE -IWAE (k={k})": -iwae,
        "VAE KL": kl_per_example(vae, x),
    }
