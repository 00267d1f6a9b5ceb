"""The closed-form baselines a (V)AE is measured against: PCA (the linear autoencoder), the mean image, typicality.

A nonlinear model gets credit only for what it adds over these:

- **PCA with k components** is the best *linear* autoencoder with a code of size ``k``: the
  squared-error minimum of a linear encoder and decoder spans the same subspace (Bourlard & Kamp
  1988; Baldi & Hornik 1989). :class:`PCACodec` fits it on training images (scikit-learn's exact
  SVD) and encodes, decodes and scores like an autoencoder; its whitened codes are ``N(0, 1)``-like,
  so the latent file of :mod:`vae_helpers.applications.latent_coding` codes them with the same quantizer
  and ANS coder as a VAE's codes (:meth:`PCACodec.code_steps`).
- **The linear denoiser** (:class:`LinearDenoiser`) is the linear counterpart of a denoising
  autoencoder: the affine map from noisy to clean images with the least squared error on training
  pairs (ridge regression, in closed form).
- **The mean image** is the best code-free reconstruction: a model that does not beat it has learned
  nothing about the individual image.
- **The nearest training image** is the memorizing baseline: :func:`nearest_distance` scores an image
  by its squared distance to the closest training image, the classic one-nearest-neighbour anomaly score.
- **A per-pixel histogram** (:class:`PixelHistogram`) is the simplest density model of 8-bit images:
  each pixel's 256 levels counted on the training images, pixels independent. A deep model's
  likelihood gets credit only for what it adds over it.
- **A decoder that knows only some properties** of each image (:func:`group_mean_nll`): the
  Bernoulli −log-likelihood of every image under the pixel-wise mean of the images that share those
  properties (the best factorized decoder given them). On the shapes grid, knowing only where a shape
  is and how many pixels it covers is the "blob" a model that cannot draw shapes falls back on.
- **Two-sided typicality** ``|s - median(s_train)|`` turns any per-image statistic (a file size, the
  brightness) into a label-free out-of-distribution score: a set can be atypical in either direction,
  and choosing the direction with the test labels would be cheating.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.checks import check_images, check_int, check_number
from ..data.datasets import pixel_levels
from .evaluation import bernoulli_nll

__all__ = ["LinearDenoiser", "PCACodec", "PixelHistogram", "group_mean_nll", "mean_image", "nearest_distance", "nearest_index", "squared_distance",
           "typicality"]


@dataclass(frozen=True)
class PCACodec:
    """PCA with ``k`` components as an autoencoder: ``encode`` (codes), ``decode`` (images), ``reconstruct``.

    Build it with :meth:`fit`. ``variances`` are the training variances of the ``k`` codes (the
    eigenvalues of the pixel covariance, largest first); ``components`` are orthonormal rows.
    """

    mean: np.ndarray          # (D,) the training mean image, flattened
    components: np.ndarray    # (k, D) orthonormal principal directions, largest variance first
    variances: np.ndarray     # (k,) the variance of each code on the training images
    image_shape: tuple[int, int, int]

    @classmethod
    def fit(cls, images, k: int) -> "PCACodec":
        """The first ``k`` principal components of ``images`` ``(n, h, w, c)`` in [0, 1] (exact SVD, float64)."""
        from sklearn.decomposition import PCA

        x = check_images("images", images)
        flat = x.reshape(len(x), -1).astype("float64")
        k = check_int("k", k, 1, min(flat.shape))
        pca = PCA(n_components=k, svd_solver="full").fit(flat)
        components = pca.components_ * np.sign(pca.components_[np.arange(k), np.abs(pca.components_).argmax(axis=1)])[:, None]
        return cls(pca.mean_, components, pca.explained_variance_, tuple(x.shape[1:]))

    @property
    def k(self) -> int:
        """The code size."""
        return len(self.variances)

    def encode(self, images, whiten: bool = False) -> np.ndarray:
        """Codes ``(n, k)``: projections on the components; divided by their training std if ``whiten``."""
        x = check_images("images", images, self.image_shape)
        codes = (x.reshape(len(x), -1).astype("float64") - self.mean) @ self.components.T
        return codes / np.sqrt(self.variances) if whiten else codes

    def decode(self, codes, whitened: bool = False) -> np.ndarray:
        """Images ``(n, h, w, c)`` from codes, clipped to [0, 1] (float32)."""
        codes = np.asarray(codes, dtype="float64")
        if codes.ndim != 2 or codes.shape[1] != self.k or not np.all(np.isfinite(codes)):
            raise ValueError(f"`codes` must be finite codes of shape (n, {self.k}). Received: shape {codes.shape}")
        if whitened:
            codes = codes * np.sqrt(self.variances)
        flat = self.mean + codes @ self.components
        return np.clip(flat, 0.0, 1.0).reshape(len(codes), *self.image_shape).astype("float32")

    def code_steps(self, step: float) -> np.ndarray:
        """Quantizer steps for the *whitened* codes that give every component the same step ``step`` in pixel units.

        With a uniform quantizer of step ``Δ`` on every (unwhitened) component, each adds ``Δ² / 12`` of
        squared error: the classic transform code. Whitened codes are ``N(0, 1)``-like, so
        :mod:`vae_helpers.applications.latent_coding` can write them under its ``N(0, 1)`` prior:
        ``quantize(encode(x, whiten=True), code_steps(Δ))``.
        """
        return check_number("step", step, strict=True) / np.sqrt(self.variances)

    def first(self, k: int) -> "PCACodec":
        """The codec of the first ``k`` components (PCA's subspaces are nested: one fit serves every smaller k)."""
        k = check_int("k", k, 1, self.k)
        return PCACodec(self.mean, self.components[:k], self.variances[:k], self.image_shape)

    def reconstruct(self, images) -> np.ndarray:
        """``decode(encode(images))``: the projection on the PCA subspace, clipped to [0, 1]."""
        return self.decode(self.encode(images))


@dataclass(frozen=True)
class PixelHistogram:
    """Independent per-pixel distributions over the 256 levels of 8-bit images: ``nll_bits`` is a code length.

    Build it with :meth:`fit`; ``log2_probs[d, v]`` is log2 of the probability of level ``v`` at pixel ``d``.
    """

    log2_probs: np.ndarray    # (D, 256)
    image_shape: tuple[int, int, int]

    @staticmethod
    def _levels(images, shape=None) -> np.ndarray:
        x = check_images("images", images, shape)
        return pixel_levels(x.reshape(len(x), -1).astype("float64"))

    @classmethod
    def fit(cls, images, smoothing: float = 1.0) -> "PixelHistogram":
        """Count each pixel's levels over ``images`` (``(n, h, w, c)`` in [0, 1], read as ``round(255 x)``), plus ``smoothing``."""
        smoothing = check_number("smoothing", smoothing, strict=True)
        levels = cls._levels(images)
        pixels = levels.shape[1]
        counts = np.bincount((np.arange(pixels) * 256 + levels).ravel(), minlength=pixels * 256).reshape(pixels, 256)
        probs = (counts + smoothing) / (len(levels) + 256 * smoothing)
        return cls(np.log2(probs), tuple(np.shape(images)[1:]))

    def nll_bits(self, images) -> np.ndarray:
        """``-sum_d log2 p_d(x_d)`` per image: the bits of an ideal code that knows only each pixel's histogram."""
        levels = self._levels(images, self.image_shape)
        return -self.log2_probs[np.arange(levels.shape[1]), levels].sum(axis=1)


@dataclass(frozen=True)
class LinearDenoiser:
    """The best affine map from noisy to clean images: the linear denoising autoencoder, fitted in closed form.

    Build it with :meth:`fit` on pairs of corrupted and clean training images; call it on noisy images.
    ``weights`` is ``(D, D)`` and ``bias`` ``(D,)`` for images of ``D`` pixels; outputs are clipped to [0, 1].
    """

    weights: np.ndarray
    bias: np.ndarray
    image_shape: tuple[int, int, int]

    @classmethod
    def fit(cls, noisy, clean, ridge: float = 1.0) -> "LinearDenoiser":
        """Least squares of ``clean`` on ``noisy`` (both ``(n, h, w, c)``), with ``ridge`` added to the diagonal."""
        noisy = check_images("noisy", noisy)
        clean = check_images("clean", clean, noisy.shape[1:])
        if len(clean) != len(noisy):
            raise ValueError(f"`clean` must hold one image per noisy image, {len(noisy)}. Received: {len(clean)}")
        ridge = check_number("ridge", ridge)
        x, y = (v.reshape(len(v), -1).astype("float64") for v in (noisy, clean))
        x_mean, y_mean = x.mean(0), y.mean(0)
        x -= x_mean
        weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ (y - y_mean))
        return cls(weights, y_mean - x_mean @ weights, tuple(noisy.shape[1:]))

    def __call__(self, noisy) -> np.ndarray:
        noisy = check_images("noisy", noisy, self.image_shape)
        out = noisy.reshape(len(noisy), -1).astype("float64") @ self.weights + self.bias
        return np.clip(out, 0.0, 1.0).reshape(noisy.shape).astype("float32")


def mean_image(images) -> np.ndarray:
    """The pixel-wise mean of ``images`` ``(n, h, w, c)``: the best reconstruction that ignores the input."""
    return check_images("images", images).astype("float64").mean(axis=0).astype("float32")


def group_mean_nll(images, groups) -> np.ndarray:
    """``-log p(x)`` in nats of each binary image under the pixel-wise mean of the images in its group.

    ``groups`` ``(n,)`` or ``(n, k)`` holds what the decoder is told about each image (equal rows: one
    group). No factorized (Bernoulli) decoder that sees only the group can score lower on these images
    on average: for each pixel, the group's mean is the maximum-likelihood probability. The mean is
    fitted on the images it scores, so the number is a floor for such a decoder, not a fair rival.
    """
    x = check_images("images", images)
    keys = np.asarray(groups)
    if keys.ndim not in (1, 2) or len(keys) != len(x) or keys.dtype.kind not in "biuf" or not np.all(np.isfinite(keys)):
        raise ValueError(f"`groups` must be finite numbers, one value or one row per image ({len(x)}). "
                         f"Received: shape {keys.shape}, dtype {keys.dtype}")
    _, group = np.unique(keys.reshape(len(x), -1), axis=0, return_inverse=True)
    group = group.ravel()
    flat = x.reshape(len(x), -1).astype("float64")
    counts = np.bincount(group)
    means = np.zeros((len(counts), flat.shape[1]))
    np.add.at(means, group, flat)
    return bernoulli_nll(x, (means[group] / counts[group, None]).reshape(x.shape))


def squared_distance(images, reference) -> np.ndarray:
    """Sum over pixels of ``(image - reference)**2`` per image: ``reference`` is one image or one per image."""
    x = check_images("images", images).astype("float64")
    ref = np.asarray(reference, dtype="float64")
    if ref.shape not in (x.shape, x.shape[1:]) or not np.all(np.isfinite(ref)):
        raise ValueError(f"`reference` must be finite, one image {x.shape[1:]} or one per image {x.shape}. "
                         f"Received: shape {ref.shape}")
    return ((x - ref) ** 2).reshape(len(x), -1).sum(axis=1)


def _nearest(train_images, images, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image of ``images``: the index of its nearest image in ``train_images`` and the squared distance to it."""
    train = check_images("train_images", train_images)
    x = check_images("images", images, train.shape[1:])
    batch_size = check_int("batch_size", batch_size, 1)
    t = train.reshape(len(train), -1).astype("float64")
    t_sq = (t ** 2).sum(axis=1)
    index, distance = np.empty(len(x), dtype=np.int64), np.empty(len(x))
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].reshape(-1, t.shape[1]).astype("float64")
        d = (xb ** 2).sum(axis=1)[:, None] + t_sq[None, :] - 2.0 * xb @ t.T
        index[start:start + batch_size] = d.argmin(axis=1)
        distance[start:start + batch_size] = np.maximum(d.min(axis=1), 0.0)
    return index, distance


def nearest_distance(train_images, images, batch_size: int = 1000) -> np.ndarray:
    """Per image of ``images``, the squared distance (sum over pixels) to its nearest image in ``train_images``.

    Exact, by brute force in float64 over batches of ``batch_size`` images (``|x|² + |t|² - 2 x·t``,
    clipped at 0 against rounding).
    """
    return _nearest(train_images, images, batch_size)[1]


def nearest_index(train_images, images, batch_size: int = 1000) -> np.ndarray:
    """Per image of ``images``, the index in ``train_images`` of its nearest image (squared distance; as
    :func:`nearest_distance`): the code of a "codec" that sends which training image to show (notebook 07)."""
    return _nearest(train_images, images, batch_size)[0]


def typicality(train_statistic, statistic, scaled: bool = False) -> np.ndarray:
    """``|statistic - median(train_statistic)|``: a label-free two-sided score, high for atypical images.

    With ``scaled``, divided by the training values' robust standard deviation (1.4826 times their median
    absolute deviation), so that scores of different statistics are in the same units and their
    maximum flags an image atypical in any of them. Scaling does not change one statistic's ranking.
    """
    train, values = (np.asarray(a, dtype="float64") for a in (train_statistic, statistic))
    for arg, a in (("train_statistic", train), ("statistic", values)):
        if a.ndim != 1 or len(a) == 0 or not np.all(np.isfinite(a)):
            raise ValueError(f"`{arg}` must be a non-empty 1-D array of finite values, one per image. "
                             f"Received: shape {a.shape}")
    median = np.median(train)
    distance = np.abs(values - median)
    if not scaled:
        return distance
    spread = 1.4826 * np.median(np.abs(train - median))
    if spread == 0:
        raise ValueError("`train_statistic` must vary to be scaled: over half of its values equal its median. "
                         "Received: a median absolute deviation of 0")
    return distance / spread
