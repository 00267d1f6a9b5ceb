"""Disentanglement measured against known factors: the Mutual Information Gap (Chen et al. 2018).

For factors ``v_k`` and latent dimensions ``z_j``:

    MIG = (1 / K) * sum_k  ( I(z_{j(1)}; v_k) - I(z_{j(2)}; v_k) ) / H(v_k)

where ``j(1)`` and ``j(2)`` are the latent dimensions with the largest and second largest
mutual information with ``v_k``. A dimension that copies one factor and nothing else gives a
gap of ``H(v_k)``, so MIG is 1 for a perfectly axis-aligned code and near 0 when every factor
is spread over several dimensions (or none).

Two estimators of ``I(z_j; v_k)``, in nats (factors are discrete, so ``H(v_k)`` is exact):

- :func:`mutual_information_matrix_q`, Chen et al.'s definition: the encoder's distribution
  q(z_j | x) = N(mu_j(x), sigma_j(x)^2) defines ``q(z_j)``, the mixture over all images, and
  ``q(z_j | v_k = v)``, the mixture over the images with that factor value; then
  ``I = H(z_j) - E_v[H(z_j | v_k = v)]``, each entropy estimated with one sample of q per image.
  A dimension the encoder does not use (sigma near 1, mu near 0) carries no information.
- :func:`mutual_information_matrix`, as in Locatello et al. 2019's disentanglement_lib: the
  encoder *means* cut into ``n_bins`` equal-width bins over each dimension's own range, and the
  exact mutual information of the binned values. It ignores sigma, so an unused dimension whose
  mean still wiggles with the input is binned as finely as a used one.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_codes, check_images, check_int
from ..core.tf_startup import keras
from ..models.densities import gaussian_log_density
from .diagnostics import mean_kl_per_dimension
from .evaluation import bernoulli_nll

__all__ = ["DEFAULT_BINS", "MAX_ABS_LOG_VAR", "MAX_BINS", "discretize", "entropy", "gap_from_matrix", "mutual_information_gap",
           "mutual_information_gap_q", "mutual_information_matrix", "mutual_information_matrix_q", "score_model"]

DEFAULT_BINS = 20  # disentanglement_lib's default for MIG
MAX_BINS = 1000  # far more bins than codes puts each code in a bin of its own: every dimension then looks informative
MAX_ABS_LOG_VAR = 40.0  # |log variance| beyond which the Gaussian densities over- or underflow


def _check_codes_and_factors(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = check_codes("codes", codes, min_rows=2), np.asarray(factors)
    if factors.ndim != 2 or len(factors) != len(codes) or not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"`factors` must be integer factor indices of shape ({len(codes)}, n_factors), one row per code. "
                         f"Received: factors.shape={factors.shape}, factors.dtype={factors.dtype}")
    return codes.astype("float64"), factors


def discretize(codes, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Each column of ``codes`` cut into ``n_bins`` equal-width bins over its range: integers ``(n, d)``."""
    codes = np.asarray(codes, dtype="float64")
    n_bins = check_int("n_bins", n_bins, 2, MAX_BINS)
    out = np.zeros(codes.shape, dtype="int64")
    for j in range(codes.shape[1]):
        lo, hi = codes[:, j].min(), codes[:, j].max()
        if hi > lo:
            out[:, j] = np.minimum(((codes[:, j] - lo) / (hi - lo) * n_bins).astype("int64"), n_bins - 1)
    return out


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete variables given as integer arrays of equal length."""
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    nz = joint > 0
    return float(np.sum(joint[nz] * np.log(joint[nz] / outer[nz])))


def entropy(values) -> float:
    """H(v) in nats of a discrete variable given as an array of integers."""
    _, counts = np.unique(np.asarray(values), return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def mutual_information_matrix(codes, factors, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """``I(z_j; v_k)`` in nats for every latent dimension j and factor k: shape ``(latent_dim, n_factors)``."""
    codes, factors = _check_codes_and_factors(codes, factors)
    binned = discretize(codes, n_bins)
    return np.array([[_mutual_information(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                     for j in range(binned.shape[1])])


def _log_mixture_density(z: np.ndarray, mu: np.ndarray, log_var: np.ndarray, chunk: int = 512) -> np.ndarray:
    """``log (1/m) sum_i N(z_s; mu_i, exp(log_var_i))`` for every sample ``z_s`` (1-D arrays)."""
    from scipy.special import logsumexp

    out = np.empty(len(z))
    for start in range(0, len(z), chunk):
        log_p = keras.ops.convert_to_numpy(gaussian_log_density(z[start:start + chunk, None], mu[None], log_var[None]))
        out[start:start + chunk] = logsumexp(log_p, axis=1) - np.log(len(mu))
    return out


def mutual_information_matrix_q(z_mean, z_log_var, factors, seed: int = 0) -> np.ndarray:
    """``I(z_j; v_k)`` in nats from the encoder's Gaussians (Chen et al. 2018): shape ``(latent_dim, n_factors)``.

    Args:
        z_mean, z_log_var: the encoder's outputs for every example, each ``(n, latent_dim)``.
        factors: the true factor indices of each example, ``(n, n_factors)``.
        seed: seed of the one sample of q(z | x) drawn per example.
    """
    z_mean, factors = _check_codes_and_factors(z_mean, factors)
    z_log_var, _ = _check_codes_and_factors(z_log_var, factors)
    if z_log_var.shape != z_mean.shape:
        raise ValueError(f"`z_log_var` must have the shape of `z_mean` {z_mean.shape}. Received: {z_log_var.shape}")
    if np.abs(z_log_var).max() > MAX_ABS_LOG_VAR:
        raise ValueError(f"`z_log_var` must lie in [-{MAX_ABS_LOG_VAR}, {MAX_ABS_LOG_VAR}] (standard deviations from "
                         f"{np.exp(-MAX_ABS_LOG_VAR / 2):.0e} to {np.exp(MAX_ABS_LOG_VAR / 2):.0e}), where the densities stay "
                         f"finite. Received: z_log_var with values in [{z_log_var.min():g}, {z_log_var.max():g}]")
    z = z_mean + np.exp(0.5 * z_log_var) * np.random.default_rng(check_int("seed", seed, 0)).standard_normal(z_mean.shape)
    mi = np.zeros((z_mean.shape[1], factors.shape[1]))
    for j in range(z_mean.shape[1]):
        h_z = -_log_mixture_density(z[:, j], z_mean[:, j], z_log_var[:, j]).mean()
        for k in range(factors.shape[1]):
            h_cond = 0.0
            for v in np.unique(factors[:, k]):
                rows = factors[:, k] == v
                h_cond -= rows.mean() * _log_mixture_density(z[rows, j], z_mean[rows, j], z_log_var[rows, j]).mean()
            mi[j, k] = max(h_z - h_cond, 0.0)   # an estimate can dip below 0 by noise; the quantity cannot
    return mi


def gap_from_matrix(mi, factors) -> tuple[float, np.ndarray]:
    """MIG from a mutual information matrix ``(latent_dim, n_factors)``, and the normalized gap of each factor."""
    mi, factors = np.asarray(mi, dtype="float64"), np.asarray(factors)
    if mi.ndim != 2 or mi.shape[0] < 2 or mi.shape[1] != factors.shape[1]:
        raise ValueError(f"`mi` must be (latent_dim >= 2, n_factors = {factors.shape[1]}). Received: mi.shape={mi.shape}")
    if not np.all(np.isfinite(mi)) or mi.min() < -1e-9:  # rounding can leave -1e-16 in an exact estimate
        raise ValueError("`mi` must hold finite, non-negative mutual information (nats). "
                         f"Received: {int(np.sum(~np.isfinite(mi)))} NaN or infinite values, minimum {np.nanmin(mi):g}")
    h = np.array([entropy(factors[:, k]) for k in range(factors.shape[1])])
    if np.any(h == 0):
        raise ValueError(f"`factors` must vary: factor(s) {np.flatnonzero(h == 0).tolist()} take a single value")
    top2 = np.sort(np.maximum(mi, 0.0), axis=0)[-2:]
    gaps = (top2[1] - top2[0]) / h
    return float(gaps.mean()), gaps


def mutual_information_gap(codes, factors, n_bins: int = DEFAULT_BINS) -> tuple[float, np.ndarray]:
    """MIG with the binned estimator (disentanglement_lib), and the normalized gap of each factor.

    Args:
        codes: one code per example, e.g. the encoder means, shape ``(n, latent_dim)``, latent_dim >= 2.
        factors: the true factor indices of each example, shape ``(n, n_factors)``.
        n_bins: bins per latent dimension for the mutual information estimate.
    """
    codes, factors = _check_codes_and_factors(codes, factors)
    if codes.shape[1] < 2:
        raise ValueError(f"`codes` must have at least 2 dimensions (MIG compares the best two). Received: codes.shape={codes.shape}")
    return gap_from_matrix(mutual_information_matrix(codes, factors, n_bins), factors)


def mutual_information_gap_q(z_mean, z_log_var, factors, seed: int = 0) -> tuple[float, np.ndarray]:
    """MIG as Chen et al. define it, from the encoder's Gaussians (:func:`mutual_information_matrix_q`)."""
    z_mean, factors = _check_codes_and_factors(z_mean, factors)
    if z_mean.shape[1] < 2:
        raise ValueError(f"`z_mean` must have at least 2 dimensions (MIG compares the best two). Received: z_mean.shape={z_mean.shape}")
    return gap_from_matrix(mutual_information_matrix_q(z_mean, z_log_var, factors, seed), factors)


def score_model(vae, images, factors, n_scored: int = 3000, seed: int = 0) -> dict:
    """Everything notebook 08 and its benchmark read off a trained shapes VAE, on ``images`` with known ``factors``.

    Returns a dict: ``mig`` and ``gaps`` (Chen et al.'s estimator on ``n_scored`` images drawn with ``seed``,
    since its cost grows as the square of their number), ``mi`` (its matrix), ``binned`` (disentanglement_lib's
    MIG on every image), ``kl`` (the mean KL of each dimension, nats), ``recon`` (the Bernoulli −log-likelihood
    of each image's reconstruction from its mean code, nats, averaged), ``z_mean`` and ``reconstructions``.
    """
    images = check_images("images", images, greyscale=True)
    z_mean, z_log_var = vae.encode(images)
    z_mean, factors = _check_codes_and_factors(z_mean, factors)
    n_scored = check_int("n_scored", n_scored, 2)
    scored = np.sort(np.random.default_rng(check_int("seed", seed, 0)).choice(len(factors), min(n_scored, len(factors)),
                                                                             replace=False))
    mi = mutual_information_matrix_q(z_mean[scored], z_log_var[scored], factors[scored], seed)
    mig, gaps = gap_from_matrix(mi, factors[scored])
    reconstructions = vae.decode(z_mean)
    return dict(mig=mig, gaps=gaps, mi=mi, binned=mutual_information_gap(z_mean, factors)[0],
                kl=mean_kl_per_dimension(z_mean, z_log_var), recon=float(bernoulli_nll(images, reconstructions).mean()),
                z_mean=z_mean, reconstructions=reconstructions)
