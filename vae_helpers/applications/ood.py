"""Out-of-distribution inputs for notebook 06: sets that image complexity separates, and sets it does not.

Every set is 8-bit images scaled to [0, 1] (values ``k / 255``), so that a discretized-logistic VAE
(:mod:`vae_helpers.models.discrete`) gives each image a code length in bits, comparable with its PNG size.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import MAX_PIXELS, check_images, check_int, check_seed
from ..data.datasets import pixel_levels

__all__ = ["embed_digits", "ood_sets", "to_8bit"]


def to_8bit(x) -> np.ndarray:
    """Images in [0, 1] rounded to the nearest of the 256 levels ``k / 255`` (float32)."""
    return (pixel_levels(check_images("x", x)) / 255.0).astype("float32")


def embed_digits(x, size: int = 20, canvas: int = 28) -> np.ndarray:
    """Small digit images resized to ``size`` pixels (bilinear, Pillow) and centred on a black ``canvas``, as MNIST's are."""
    from PIL import Image

    x = check_images("x", x, greyscale=True)
    size, canvas = check_int("size", size, 1), check_int("canvas", canvas, 1)
    if len(x) * canvas**2 > MAX_PIXELS:
        raise ValueError(f"`canvas` must keep the output at most {MAX_PIXELS:,} pixels in all ({len(x):,} images of "
                         f"canvas x canvas). Received: canvas={canvas}")
    if size > canvas:
        raise ValueError(f"`size` must be at most `canvas` ({canvas}). Received: size={size}")
    out = np.zeros((len(x), canvas, canvas, 1), "float32")
    lo = (canvas - size) // 2
    for i, image in enumerate(x[..., 0]):
        resized = Image.fromarray(image.astype("float32"), mode="F").resize((size, size), Image.BILINEAR)
        out[i, lo:lo + size, lo:lo + size, 0] = np.clip(np.asarray(resized), 0.0, 1.0)
    return to_8bit(out)


def ood_sets(x_in, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs made from the in-distribution test images ``x_in`` (8-bit), one set of ``len(x_in)`` each.

    - ``"uniform noise"``: every pixel an independent level (the most complex images there are);
    - ``"constant"``: one random level everywhere (the simplest);
    - ``"inverted"``: ``1 - x`` (a bright background: the same content, another look);
    - ``"upside down"``: ``x`` flipped vertically (the same pixels and PNG complexity, an unseen layout).
    """
    x_in = to_8bit(check_images("x_in", x_in))
    rng = np.random.default_rng(check_seed("seed", seed))
    n, shape = len(x_in), x_in.shape
    return {
        "uniform noise": rng.integers(0, 256, size=shape).astype("float32") / 255.0,
        "constant": np.broadcast_to(rng.integers(0, 256, size=(n, 1, 1, 1)), shape).astype("float32") / 255.0,
        "inverted": to_8bit(1.0 - x_in),
        "upside down": np.ascontiguousarray(x_in[:, ::-1]),
    }
