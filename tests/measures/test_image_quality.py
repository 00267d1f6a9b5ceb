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
    with pytest.raises(ValueError, match=r"`kind` must be one of median, gaussian"):
        iq.best_filter(noisy, images, "wiener", [3])


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
    with pytest.raises(ValueError, match=r"`file_format` must be JPEG or WEBP. Received: file_format='PNG'"):
        iq.jpeg_roundtrip(images, 10, file_format="PNG")


def test_denoise_refuses_unknown_kinds(images):
    with pytest.raises(ValueError, match=r"`kind` must be one of median, gaussian, total variation"):
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
