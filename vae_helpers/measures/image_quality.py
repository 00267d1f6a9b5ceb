"""Image corruption, classical filters, quality and size measures: the yardsticks of denoising and compression.

- :func:`gaussian_noise`, :func:`salt_and_pepper`: corrupt images in [0, 1] with a fixed seed;
- :func:`median_denoise`, :func:`gaussian_denoise` (scipy.ndimage), :func:`adaptive_median_denoise`
  (for salt and pepper), and the strong classical denoisers of :data:`DENOISERS`: total variation,
  wavelet shrinkage (BayesShrink) and non-local means from scikit-image, and BM3D (the ``bm3d``
  package); :func:`tune_denoiser` picks each one's parameter on a validation split and fits a
  monotone correction of its output there (clipped noise biases every filter), the fair baseline for
  a learned denoiser; :func:`best_filter` picks the parameter alone;
- :func:`psnr` and :func:`ssim`: peak signal-to-noise ratio (dB) and structural similarity of each image;
- :func:`png_bits`, :func:`codec_roundtrip`: lossless and lossy file sizes of each image, in bits,
  written with Pillow exactly as a file would be (JPEG, WebP, AVIF, JPEG XL; one file per image or per
  mosaic of images).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence

import numpy as np

from ..core.checks import check_images, check_int, check_number, check_seed
from ..data.datasets import pixel_levels

__all__ = ["CODECS", "DENOISERS", "TunedDenoiser", "adaptive_median_denoise", "best_filter", "bm3d_denoise",
           "codec_roundtrip", "denoise", "gaussian_denoise", "gaussian_noise", "jpeg_curve", "jpeg_roundtrip",
           "median_denoise", "nl_means_denoise", "png_bits", "psnr", "psnr_at_rates", "require_codec", "salt_and_pepper",
           "ssim", "tune_denoiser", "tv_denoise", "wavelet_denoise", "webp_roundtrip"]


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(check_seed("seed", seed))


def gaussian_noise(x, sigma: float, seed: int = 0) -> np.ndarray:
    """``x + sigma * N(0, 1)`` per pixel, clipped back to [0, 1]."""
    x = check_images("x", x)
    sigma = check_number("sigma", sigma)
    return np.clip(x + sigma * _rng(seed).standard_normal(x.shape).astype("float32"), 0.0, 1.0)


def salt_and_pepper(x, amount: float, seed: int = 0) -> np.ndarray:
    """Set a share ``amount`` of the pixels to 0 or 1 (half each, chosen at random)."""
    x = check_images("x", x)
    amount = check_number("amount", amount)
    if amount > 1:
        raise ValueError(f"`amount` must be a share of pixels in [0, 1]. Received: amount={amount!r}")
    rng = _rng(seed)
    hit = rng.random(x.shape) < amount
    out = x.copy()
    out[hit] = (rng.random(int(hit.sum())) < 0.5).astype("float32")
    return out


def _greyscale(arg: str, x) -> np.ndarray:
    """``x`` checked as greyscale images in [0, 1] (:func:`~vae_helpers.core.checks.check_images`)."""
    return check_images(arg, x, greyscale=True)


def _per_image(x: np.ndarray, filter_fn, **kwargs) -> np.ndarray:
    """``filter_fn`` applied to each greyscale image, clipped to [0, 1] (some denoisers overshoot slightly)."""
    filtered = [np.reshape(filter_fn(image[..., 0], **kwargs), image.shape) for image in x]   # a 1x1 image stays 1x1
    return np.clip(np.stack(filtered), 0.0, 1.0).astype("float32")


def median_denoise(x, size: int) -> np.ndarray:
    """Median filter of ``size x size`` pixels applied to each image."""
    from scipy import ndimage

    x = _greyscale("x", x)
    size = check_int("size", size, 1, max(x.shape[1:3]))
    return _per_image(x, ndimage.median_filter, size=size, mode="nearest")


def adaptive_median_denoise(x, max_size: int) -> np.ndarray:
    """An adaptive median filter for salt and pepper (Hwang & Haddad 1995): detect impulses, replace only them.

    Only a pixel at exactly 0 or 1, the two values salt and pepper writes, can be an impulse; every
    other pixel is kept. For such a pixel, windows of 3 x 3, 5 x 5, ... up to ``max_size`` (odd) are tried
    in turn: in the first whose median is not an extreme of the window (min < median < max), the pixel
    is replaced by that median if it is itself an extreme there, and kept otherwise. Where no window
    qualifies (a flat neighbourhood, such as a black background with its own 0s and 1s), the pixel
    becomes the largest window's median. Unlike a plain median, edges and fine lines survive.
    """
    from scipy import ndimage

    x = _greyscale("x", x)
    if min(x.shape[1:3]) < 3:
        raise ValueError(f"`x` must be images of at least 3 x 3 pixels, the smallest window. Received: x.shape={x.shape}")
    max_size = check_int("max_size", max_size, 3, max(x.shape[1:3]))
    if max_size % 2 == 0:
        raise ValueError(f"`max_size` must be odd (a window has a centre pixel). Received: max_size={max_size}")
    image = x[..., 0]
    out = image.copy()
    undecided = (image == 0) | (image == 1)                           # the candidates
    for size in range(3, max_size + 1, 2):
        window = (1, size, size)
        low = ndimage.minimum_filter(image, window, mode="nearest")
        high = ndimage.maximum_filter(image, window, mode="nearest")
        median = ndimage.median_filter(image, window, mode="nearest")
        here = (low < median) & (median < high) & undecided
        replace = here & ((image <= low) | (image >= high))
        out[replace] = median[replace]
        undecided &= ~here
    out[undecided] = median[undecided]
    return out[..., None].astype("float32")


def gaussian_denoise(x, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels applied to each image."""
    from scipy import ndimage

    x = _greyscale("x", x)
    sigma = check_number("sigma", sigma, strict=True)
    if sigma > max(x.shape[1:3]):
        raise ValueError(f"`sigma` must be at most the image size, {max(x.shape[1:3])} pixels. Received: sigma={sigma!r}")
    return _per_image(x, ndimage.gaussian_filter, sigma=sigma, mode="nearest")


def tv_denoise(x, weight: float) -> np.ndarray:
    """Total-variation denoising (Chambolle's algorithm, scikit-image) of each image; larger ``weight``, smoother."""
    from skimage.restoration import denoise_tv_chambolle

    return _per_image(_greyscale("x", x), denoise_tv_chambolle, weight=check_number("weight", weight, strict=True))


def wavelet_denoise(x, scale: float) -> np.ndarray:
    """Wavelet soft-thresholding with BayesShrink (scikit-image), its noise estimate multiplied by ``scale``."""
    from skimage.restoration import denoise_wavelet, estimate_sigma

    scale = check_number("scale", scale, strict=True)
    return _per_image(_greyscale("x", x), lambda im: denoise_wavelet(im, sigma=scale * estimate_sigma(im), method="BayesShrink",
                                                                     mode="soft", rescale_sigma=True))


def nl_means_denoise(x, h: float) -> np.ndarray:
    """Non-local means (scikit-image, 5x5 patches searched within 6 pixels) with filtering strength ``h``."""
    from skimage.restoration import denoise_nl_means

    h = check_number("h", h, strict=True)
    return _per_image(_greyscale("x", x), denoise_nl_means, h=h, patch_size=5, patch_distance=6, fast_mode=True)


def bm3d_denoise(x, sigma: float, max_tile: int = 20) -> np.ndarray:
    """BM3D (Dabov et al. 2007; the ``bm3d`` package) assuming noise of standard deviation ``sigma``.

    The images are laid out in square mosaics of up to ``max_tile x max_tile`` images, each denoised in one
    call: BM3D's fixed cost per call dominates on 28 x 28 images (a mosaic is about 15x faster per image),
    and its block matching may then also use similar patches of neighbouring images.
    """
    import bm3d

    x = _greyscale("x", x)
    sigma, max_tile = check_number("sigma", sigma, strict=True), check_int("max_tile", max_tile, 1)
    tile = min(max_tile, int(np.ceil(np.sqrt(len(x)))))
    out = [np.asarray(bm3d.bm3d(mosaic, sigma_psd=sigma), dtype="float32") for mosaic in _mosaics(x, tile)]
    return np.clip(_from_mosaics(out, tile, x.shape), 0.0, 1.0)


def _mosaics(x: np.ndarray, tile: int) -> list[np.ndarray]:
    """Greyscale images ``(n, h, w, 1)`` laid out row by row in 2-D mosaics of ``tile x tile`` (the last one padded
    with black)."""
    n, h, w = len(x), x.shape[1], x.shape[2]
    padded = np.concatenate([x[..., 0], np.zeros((-n % (tile * tile), h, w), x.dtype)])
    groups = padded.reshape(-1, tile, tile, h, w)
    return [group.transpose(0, 2, 1, 3).reshape(tile * h, tile * w) for group in groups]


def _from_mosaics(mosaics: list[np.ndarray], tile: int, shape: tuple) -> np.ndarray:
    """The images of shape ``shape`` back from :func:`_mosaics`."""
    n, h, w = shape[0], shape[1], shape[2]
    images = [m.reshape(tile, h, tile, w).transpose(0, 2, 1, 3).reshape(tile * tile, h, w) for m in mosaics]
    return np.concatenate(images)[:n, ..., None].astype("float32")


#: Classical denoisers by name; each takes the images and the one parameter :func:`tune_denoiser` tunes.
DENOISERS = {"median": median_denoise, "adaptive median": adaptive_median_denoise,
             "gaussian": gaussian_denoise, "total variation": tv_denoise,
             "wavelet (BayesShrink)": wavelet_denoise, "non-local means": nl_means_denoise, "BM3D": bm3d_denoise}


def _denoiser(kind: str) -> Callable[[np.ndarray, float], np.ndarray]:
    """The classical denoiser named ``kind``, a key of :data:`DENOISERS`."""
    if not isinstance(kind, str) or kind not in DENOISERS:
        raise ValueError(f"`kind` must be one of {', '.join(DENOISERS)}. Received: kind={kind!r}")
    return DENOISERS[kind]


def denoise(x, kind: str, param: float) -> np.ndarray:
    """Apply the classical denoiser ``kind`` (a key of :data:`DENOISERS`) with its parameter ``param``."""
    return _denoiser(kind)(x, param)


def ssim(clean, estimate) -> np.ndarray:
    """Structural similarity (Wang et al. 2004; scikit-image, 7x7 windows) of each image, for pixels in [0, 1]."""
    from skimage.metrics import structural_similarity

    clean, estimate = _greyscale("clean", clean), _greyscale("estimate", estimate)
    if clean.shape != estimate.shape:
        raise ValueError(f"`estimate` must have the shape of `clean` {clean.shape}. Received: {estimate.shape}")
    if min(clean.shape[1:3]) < 7:
        raise ValueError("`clean` must be images of at least 7 x 7 pixels, the size of SSIM's window. "
                         f"Received: clean.shape={clean.shape}")
    return np.array([structural_similarity(a[..., 0], b[..., 0], data_range=1.0) for a, b in zip(clean, estimate)])


def psnr(clean, estimate) -> np.ndarray:
    """Peak signal-to-noise ratio of each image in dB, for pixels in [0, 1]: ``10 log10(1 / MSE)``."""
    clean, estimate = check_images("clean", clean), check_images("estimate", estimate)
    if clean.shape != estimate.shape:
        raise ValueError(f"`estimate` must have the shape of `clean` {clean.shape}. Received: {estimate.shape}")
    mse = ((clean.astype("float64") - estimate) ** 2).reshape(len(clean), -1).mean(1)
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))   # identical images: capped at 120 dB


def best_filter(noisy, clean, kind: str, params: Sequence[float]) -> tuple[float, dict[float, float]]:
    """The filter parameter with the best mean PSNR on (``noisy``, ``clean``), and the PSNR of every one tried.

    Args:
        noisy, clean: a validation split, corrupted and clean.
        kind: a key of :data:`DENOISERS`, such as ``"median"`` (params are window sizes) or ``"gaussian"``
            (params are sigmas in pixels).
        params: the values to try.
    """
    tuned = tune_denoiser(noisy, clean, kind, params, correct=False)
    return tuned.param, tuned.scores


@dataclasses.dataclass(frozen=True)
class TunedDenoiser:
    """A denoiser with its parameter, and optionally a monotone correction of its output, fitted on validation images.

    Call it on noisy images. ``scores`` holds the validation PSNR of every parameter tried (after its
    correction, when there is one).
    """

    name: str
    param: float
    scores: dict[float, float]
    denoise_fn: Callable[[np.ndarray, float], np.ndarray] = dataclasses.field(repr=False)
    correction: object | None = dataclasses.field(default=None, repr=False)   # a fitted IsotonicRegression

    def __call__(self, noisy) -> np.ndarray:
        return self.correct(self.denoise_fn(_greyscale("noisy", noisy), self.param))

    def correct(self, estimate) -> np.ndarray:
        """The fitted correction applied to the denoiser's raw output ``estimate`` (unchanged without one)."""
        return _corrected(self.correction, _greyscale("estimate", estimate))


def _corrected(correction, estimate: np.ndarray) -> np.ndarray:
    if correction is None:
        return estimate
    return correction.predict(estimate.ravel()).reshape(estimate.shape).astype("float32")


def _monotone_correction(estimate: np.ndarray, clean: np.ndarray):
    """The non-decreasing map of output pixel values that best fits the clean pixels (isotonic regression)."""
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(estimate.ravel(), clean.ravel())


def tune_denoiser(noisy, clean, kind: str, params: Sequence[float], *,
                  denoise_fn: Callable[[np.ndarray, float], np.ndarray] | None = None,
                  correct: bool = True) -> TunedDenoiser:
    """Tune a denoiser on a validation split: the parameter with the best mean PSNR, with its output corrected.

    Noise clipped to [0, 1] is biased (on a black background its mean is above 0), and a filter keeps
    that bias. With ``correct`` each parameter's output gets the best non-decreasing map from its pixel
    values to the clean ones (isotonic regression, scikit-learn), one map for every pixel of every
    image, fitted on the validation pixels; the parameter is chosen after that correction. ``scores``
    are measured on the same pixels the map was fitted on (slightly optimistic); score the tuned
    denoiser on other images.

    Args:
        noisy, clean: a validation split, corrupted and clean.
        kind: a key of :data:`DENOISERS`, or any name when ``denoise_fn`` is given.
        params: the values to try.
        denoise_fn: ``(images, param) -> images``, for a denoiser that is not in :data:`DENOISERS`.
        correct: fit the monotone correction (``False``: the raw output, as :func:`best_filter`).
    """
    if denoise_fn is None:
        denoise_fn = _denoiser(kind)
    elif not callable(denoise_fn):
        raise ValueError(f"`denoise_fn` must be a function (images, param) -> images. Received: denoise_fn={denoise_fn!r}")
    noisy, clean = _greyscale("noisy", noisy), _greyscale("clean", clean)
    if clean.shape != noisy.shape:
        raise ValueError(f"`clean` must have the shape of `noisy` {noisy.shape}. Received: clean.shape={clean.shape}")
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise ValueError(f"`params` must be a sequence of values to try. Received: params={params!r}")
    params = list(params)
    if len(params) == 0:
        raise ValueError("`params` must hold at least one value to try. Received: params=[]")
    scores, corrections = {}, {}
    for p in params:
        estimate = denoise_fn(noisy, p)
        corrections[p] = _monotone_correction(estimate, clean) if correct else None
        scores[p] = float(psnr(clean, _corrected(corrections[p], estimate)).mean())
    best = max(scores, key=scores.get)
    return TunedDenoiser(kind, best, scores, denoise_fn, corrections[best])


def psnr_at_rates(bits, psnr_db, rates) -> np.ndarray:
    """A rate-distortion curve read at other rates: the PSNR at each of ``rates`` (bits per image).

    Linear interpolation in log2(bits) between the curve's points (``bits``, ``psnr_db``); NaN outside
    the curve's range, where reading it would be an extrapolation.
    """
    bits, psnr_db, rates = (np.asarray(v, dtype="float64").ravel() for v in (bits, psnr_db, rates))
    if len(bits) == 0 or bits.shape != psnr_db.shape:
        raise ValueError("`bits` and `psnr_db` must be one curve, as many sizes as PSNRs (at least one). "
                         f"Received: {len(bits)} sizes and {len(psnr_db)} PSNRs")
    if not np.all(np.isfinite(bits) & (bits > 0)):
        raise ValueError(f"`bits` must be positive sizes. Received: bits={bits.tolist()}")
    if not np.all(np.isfinite(psnr_db)):
        raise ValueError(f"`psnr_db` must be finite. Received: psnr_db={psnr_db.tolist()}")
    if not np.all(rates > 0):
        raise ValueError(f"`rates` must be positive bits per image. Received: rates={rates.tolist()}")
    order = np.argsort(bits)
    return np.interp(np.log2(rates), np.log2(bits[order]), psnr_db[order], left=np.nan, right=np.nan)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """One greyscale image, ``(h, w, 1)`` or ``(h, w)`` in [0, 1], as 8-bit levels ``(h, w)``."""
    return pixel_levels(image[..., 0] if image.ndim == 3 else image).astype("uint8")


def png_bits(x) -> np.ndarray:
    """Size in bits of each image written as an 8-bit greyscale PNG (Pillow, ``optimize=True``)."""
    from PIL import Image

    sizes = []
    for image in _greyscale("x", x):
        buffer = io.BytesIO()
        Image.fromarray(_to_uint8(image), mode="L").save(buffer, format="PNG", optimize=True)
        sizes.append(8 * buffer.tell())
    return np.asarray(sizes, dtype="int64")


#: The lossy formats :func:`codec_roundtrip` writes (Pillow; JPEG XL through the ``pillow-jxl-plugin`` package).
CODECS = ("JPEG", "WEBP", "AVIF", "JXL")
#: Encoder settings other than Pillow's defaults, each codec at a strong setting: JPEG with optimized Huffman
#: tables (Pillow's default writes the standard ones), WebP at method 6 (its slowest and smallest; default 4),
#: AVIF at speed 4 of 0 (slowest, smallest) to 10 (Pillow's default is 6), which compresses better at about
#: four times the time; slower still was not affordable here.
_SAVE_OPTIONS = {"JPEG": {"optimize": True}, "WEBP": {"method": 6}, "AVIF": {"speed": 4}}


def webp_roundtrip(x, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image written as a lossy WebP at ``quality`` (1-95) and read back: ``(decoded, bits)``, as :func:`jpeg_roundtrip`."""
    return codec_roundtrip(x, quality, "WEBP")


def jpeg_roundtrip(x, quality: int, file_format: str = "JPEG") -> tuple[np.ndarray, np.ndarray]:
    """Each image written as a greyscale JPEG at ``quality`` (1-95) and read back: ``(decoded, bits)``.

    ``bits`` is the whole file, headers included: what storing the image really costs.
    ``file_format`` may name another of :data:`CODECS` (:func:`codec_roundtrip`).
    """
    return codec_roundtrip(x, quality, file_format)


def require_codec(file_format: str) -> None:
    """Raise a clear error where this Pillow cannot write ``file_format`` (JPEG XL needs the plugin package)."""
    from PIL import Image, features

    if file_format == "JXL":
        try:
            import pillow_jxl   # importing it registers the JXL format with Pillow
        except ImportError as error:
            raise RuntimeError("JPEG XL files need the pillow-jxl-plugin package (pip install pillow-jxl-plugin), "
                               "a dependency of this course") from error
        if "JXL" not in Image.SAVE:
            raise RuntimeError(f"{pillow_jxl.__name__} did not register JPEG XL with Pillow {Image.__version__}")
    elif file_format == "AVIF" and not features.check("avif"):
        raise RuntimeError(f"AVIF files need Pillow 11.3 or newer built with libavif. Received: Pillow {Image.__version__}")


def codec_roundtrip(x, quality: int, file_format: str = "JPEG", tile: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The images written as lossy files of ``file_format`` (one of :data:`CODECS`) at ``quality`` (1-95) and read back.

    With ``tile = 1`` each image is its own file; with ``tile > 1`` the images are laid out in
    mosaics of ``tile x tile`` (the last one padded with black), one file per mosaic, so a file's
    headers and a codec's context are shared by many images, as a stream of codes is. Returns
    ``(decoded, bits)``: ``bits`` is each image's share of its whole file, headers included (a
    file's bits divided by the real images in it; whole numbers, int64, when ``tile = 1``).
    """
    from PIL import Image

    x = _greyscale("x", x)
    quality, tile = check_int("quality", quality, 1, 95), check_int("tile", tile, 1, 64)   # up to 1,792 px wide
    if file_format not in CODECS:
        raise ValueError(f"`file_format` must be one of {', '.join(CODECS)}. Received: file_format={file_format!r}")
    require_codec(file_format)
    decoded, sizes = [], []
    for mosaic in _mosaics(x, tile):
        buffer = io.BytesIO()
        Image.fromarray(_to_uint8(mosaic), mode="L").save(buffer, format=file_format, quality=quality,
                                                         **_SAVE_OPTIONS.get(file_format, {}))
        sizes.append(8 * buffer.tell())
        buffer.seek(0)
        decoded.append(np.asarray(Image.open(buffer).convert("L"), dtype="float32") / 255.0)
    if tile == 1:
        return _from_mosaics(decoded, 1, x.shape), np.asarray(sizes, dtype="int64")
    per_file = tile * tile
    real = np.minimum(per_file, len(x) - per_file * np.arange(len(sizes)))   # images in each file
    return _from_mosaics(decoded, tile, x.shape), np.repeat(np.asarray(sizes) / real, per_file)[:len(x)]


def jpeg_curve(x, qualities: Sequence[int], file_format: str = "JPEG", tile: int = 1) -> dict[str, np.ndarray]:
    """Mean file size (bits per image) and mean PSNR of ``x`` written as JPEG (or another codec) at each quality.

    ``tile`` as in :func:`codec_roundtrip` (1: one file per image). Returns ``{"quality", "bits",
    "psnr"}``, one entry per quality, for a rate-distortion plot.
    """
    if isinstance(qualities, (str, bytes)) or not hasattr(qualities, "__len__") or len(qualities) == 0:
        raise ValueError(f"`qualities` must be a non-empty sequence of qualities in [1, 95]. Received: qualities={qualities!r}")
    x = _greyscale("x", x)
    bits, quality_db = [], []
    for q in qualities:
        decoded, sizes = codec_roundtrip(x, q, file_format, tile)
        bits.append(sizes.mean())
        quality_db.append(psnr(x, decoded).mean())
    return {"quality": np.asarray(qualities), "bits": np.asarray(bits), "psnr": np.asarray(quality_db)}
