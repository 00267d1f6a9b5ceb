"""Image corruption, classical filters, quality and size measures: the yardsticks of denoising and compression.

- :func:`gaussian_noise`, :func:`salt_and_pepper`: corrupt images in [0, 1] with a fixed seed;
- :func:`median_denoise`, :func:`gaussian_denoise` (scipy.ndimage), and the strong classical denoisers
  of :data:`DENOISERS`: total variation, wavelet shrinkage (BayesShrink) and non-local means from
  scikit-image, and BM3D (the ``bm3d`` package); :func:`best_filter` picks each one's parameter on a
  validation split, the fair baseline for a learned denoiser;
- :func:`psnr` and :func:`ssim`: peak signal-to-noise ratio (dB) and structural similarity of each image;
- :func:`png_bits`, :func:`jpeg_roundtrip`: lossless and lossy file sizes of each image, in bits,
  written with Pillow exactly as a file would be.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from ..core.checks import check_images, check_int, check_number, check_seed

__all__ = ["DENOISERS", "best_filter", "bm3d_denoise", "denoise", "gaussian_denoise", "gaussian_noise", "jpeg_curve",
           "jpeg_roundtrip", "median_denoise", "nl_means_denoise", "png_bits", "psnr", "salt_and_pepper", "ssim",
           "tv_denoise", "wavelet_denoise", "webp_roundtrip"]


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
    n, h, w = len(x), x.shape[1], x.shape[2]
    tile = min(max_tile, int(np.ceil(np.sqrt(n))))
    padded = np.concatenate([x[..., 0], np.zeros((-n % (tile * tile), h, w), "float32")])
    out = []
    for start in range(0, len(padded), tile * tile):
        mosaic = padded[start:start + tile * tile].reshape(tile, tile, h, w).transpose(0, 2, 1, 3).reshape(tile * h, tile * w)
        clean = np.asarray(bm3d.bm3d(mosaic, sigma_psd=sigma), dtype="float32")
        out.append(clean.reshape(tile, h, tile, w).transpose(0, 2, 1, 3).reshape(tile * tile, h, w))
    return np.clip(np.concatenate(out)[:n, ..., None], 0.0, 1.0)


#: Classical denoisers by name; each takes the images and the one parameter :func:`best_filter` tunes.
DENOISERS = {"median": median_denoise, "gaussian": gaussian_denoise, "total variation": tv_denoise,
             "wavelet (BayesShrink)": wavelet_denoise, "non-local means": nl_means_denoise, "BM3D": bm3d_denoise}


def denoise(x, kind: str, param: float) -> np.ndarray:
    """Apply the classical denoiser ``kind`` (a key of :data:`DENOISERS`) with its parameter ``param``."""
    if not isinstance(kind, str) or kind not in DENOISERS:
        raise ValueError(f"`kind` must be one of {', '.join(DENOISERS)}. Received: kind={kind!r}")
    return DENOISERS[kind](x, param)


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
    if not isinstance(kind, str) or kind not in DENOISERS:
        raise ValueError(f"`kind` must be one of {', '.join(DENOISERS)}. Received: kind={kind!r}")
    noisy, clean = _greyscale("noisy", noisy), _greyscale("clean", clean)
    if clean.shape != noisy.shape:
        raise ValueError(f"`clean` must have the shape of `noisy` {noisy.shape}. Received: clean.shape={clean.shape}")
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise ValueError(f"`params` must be a sequence of values to try. Received: params={params!r}")
    params = list(params)
    if len(params) == 0:
        raise ValueError("`params` must hold at least one value to try. Received: params=[]")
    scores = {p: float(psnr(clean, denoise(noisy, kind, p)).mean()) for p in params}
    return max(scores, key=scores.get), scores


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(image[..., 0] * 255).astype("uint8")


def png_bits(x) -> np.ndarray:
    """Size in bits of each image written as an 8-bit greyscale PNG (Pillow, ``optimize=True``)."""
    from PIL import Image

    sizes = []
    for image in _greyscale("x", x):
        buffer = io.BytesIO()
        Image.fromarray(_to_uint8(image), mode="L").save(buffer, format="PNG", optimize=True)
        sizes.append(8 * buffer.tell())
    return np.asarray(sizes, dtype="int64")


def webp_roundtrip(x, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image written as a lossy WebP at ``quality`` (1-95) and read back: ``(decoded, bits)``, as :func:`jpeg_roundtrip`."""
    return jpeg_roundtrip(x, quality, file_format="WEBP")


def jpeg_roundtrip(x, quality: int, file_format: str = "JPEG") -> tuple[np.ndarray, np.ndarray]:
    """Each image written as a greyscale JPEG at ``quality`` (1-95) and read back: ``(decoded, bits)``.

    ``bits`` is the whole file, headers included: what storing the image really costs.
    ``file_format="WEBP"`` writes lossy WebP instead (Pillow).
    """
    from PIL import Image

    quality = check_int("quality", quality, 1, 95)
    if file_format not in ("JPEG", "WEBP"):
        raise ValueError(f"`file_format` must be JPEG or WEBP. Received: file_format={file_format!r}")
    decoded, sizes = [], []
    for image in _greyscale("x", x):
        buffer = io.BytesIO()
        Image.fromarray(_to_uint8(image), mode="L").save(buffer, format=file_format, quality=quality)
        sizes.append(8 * buffer.tell())
        buffer.seek(0)
        decoded.append(np.asarray(Image.open(buffer).convert("L"), dtype="float32")[..., None] / 255.0)
    return np.stack(decoded), np.asarray(sizes, dtype="int64")


def jpeg_curve(x, qualities: Sequence[int], file_format: str = "JPEG") -> dict[str, np.ndarray]:
    """Mean file size (bits per image) and mean PSNR of ``x`` written as JPEG (or ``"WEBP"``) at each quality.

    Returns ``{"quality", "bits", "psnr"}``, one entry per quality, for a rate-distortion plot.
    """
    if isinstance(qualities, (str, bytes)) or not hasattr(qualities, "__len__") or len(qualities) == 0:
        raise ValueError(f"`qualities` must be a non-empty sequence of qualities in [1, 95]. Received: qualities={qualities!r}")
    x = _greyscale("x", x)
    bits, quality_db = [], []
    for q in qualities:
        decoded, sizes = jpeg_roundtrip(x, q, file_format)
        bits.append(sizes.mean())
        quality_db.append(psnr(x, decoded).mean())
    return {"quality": np.asarray(qualities), "bits": np.asarray(bits), "psnr": np.asarray(quality_db)}
