"""Reading GIFs back in tests."""

import numpy as np
from PIL import Image


def read_gif(path):
    """Frame count, (W, H), per-frame durations in ms, and the loop count of a GIF."""
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info["duration"])
        return im.n_frames, im.size, durations, im.info.get("loop")


def gif_pixels(path) -> np.ndarray:
    """All frames of a GIF as one RGB array (frames, H, W, 3)."""
    with Image.open(path) as im:
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")))
        return np.stack(frames)
