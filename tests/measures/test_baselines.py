"""The closed-form baselines: PCA as an autoencoder, the mean image, typicality (known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from vae_helpers.measures import baselines
from vae_helpers.measures.baselines import PCACodec, mean_image, nearest_distance, nearest_index, squared_distance, typicality


def _low_rank_images(n: int = 200, rank: int = 3, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images ``0.5 + codes @ basis`` of exactly ``rank`` dimensions, and the basis (orthonormal rows)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(side * side, rank)))[0].T
    codes = rng.uniform(-1, 1, (n, rank)) * np.array([0.6, 0.4, 0.2, 0.1, 0.05][:rank])
    return (0.5 + codes @ basis).reshape(n, side, side, 1).clip(0, 1), basis


def test_pca_with_the_data_rank_reconstructs_exactly_and_one_less_loses_the_last_variance():
    x, _ = _low_rank_images()
    assert np.abs(PCACodec.fit(x, 3).reconstruct(x) - x).max() < 1e-6
    short = PCACodec.fit(x, 2)
    lost = squared_distance(x, short.reconstruct(x)).sum()
    third = PCACodec.fit(x, 3).variances[2]
    assert lost == pytest.approx((len(x) - 1) * third, rel=1e-4)      # sklearn's variances divide by n - 1


def test_the_components_span_the_data_and_whitened_codes_have_unit_variance():
    from scipy.linalg import subspace_angles

    x, basis = _low_rank_images()
    pca = PCACodec.fit(x, 3)
    assert np.degrees(subspace_angles(pca.components.T, basis.T)).max() < 1e-4
    assert np.allclose(pca.components @ pca.components.T, np.eye(3), atol=1e-10)
    assert np.allclose(pca.encode(x, whiten=True).std(axis=0, ddof=1), 1.0)
    assert np.allclose(pca.decode(pca.encode(x, whiten=True), whitened=True), pca.reconstruct(x), atol=1e-6)
    assert list(pca.variances) == sorted(pca.variances, reverse=True)


def test_a_linear_autoencoder_trained_with_squared_error_spans_the_pca_subspace():
    # Baldi & Hornik (1989): gradient descent on a linear encoder and decoder (centred images, code size 2)
    # ends in the span of the first two principal components, though its two directions are not PCA's.
    from scipy.linalg import subspace_angles

    x, _ = _low_rank_images(n=400, rank=5)
    x = (x + np.random.default_rng(1).normal(0, 0.01, x.shape)).clip(0, 1)
    flat = x.reshape(len(x), -1)
    flat = flat - flat.mean(axis=0)
    rng = np.random.default_rng(0)
    encoder, decoder = rng.normal(0, 0.1, (64, 2)), rng.normal(0, 0.1, (2, 64))
    for _ in range(5000):                                  # loss: mean over images of the summed squared error
        codes = flat @ encoder
        grad_out = 2 * (codes @ decoder - flat) / len(flat)
        grad_decoder, grad_encoder = codes.T @ grad_out, flat.T @ (grad_out @ decoder.T)
        encoder -= 0.5 * grad_encoder
        decoder -= 0.5 * grad_decoder
    angles = np.degrees(subspace_angles(decoder.T, PCACodec.fit(x, 2).components.T))
    assert angles.max() < 1.0, angles
    assert np.degrees(subspace_angles(decoder.T, PCACodec.fit(x, 3).components[1:].T)).max() > 45   # not any 2-D subspace


def test_mean_image_squared_distance_and_typicality_on_known_values():
    x = np.stack([np.full((2, 2, 1), v, "float32") for v in (0.0, 0.5, 1.0)])
    assert np.allclose(mean_image(x), 0.5)
    assert np.allclose(squared_distance(x, mean_image(x)), [1.0, 0.0, 1.0])     # 4 pixels of 0.5**2
    assert np.allclose(squared_distance(x, x[::-1]), [4.0, 0.0, 4.0])
    assert np.allclose(typicality([1.0, 2.0, 3.0, 10.0], [0.0, 2.5, 7.0]), [2.5, 0.0, 4.5])   # the median is 2.5
    # deviations from 2.5: 1.5, 0.5, 0.5, 7.5; their median is 1.0, so the robust sd is 1.4826
    assert np.allclose(typicality([1.0, 2.0, 3.0, 10.0], [0.0, 2.5, 7.0], scaled=True), np.array([2.5, 0.0, 4.5]) / 1.4826)
    with pytest.raises(ValueError, match="`train_statistic` must vary to be scaled"):
        typicality([1.0, 1.0, 1.0, 5.0], [2.0], scaled=True)


def test_bad_inputs_are_refused_by_name():
    x, _ = _low_rank_images(n=10)
    pca = PCACodec.fit(x, 2)
    with pytest.raises(ValueError, match=r"`k` must be"):
        PCACodec.fit(x, 11)
    with pytest.raises(ValueError, match=r"`images` must be a non-empty batch of images of shape \(n, 8, 8, 1\)"):
        pca.encode(np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"`codes` must be finite codes of shape \(n, 2\)"):
        pca.decode(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"`reference` must be finite, one image"):
        squared_distance(x, np.zeros((3, 3, 1)))
    with pytest.raises(ValueError, match=r"`train_statistic` must be a non-empty 1-D array"):
        typicality([], [1.0])


def test_first_k_components_equal_a_fit_with_k_components():
    x, _ = _low_rank_images(rank=5)
    wide, narrow = PCACodec.fit(x, 5).first(2), PCACodec.fit(x, 2)
    assert wide.k == 2 and np.allclose(wide.components, narrow.components) and np.allclose(wide.variances, narrow.variances)
    assert np.allclose(wide.reconstruct(x), narrow.reconstruct(x), atol=1e-6)
    with pytest.raises(ValueError, match=r"`k` must be .*Received: k=6"):
        PCACodec.fit(x, 5).first(6)


def test_nearest_distance_finds_the_closest_training_image():
    rng = np.random.default_rng(0)
    train = rng.uniform(0, 1, (50, 4, 4, 1)).astype("float32")
    x = np.concatenate([train[[3, 17]], rng.uniform(0, 1, (5, 4, 4, 1)).astype("float32")])
    brute = np.array([min(((xi - ti) ** 2).sum() for ti in train.astype("float64")) for xi in x.astype("float64")])
    got = nearest_distance(train, x, batch_size=2)
    assert np.allclose(got, brute, atol=1e-9) and np.allclose(got[:2], 0.0, atol=1e-9)
    with pytest.raises(ValueError, match="`images` must"):
        nearest_distance(train, np.zeros((2, 5, 5, 1), "float32"))
    index = nearest_index(train, x, batch_size=3)
    assert index.dtype == np.int64 and list(index[:2]) == [3, 17]
    brute_index = [int(np.argmin([((xi - ti) ** 2).sum() for ti in train.astype("float64")])) for xi in x.astype("float64")]
    assert list(index) == brute_index


def test_pixel_histogram_counts_each_pixel_with_add_one_smoothing():
    from vae_helpers.measures.baselines import PixelHistogram

    train = np.stack([np.zeros((2, 2, 1), "float32"), np.ones((2, 2, 1), "float32")])   # levels 0 and 255
    hist = PixelHistogram.fit(train)
    assert np.allclose(hist.nll_bits(train[:1]), 4 * np.log2(258 / 2))          # (1 + 1) / (2 + 256) per pixel
    assert np.allclose(hist.nll_bits(np.full((1, 2, 2, 1), 0.5, "float32")), 4 * np.log2(258))   # an unseen level
    assert np.allclose(np.exp2(hist.log2_probs).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="`images` must"):
        hist.nll_bits(np.zeros((1, 3, 3, 1), "float32"))


def test_linear_denoiser_recovers_a_known_affine_corruption_and_beats_the_identity():
    rng = np.random.default_rng(0)
    clean = rng.random((500, 4, 4, 1)).astype("float32")
    mix = np.eye(16) * 0.6 + 0.02                                  # every pixel blurred into the others, then shifted
    noisy = np.clip(clean.reshape(500, 16) @ mix + 0.05, 0, 1).reshape(clean.shape).astype("float32")
    denoiser = baselines.LinearDenoiser.fit(noisy, clean, ridge=1e-9)
    assert np.allclose(denoiser(noisy), clean, atol=1e-3)          # an invertible affine corruption is undone
    gaussian = np.clip(clean + 0.2 * rng.standard_normal(clean.shape), 0, 1).astype("float32")
    fitted = baselines.LinearDenoiser.fit(gaussian, clean)
    assert ((fitted(gaussian) - clean) ** 2).mean() < ((gaussian - clean) ** 2).mean()
    with pytest.raises(ValueError, match=r"`clean` must hold one image per noisy image, 500. Received: 3"):
        baselines.LinearDenoiser.fit(noisy, clean[:3])


def test_group_mean_nll_scores_each_image_under_its_groups_pixel_mean():
    from vae_helpers.measures.baselines import group_mean_nll

    a, b = np.zeros((1, 2, 2, 1), "float32"), np.zeros((1, 2, 2, 1), "float32")
    a[0, 0, 0], b[0, 0, 1] = 1, 1                    # two images that differ in two pixels
    images = np.concatenate([a, b, a])
    # one group: pixel means 2/3, 1/3, 0, 0; image a scores -log(2/3) - log(2/3) (its 0 at the 1/3 pixel)
    together = group_mean_nll(images, np.zeros(3))
    np.testing.assert_allclose(together[[0, 2]], -2 * np.log(2 / 3), rtol=1e-6)
    np.testing.assert_allclose(together[1], -2 * np.log(1 / 3), rtol=1e-6)
    # told which image it is, a decoder draws each exactly: 0 nats, up to the clip of 1e-7 per pixel
    assert group_mean_nll(images, [0, 1, 0]).max() < 4 * 1e-6
    # rows of several properties group as tuples
    np.testing.assert_allclose(group_mean_nll(images, [[0, 5], [0, 5], [1, 5]]),
                               [-2 * np.log(0.5), -2 * np.log(0.5), 0.0], atol=1e-5)
    with pytest.raises(ValueError, match=r"`groups` must be finite numbers, one value or one row per image \(3\)"):
        group_mean_nll(images, [0, 1])
