"""One process of the cross-process codec test (tests/applications/test_compression.py).

``python codec_process.py compress DIR NAME`` writes ``DIR/NAME.bbans`` (bits-back) and ``DIR/NAME-is.bbans``
(importance-sampled bits-back, 4 samples) from ``DIR/images.npy`` with the model of ``DIR/weights.npz``; ``python codec_process.py decompress DIR`` decodes every
``DIR/*.bbans`` and prints one line per file: its name and whether it decoded to the images exactly.
The test runs these under different thread, oneDNN and instruction-set settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from vae_helpers.applications.compression import CompressionError, compress, decompress
from vae_helpers.models.discrete import build_discrete_vae

IMAGE_SHAPE = (28, 28, 1)


def model():
    """The test's model: the course's convolutional encoder and decoder (Conv2D, Dense, Conv2DTranspose)."""
    return build_discrete_vae(IMAGE_SHAPE, latent_dim=8, seed=0)


if __name__ == "__main__":
    action, folder = sys.argv[1], Path(sys.argv[2])
    vae = model()
    with np.load(folder / "weights.npz") as weights:
        vae.set_weights([weights[f"w{i}"] for i in range(len(weights.files))])
    images = np.load(folder / "images.npy")
    if action == "compress":
        (folder / f"{sys.argv[3]}.bbans").write_bytes(compress(vae, images))
        (folder / f"{sys.argv[3]}-is.bbans").write_bytes(compress(vae, images, importance_samples=4))
    else:
        for path in sorted(folder.glob("*.bbans")):
            try:
                print(path.stem, "exact" if np.array_equal(decompress(vae, path.read_bytes()), images) else "different")
            except CompressionError as error:
                print(path.stem, "refused:", error)
