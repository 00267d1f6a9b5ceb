"""The lossless baselines (vae_helpers.measures.lossless): real files that decode back, and models of known entropy."""

from __future__ import annotations

import numpy as np
import pytest

from vae_helpers.measures import lossless
from vae_helpers.measures.baselines import PixelHistogram


def _levels(rng, shape, p):
    """8-bit images whose every pixel is drawn from the distribution ``p`` over 256 levels."""
    return (rng.choice(256, size=shape, p=p) / 255).astype("float32")


def test_a_histogram_model_codes_data_at_their_entropy():
    rng = np.random.default_rng(0)
    p = np.zeros(256)
    p[[0, 64, 128, 255]] = [0.5, 0.25, 0.125, 0.125]                    # entropy 1.75 bits per pixel
    train, test = _levels(rng, (20000, 6, 6, 1), p), _levels(rng, (500, 6, 6, 1), p)
    model = lossless.fit_context_model(train, binary=False, position=True)
    ideal = lossless.context_code_bits(model, test, binary=False)
    assert ideal.mean() / 36 == pytest.approx(1.75, abs=0.02)   # add-1/2 smoothing of 252 unseen levels costs ~0.01
    data = lossless.context_compress(model, test, binary=False)
    assert 8 * len(data) == pytest.approx(ideal.sum(), rel=0.01, abs=64)  # ANS within its rounding of the ideal length
    assert np.array_equal(lossless.context_decompress(model, data, len(test)), lossless.pixel_symbols(test, False))
    [row] = lossless.latent_free_sizes(test, [model], binary=False)
    assert row["codec"] == "histogram per position" and row["bits per image"] == 8 * len(data) / len(test)


def test_the_position_model_is_the_pixel_histogram_of_the_baselines():
    rng = np.random.default_rng(1)
    train = (rng.integers(0, 256, (300, 4, 4, 1)) // 64 * 64 / 255).astype("float32")
    model = lossless.fit_context_model(train, binary=False, position=True, alpha=1.0)
    np.testing.assert_allclose(lossless.context_code_bits(model, train[:20], binary=False),
                               PixelHistogram.fit(train).nll_bits(train[:20]), rtol=1e-9)


def test_a_context_model_with_position_blocks_learns_where_a_pixel_is():
    # independent binary pixels, 1 with probability 0.9 in the top 4 rows and 0.1 in the bottom 4: 64 H(0.1) bits
    rng = np.random.default_rng(3)
    p_one = np.where(np.arange(8)[:, None] < 4, 0.9, 0.1) * np.ones((1, 8))
    images = (rng.random((3000, 8, 8)) < p_one)[..., None].astype("float32")
    train, test = images[:2500], images[2500:]
    entropy = 64 * -(0.9 * np.log2(0.9) + 0.1 * np.log2(0.1))
    model = lossless.fit_context_model(train, True, ("W",), 2, position=True, block=4)
    assert model.name == "context: position in 4 x 4 blocks + 1 neighbours (W)"
    assert lossless.context_code_bits(model, test, binary=True).mean() == pytest.approx(entropy, rel=0.03)
    without = lossless.fit_context_model(train, True, ("W",), 2)
    assert lossless.context_code_bits(without, test, binary=True).mean() > 1.5 * entropy
    data = lossless.context_compress(model, test, binary=True)
    assert np.array_equal(lossless.context_decompress(model, data, len(test)), test[..., 0].astype(np.uint8))
    with pytest.raises(ValueError, match=r"`block` must be"):
        lossless.fit_context_model(train, True, ("W",), 2, position=True, block=9)


def test_a_causal_context_model_learns_what_a_pixel_shares_with_its_neighbours():
    # binary images whose rows start at 0 and copy the pixel to the left with probability 0.95: 0.286 bits per
    # pixel given W (a pixel outside the image reads 0, so the first column is known)
    rng = np.random.default_rng(2)
    flips = rng.random((3000, 8, 8)) < 0.05
    x = np.zeros((3000, 8, 8), bool)
    for c in range(1, 8):
        x[:, :, c] = x[:, :, c - 1] ^ flips[:, :, c]
    images = x[..., None].astype("float32")
    train, test = images[:2500], images[2500:]
    model, tried = lossless.choose_context_model(train[:2000], train[2000:], binary=True)
    assert [name for name, _ in tried] == [lossless.fit_context_model(train, True, t, 2, b is not None, block=b or 1).name
                                           for t, _, b in lossless.CONTEXT_CANDIDATES[2]]
    bits = lossless.context_code_bits(lossless.fit_context_model(train, True, model.neighbours, 2), test, binary=True)
    entropy = 8 * 7 * -(0.95 * np.log2(0.95) + 0.05 * np.log2(0.05))
    assert bits.mean() == pytest.approx(entropy, rel=0.05)
    histogram = lossless.fit_context_model(train, binary=True, position=True)
    assert lossless.context_code_bits(histogram, test, binary=True).mean() > 1.5 * entropy     # position alone knows less
    data = lossless.context_compress(model, test, binary=True)
    assert np.array_equal(lossless.context_decompress(model, data, len(test)), x[2500:].astype(np.uint8))


def test_codec_sizes_are_whole_files_per_image_and_per_mosaic():
    rng = np.random.default_rng(3)
    flat = np.zeros((20, 16, 16, 1), "float32")
    noise = (rng.integers(0, 256, (20, 16, 16, 1)) / 255).astype("float32")
    train = (rng.integers(0, 256, (500, 16, 16, 1)) // 32 * 32 / 255).astype("float32")   # enough to train a dictionary
    low = {(r["codec"], r["files"]): r["bits per image"] for r in lossless.codec_sizes(flat, x_train=train)}
    high = {(r["codec"], r["files"]): r["bits per image"] for r in lossless.codec_sizes(noise, x_train=train)}
    assert set(low) == set(high) and ("JPEG XL e10", "mosaics of 20") in low and ("zstd -22", "whole set") in low
    assert all(low[k] < 0.25 * high[k] for k in low)                     # constant images cost far less than noise
    assert high[("gzip -9", "whole set")] >= 8 * 256 * 0.98              # 8-bit noise does not compress
    assert low[("PNG", "mosaics of 20")] < low[("PNG", "one per image")]  # one header per mosaic, not per image
    rows = lossless.codec_sizes((noise > 0.5).astype("float32"), binary=True, per_image=(), mosaic=())
    assert {r["codec"]: r["bits per image"] for r in rows}["gzip -9"] == pytest.approx(256, rel=0.05)   # 1 bit a pixel
    assert all(r["encode s"] >= 0 for r in rows)


def test_bad_inputs_are_refused_by_name():
    grey = np.full((2, 8, 8, 1), 128 / 255, "float32")
    with pytest.raises(ValueError, match=r"`x_test` must be binary .* with binary=True.*128 pixels strictly between"):
        lossless.codec_sizes(grey, binary=True)
    with pytest.raises(ValueError, match=r"`x_test` must be 8-bit"):
        lossless.codec_sizes(np.full((2, 8, 8, 1), 0.3, "float32"))
    with pytest.raises(ValueError, match=r"`per_image` must name codecs among"):
        lossless.codec_sizes(grey, per_image=("GIF",))
    with pytest.raises(ValueError, match=r"`neighbours` must be a tuple of names"):
        lossless.fit_context_model(grey, False, neighbours=("SE",), bins=4)
    with pytest.raises(ValueError, match=r"needs `neighbours` or `position=True`"):
        lossless.fit_context_model(grey, False)
    with pytest.raises(ValueError, match=r"exceed the .* table entries"):
        lossless.fit_context_model(grey, False, neighbours=("W", "N", "NW", "NE"), bins=128)
    model = lossless.fit_context_model(grey, False, position=True)
    with pytest.raises(ValueError, match=r"`images` must be 8-bit images of \(8, 8\) like .* Received: binary images"):
        lossless.context_code_bits(model, np.zeros((2, 8, 8, 1), "float32"), binary=True)
    with pytest.raises(ValueError, match=r"`model` must be a ContextModel"):
        lossless.context_decompress(None, b"", 1)
