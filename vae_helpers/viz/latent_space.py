"""Tools for exploring a latent space: 2-D projections, interpolation, class arithmetic, neighbours.

Every function takes and returns numpy arrays; latent codes are rows of an ``(n, latent_dim)`` array.
t-SNE runs on openTSNE, which was faster than scikit-learn's TSNE per warm-started frame here and,
unlike it, can skip early exaggeration and run fewer than 250 iterations (see :func:`tsne_2d`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import orthogonal_procrustes

from ..core.checks import MAX_STEPS, check_code, check_codes, check_images, check_int, check_labels, check_seed, check_unconditional

__all__ = ["EXACT_NEIGHBOURS_BELOW", "class_means", "interpolate_images", "latent_arithmetic", "lerp",
           "nearest_neighbours", "pca_2d", "procrustes_align", "slerp", "tsne_2d"]

EXACT_NEIGHBOURS_BELOW = 10_000  # exact kNN is fast and fully reproducible below this many points


# -- 2-D projections --

def pca_2d(z, seed: int = 0) -> np.ndarray:
    """Project codes onto their first two principal components; each axis points to its largest loading.

    The sign of a principal component is arbitrary; here each one is flipped so that its
    largest-magnitude loading is positive, which makes the picture reproducible. ``seed`` only
    mirrors :func:`tsne_2d`'s signature: the exact (full SVD) solver used here has no randomness.
    """
    z = check_codes("z", z, min_rows=2)
    if z.shape[1] < 2:
        raise ValueError(f"`z` must have at least 2 columns to project to 2-D. Received: z.shape={z.shape}")
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full", random_state=seed).fit(z)
    idx = np.argmax(np.abs(pca.components_), axis=1)
    signs = np.sign(pca.components_[np.arange(2), idx])
    return (pca.transform(z) * signs).astype("float32")


def tsne_2d(z, seed: int = 0, perplexity: float = 30.0, initialization=None,
            n_iter: int | None = None, n_jobs: int = -1) -> np.ndarray:
    """t-SNE embedding of codes ``z`` in 2-D (openTSNE); the same seed gives the same array.

    Args:
        z: codes, shape ``(n, d)`` (any ``d``, also 2).
        seed: seed of the PCA initialization and of the neighbour search.
        perplexity: effective number of neighbours; must be below ``(n - 1) / 3``.
        initialization: optional ``(n, 2)`` start layout (a warm start, e.g. the previous
            epoch's embedding). Early exaggeration is then skipped so the layout is refined, not
            torn apart and rebuilt. Without it: PCA start plus 250 exaggerated iterations.
        n_iter: iterations after the exaggeration phase (default 500 cold, 250 warm).
        n_jobs: threads (-1: all cores). The threads busy-wait, so on a machine that is busy
            with other work, or for a few hundred points, ``n_jobs=1`` can be several times faster.
    """
    z = check_codes("z", z, min_rows=5)
    if isinstance(perplexity, bool) or not isinstance(perplexity, (int, float, np.integer, np.floating)) or not 0 < perplexity < (len(z) - 1) / 3:
        raise ValueError(f"`perplexity` must be a number in (0, (n - 1) / 3) = (0, {(len(z) - 1) / 3:g}) "
                         f"for n={len(z)} points. Received: perplexity={perplexity!r}")
    warm = initialization is not None
    if warm:
        initialization = check_codes("initialization", initialization, dim=2)
        if len(initialization) != len(z):
            raise ValueError(f"`initialization` must have one row per point of `z`, shape ({len(z)}, 2). "
                             f"Received: initialization.shape={initialization.shape}")
    n_iter = (250 if warm else 500) if n_iter is None else check_int("n_iter", n_iter, 1)
    check_seed("seed", seed)
    from openTSNE import TSNEEmbedding, affinity
    from openTSNE import initialization as init_schemes

    z = np.asarray(z, dtype="float64")
    method = "exact" if len(z) < EXACT_NEIGHBOURS_BELOW else "annoy"
    affinities = affinity.PerplexityBasedNN(z, perplexity=float(perplexity), method=method,
                                            n_jobs=n_jobs, random_state=seed)
    start = np.array(initialization, dtype="float64") if warm else init_schemes.pca(z, 2, random_state=seed)
    embedding = TSNEEmbedding(start, affinities, n_jobs=n_jobs, random_state=seed)
    if not warm:
        embedding = embedding.optimize(n_iter=250, exaggeration=12, momentum=0.8)
    embedding = embedding.optimize(n_iter=n_iter, momentum=0.8)
    return np.asarray(embedding, dtype="float32")


def procrustes_align(points, reference) -> np.ndarray:
    """Rotate (or reflect) and translate ``points`` to best match ``reference`` in least squares.

    No scaling: distances within ``points`` are kept. Both arrays are ``(n, d)`` with row ``i`` of
    one matching row ``i`` of the other.
    """
    points = check_codes("points", points)
    reference = check_codes("reference", reference)
    if points.shape != reference.shape:
        raise ValueError("`points` must have the same shape as `reference`. "
                         f"Received: points.shape={points.shape}, reference.shape={reference.shape}")
    p, r = points.astype("float64"), reference.astype("float64")
    p_centre, r_centre = p.mean(0), r.mean(0)
    rotation, _ = orthogonal_procrustes(p - p_centre, r - r_centre)
    return ((p - p_centre) @ rotation + r_centre).astype(points.dtype)


# -- interpolation --

def _check_pair(z0, z1) -> tuple[np.ndarray, np.ndarray]:
    z0 = check_code("z0", z0)
    z1 = check_code("z1", z1)
    if z0.shape != z1.shape:
        raise ValueError(f"`z1` must have the same size as `z0`. Received: z0.shape={z0.shape}, z1.shape={z1.shape}")
    return z0, z1


def lerp(z0, z1, steps: int) -> np.ndarray:
    """``steps`` codes on the straight line from ``z0`` to ``z1`` (first row ``z0``, last row ``z1``)."""
    z0, z1 = _check_pair(z0, z1)
    steps = check_int("steps", steps, 2, MAX_STEPS)
    dtype = np.result_type(z0.dtype, z1.dtype, np.float32)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    out = ((1.0 - t) * z0 + t * z1).astype(dtype)
    out[0], out[-1] = z0, z1
    return out


def slerp(z0, z1, steps: int) -> np.ndarray:
    """``steps`` codes along the great circle from ``z0`` to ``z1`` (first row ``z0``, last ``z1``).

    When ``|z0| == |z1|`` every code keeps that norm, so the path stays where a Gaussian prior puts
    its mass instead of cutting through the low-norm middle. Nearly parallel or opposite codes
    (angle within 1e-4 rad of 0 or pi, where the great circle is undefined) fall back to :func:`lerp`.
    """
    z0, z1 = _check_pair(z0, z1)
    steps = check_int("steps", steps, 2, MAX_STEPS)
    a, b = z0.astype("float64"), z1.astype("float64")
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    omega = np.arccos(np.clip(a @ b / norms, -1.0, 1.0)) if norms > 0 else 0.0
    if np.sin(omega) < np.sin(1e-4):
        return lerp(z0, z1, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    out = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    out = out.astype(np.result_type(z0.dtype, z1.dtype, np.float32))
    out[0], out[-1] = z0, z1
    return out


def interpolate_images(vae, x0, x1, steps: int = 10, method: str = "linear") -> np.ndarray:
    """Decode ``steps`` codes between the mean codes of images ``x0`` and ``x1``: ``(steps, h, w, c)``.

    Args:
        vae: a :class:`vae_helpers.models.vae.VAE` (anything with ``encode``, ``decode`` and ``encoder``).
        x0, x1: two single images of the model's input shape ``(h, w, c)``.
        steps: number of images, both ends included.
        method: ``"linear"`` (:func:`lerp`) or ``"spherical"`` (:func:`slerp`).
    """
    if method not in ("linear", "spherical"):
        raise ValueError(f"`method` must be 'linear' or 'spherical'. Received: method={method!r}")
    steps = check_int("steps", steps, 2, MAX_STEPS)
    check_unconditional("vae", vae)
    image_shape = tuple(vae.encoder.input_shape[1:])
    for arg, x in (("x0", x0), ("x1", x1)):
        if np.shape(x) != image_shape:
            raise ValueError(f"`{arg}` must be one image of shape {image_shape}. Received: {arg}.shape={np.shape(x)}")
        check_images(arg, np.asarray(x)[None], image_shape)
    z_mean, _ = vae.encode(np.stack([x0, x1]).astype("float32"))
    path = (lerp if method == "linear" else slerp)(z_mean[0], z_mean[1], steps)
    return vae.decode(path)


# -- class structure --

def class_means(z, labels, n_classes: int) -> np.ndarray:
    """Mean code of each class: row ``k`` is the mean of the rows of ``z`` whose label is ``k``."""
    z = check_codes("z", z)
    n_classes = check_int("n_classes", n_classes, 1)
    labels = check_labels("labels", labels, n=len(z), n_classes=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    if np.any(counts == 0):
        raise ValueError(f"`labels` must contain every class 0..{n_classes - 1}. "
                         f"Received: no examples of class(es) {np.flatnonzero(counts == 0).tolist()}")
    sums = np.zeros((n_classes, z.shape[1]), dtype="float64")
    np.add.at(sums, labels, z)
    return (sums / counts[:, None]).astype(np.result_type(z.dtype, np.float32))


def latent_arithmetic(z_source, class_mean_from, class_mean_to, alphas: Sequence[float]) -> np.ndarray:
    """Codes ``z_source + alpha * (class_mean_to - class_mean_from)``, one row per alpha.

    Moving along the difference of two class means carries an example toward the other class
    (``alpha = 1`` moves it by the whole gap between the means).
    """
    z_source = check_code("z_source", z_source)
    d = len(z_source)
    mean_from = check_code("class_mean_from", class_mean_from, d)
    mean_to = check_code("class_mean_to", class_mean_to, d)
    alphas_arr = np.asarray(alphas, dtype="float64") if np.ndim(alphas) == 1 else None
    if alphas_arr is None or len(alphas_arr) == 0 or not np.all(np.isfinite(alphas_arr)):
        raise ValueError(f"`alphas` must be a non-empty 1-D sequence of finite numbers. Received: alphas={alphas!r}")
    codes = z_source + alphas_arr[:, None] * (mean_to.astype("float64") - mean_from)
    return codes.astype(np.result_type(z_source.dtype, np.float32))


def nearest_neighbours(z_query, z_bank, k: int = 5) -> np.ndarray:
    """Indices into ``z_bank`` of the ``k`` codes closest (Euclidean) to each query, nearest first."""
    z_bank = check_codes("z_bank", z_bank)
    z_query = check_codes("z_query", z_query, dim=z_bank.shape[1])
    k = check_int("k", k, 1)
    if k > len(z_bank):
        raise ValueError(f"`k` must be at most len(z_bank) = {len(z_bank)}. Received: k={k}")
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=k).fit(z_bank)
    return index.kneighbors(z_query, return_distance=False)
