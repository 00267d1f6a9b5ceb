"""Corruption, filters, PSNR and file sizes on cases with known answers."""

import numpy as np
import pytest

from vae_helpers.measures import image_quality as iq


@pytest.fixture
def images():
    x = np.zeros((4, 28, 28, 1), dtype="float32")
    x[:, 8:20, 10:18] = 1.0                    # a bright bar on black, like a simple digit stroke
    return x


def test_psnr_known_values(images):
    assert np.allclose(iq.psnr(images, np.clip(images + 0.1, 0, 1) * 0 + images), 120.0)   # identical: capped
    off = np.full_like(images, 0.5)
    mse = ((images - 0.5) ** 2).mean()
    assert np.allclose(iq.psnr(images, off), 10 * np.log10(1 / mse))


def test_gaussian_noise_statistics_and_determinism():
    x = np.full((20, 28, 28, 1), 0.5, dtype="float32")
    noisy = iq.gaussian_noise(x, 0.1, seed=3)
    assert np.array_equal(noisy, iq.gaussian_noise(x, 0.1, seed=3)) and noisy.min() >= 0 and noisy.max() <= 1
    assert abs((noisy - x).std() - 0.1) < 0.003 and abs((noisy - x).mean()) < 0.003


def test_salt_and_pepper_hits_the_requested_share():
    x = np.full((20, 28, 28, 1), 0.5, dtype="float32")
    out = iq.salt_and_pepper(x, 0.2, seed=1)
    hit = out != 0.5
    assert abs(hit.mean() - 0.2) < 0.01 and set(np.unique(out[hit])) == {0.0, 1.0}
    assert abs((out[hit] == 1).mean() - 0.5) < 0.03


def test_median_filter_removes_isolated_salt(images):
    noisy = images.copy()
    noisy[:, 2:26:4, 2] = 1.0                  # 6 isolated white pixels far from the bar
    noisy[:, 2, 22:27:4] = 1.0                 # and 2 more
    cleaned = iq.median_denoise(noisy, 3)
    assert np.all(cleaned[:, 2:26:4, 2] == 0) and np.all(cleaned[:, 2, 22:27:4] == 0)
    # the filter also rounds the bar's 4 corners off, but removes 8 wrong pixels: a net gain
    assert np.all((cleaned != images).sum((1, 2, 3)) == 4)
    assert iq.psnr(images, cleaned).mean() > iq.psnr(images, noisy).mean()


def test_best_filter_picks_the_best_size(images):
    noisy = iq.salt_and_pepper(images, 0.1, seed=0)
    size, scores = iq.best_filter(noisy, images, "median", [1, 3, 5])
    assert size == max(scores, key=scores.get) and scores[3] > scores[1]
    sigma, _ = iq.best_filter(iq.gaussian_noise(images, 0.3, seed=0), images, "gaussian", [0.5, 1.0])
    assert sigma in (0.5, 1.0)
    with pytest.raises(ValueError, match=r"`kind` must be one of median, adaptive median, gaussian"):
        iq.best_filter(noisy, images, "wiener", [3])


@pytest.fixture
def grey_bar():
    x = np.full((4, 28, 28, 1), 0.2, dtype="float32")
    x[:, 8:20, 10:18] = 0.8                    # no pixel at exactly 0 or 1
    return x


def test_adaptive_median_replaces_the_impulses_and_keeps_the_rest(grey_bar):
    noisy = iq.salt_and_pepper(grey_bar, 0.1, seed=0)
    hit = noisy != grey_bar
    adaptive, plain = iq.adaptive_median_denoise(noisy, 5), iq.median_denoise(noisy, 3)
    assert (adaptive[~hit] == grey_bar[~hit]).mean() > 0.99                # other pixels kept, the bar's corners too
    assert (adaptive[hit] == grey_bar[hit]).mean() > 0.95                  # impulses mostly restored exactly
    assert iq.psnr(grey_bar, adaptive).mean() > iq.psnr(grey_bar, plain).mean() + 5
    on_black = np.where(grey_bar > 0.5, 0.7, 0.0).astype("float32")       # a true black background (0 is also pepper)
    cleaned = iq.adaptive_median_denoise(iq.salt_and_pepper(on_black, 0.2, seed=1), 7)
    assert (cleaned[on_black == 0] == 0).mean() > 0.99 and (cleaned[on_black > 0] == 0.7).mean() > 0.95
    flat = np.full((1, 9, 9, 1), 0.5, "float32")                           # no window qualifies: the largest median
    flat[0, 4, 4] = 1.0
    assert np.array_equal(iq.adaptive_median_denoise(flat, 5), np.full_like(flat, 0.5))
    with pytest.raises(ValueError, match=r"`max_size` must be odd .* Received: max_size=4"):
        iq.adaptive_median_denoise(on_black, 4)


def test_tune_denoiser_corrects_a_bias_that_the_raw_filter_keeps(grey_bar):
    biased = grey_bar + 0.1                                        # a shift, like clipped noise on black
    raw = iq.tune_denoiser(biased, grey_bar, "identity", [0], denoise_fn=lambda x, p: x, correct=False)
    fixed = iq.tune_denoiser(biased, grey_bar, "identity", [0], denoise_fn=lambda x, p: x)
    assert raw.scores[0] == pytest.approx(20.0, abs=0.01)          # 10 log10(1 / 0.1^2)
    assert fixed.scores[0] > 100 and np.allclose(fixed(biased), grey_bar, atol=1e-4)
    assert np.allclose(fixed(grey_bar[:1] + 0.1), grey_bar[:1], atol=1e-4)   # the fitted map applies to new images
    noisy = iq.gaussian_noise(grey_bar, 0.2, seed=0)
    tuned = iq.tune_denoiser(noisy, grey_bar, "gaussian", [0.5, 1.0, 2.0])
    plain = iq.tune_denoiser(noisy, grey_bar, "gaussian", [0.5, 1.0, 2.0], correct=False)
    assert tuned.param == max(tuned.scores, key=tuned.scores.get) and tuned.name == "gaussian"
    assert all(tuned.scores[p] >= plain.scores[p] - 1e-6 for p in plain.scores)   # the identity map is among the maps
    assert np.allclose(tuned(noisy), tuned.correct(iq.gaussian_denoise(noisy, tuned.param)))
    with pytest.raises(ValueError, match=r"`denoise_fn` must be a function"):
        iq.tune_denoiser(biased, grey_bar, "x", [0], denoise_fn="blur")


def test_png_and_jpeg_sizes_are_real_files(images):
    bits = iq.png_bits(images)
    noise = iq.gaussian_noise(images, 0.3, seed=0)
    assert np.all(bits % 8 == 0) and np.all(iq.png_bits(noise) > bits)    # noise does not compress
    low, low_bits = iq.jpeg_roundtrip(images, 5)
    high, high_bits = iq.jpeg_roundtrip(images, 95)
    assert low.shape == images.shape and np.all(high_bits > low_bits)
    assert iq.psnr(images, high).mean() > iq.psnr(images, low).mean()


@pytest.mark.parametrize("call, match", [
    (lambda x: iq.gaussian_noise(x * 255, 0.1), r"pixel values in \[0, 1\]"),
    (lambda x: iq.gaussian_noise(x, -0.1), r"`sigma` must be a finite non-negative number"),
    (lambda x: iq.salt_and_pepper(x, 1.5), r"`amount` must be a share of pixels in \[0, 1\]"),
    (lambda x: iq.median_denoise(x, 0), r"`size` must be an integer in \[1, "),
    (lambda x: iq.gaussian_denoise(x, 0.0), r"`sigma` must be a finite positive number"),
    (lambda x: iq.jpeg_roundtrip(x, 100), r"`quality` must be an integer in \[1, 95\]"),
    (lambda x: iq.psnr(x, x[:2]), r"`estimate` must have the shape of `clean`"),
    (lambda x: iq.gaussian_noise(x, 0.1, seed=-1), r"`seed` must be an integer in \[0, 4294967295\]"),
])
def test_bad_inputs(images, call, match):
    with pytest.raises(ValueError, match=match):
        call(images)


@pytest.mark.parametrize("kind, param", [("total variation", 0.1), ("wavelet (BayesShrink)", 1.0),
                                         ("non-local means", 0.1), ("BM3D", 0.2)])
def test_classical_denoisers_beat_the_noisy_input_and_stay_in_range(images, kind, param):
    noisy = iq.gaussian_noise(np.repeat(images, 3, axis=0), 0.2, seed=4)
    clean = np.repeat(images, 3, axis=0)
    out = iq.denoise(noisy, kind, param)
    assert out.shape == noisy.shape and out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    assert iq.psnr(clean, out).mean() > iq.psnr(clean, noisy).mean() + 1.5


def test_bm3d_mosaic_keeps_each_image_in_its_place(images):
    x = np.repeat(images, 5, axis=0) * np.linspace(0.2, 1.0, 20)[:, None, None, None].astype("float32")
    out = iq.bm3d_denoise(x, 0.01, max_tile=3)          # 20 images: two 3 x 3 mosaics and a padded third
    assert out.shape == x.shape and np.abs(out - x).max() < 0.05


def test_ssim_known_values(images):
    assert np.allclose(iq.ssim(images, images), 1.0)
    assert np.all(iq.ssim(images, np.clip(images + iq.gaussian_noise(images * 0, 0.3, 1), 0, 1)) < 0.5)
    with pytest.raises(ValueError, match=r"`estimate` must have the shape of `clean`"):
        iq.ssim(images, images[:2])


def test_webp_files_are_real_and_smaller_than_jpeg_at_low_quality(images):
    decoded, bits = iq.webp_roundtrip(images, 10)
    assert decoded.shape == images.shape and bits.dtype == np.int64 and np.all(bits > 0)
    assert np.all(bits < iq.jpeg_roundtrip(images, 10)[1])   # WebP's fixed overhead is much smaller than JPEG's
    with pytest.raises(ValueError, match=r"`file_format` must be one of JPEG, WEBP, AVIF, JXL. Received: file_format='PNG'"):
        iq.jpeg_roundtrip(images, 10, file_format="PNG")


def test_denoise_refuses_unknown_kinds(images):
    with pytest.raises(ValueError, match=r"`kind` must be one of median, adaptive median, gaussian, total variation"):
        iq.denoise(images, "bilateral", 1.0)


def test_small_images_and_mistyped_arguments_get_clear_answers():
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    assert iq.nl_means_denoise(x[:, :1, :1], 0.1).shape == (2, 1, 1, 1)        # a 1x1 image stays 1x1
    with pytest.raises(ValueError, match=r"`kind` must be one of .*Received: kind=\['median'\]"):
        iq.denoise(x, ["median"], 3)
    with pytest.raises(ValueError, match=r"`qualities` must be a non-empty sequence .*Received: qualities=None"):
        iq.jpeg_curve(x, None)
    with pytest.raises(ValueError, match=r"`clean` must be images of at least 7 x 7 pixels"):
        iq.ssim(x[:, :5, :5], x[:, :5, :5])


@pytest.mark.parametrize("file_format", iq.CODECS)
def test_codec_mosaics_share_each_file_among_its_images(file_format):
    x = np.random.default_rng(0).random((10, 28, 28, 1)).astype("float32") * 0.2
    x[:, 8:20, 10:18] += 0.7
    single, single_bits = iq.codec_roundtrip(x, 50, file_format)
    mosaic, bits = iq.codec_roundtrip(x, 50, file_format, tile=2)         # files of 4, 4 and 2 images
    assert single.shape == mosaic.shape == x.shape and single_bits.shape == bits.shape == (10,)
    last_file = iq.codec_roundtrip(x[8:], 50, file_format, tile=2)[1]     # the last file alone holds the same 2 images
    assert np.allclose(bits[8:], last_file) and np.isclose(bits[8:].sum(), last_file.sum())
    assert bits.mean() < single_bits.mean()                               # headers paid once per file
    nearest = ((mosaic[:, None] - x[None]) ** 2).sum((2, 3, 4)).argmin(1)
    assert np.array_equal(nearest, np.arange(10))                          # each image back in its own place
    assert iq.psnr(x, mosaic).mean() > 20 and iq.psnr(x, single).mean() > 20
    curve = iq.jpeg_curve(x, [20, 80], file_format, tile=4)
    assert curve["bits"][1] > curve["bits"][0] and curve["psnr"][1] > curve["psnr"][0]


def test_psnr_at_rates_interpolates_in_log_bits_and_never_extrapolates():
    at = iq.psnr_at_rates([400, 100, 200], [30.0, 20.0, 24.0], [100, 141.42135623730951, 300, 50, 800])
    assert np.allclose(at[:2], [20.0, 22.0]) and 24 < at[2] < 30 and np.isnan(at[3:]).all()
    with pytest.raises(ValueError, match=r"`bits` must be positive sizes. Received: bits=\[0.0, 10.0\]"):
        iq.psnr_at_rates([0, 10], [1.0, 2.0], [5])
    with pytest.raises(ValueError, match=r"`bits` and `psnr_db` must be one curve"):
        iq.psnr_at_rates([1, 10], [1.0], [5])
    with pytest.raises(ValueError, match=r"`rates` must be positive"):
        iq.psnr_at_rates([1, 10], [1.0, 2.0], [-5])


def test_mosaics_round_trip_exactly():
    x = np.random.default_rng(1).random((7, 5, 4, 1)).astype("float32")
    for tile in (1, 2, 3):
        mosaics = iq._mosaics(x, tile)
        assert len(mosaics) == -(-7 // tile ** 2) and mosaics[0].shape == (5 * tile, 4 * tile)
        assert np.array_equal(iq._from_mosaics(mosaics, tile, x.shape), x)
    assert np.array_equal(iq._mosaics(x, 2)[0][:5, 4:], x[1, ..., 0])      # row by row: the second image top right
