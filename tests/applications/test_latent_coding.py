"""The real file for a VAE's lossy code: quantization, ideal sizes and ANS streams on cases with known answers."""

import numpy as np
import pytest
from scipy.stats import norm

from vae_helpers.applications import latent_coding as lc


def test_code_bits_known_values():
    # P(0) = Phi(0.5) - Phi(-0.5) at step 1: 0.3829 per dimension
    assert np.allclose(lc.code_bits(np.zeros((1, 3), int), np.ones(3)), -3 * np.log2(norm.cdf(0.5) - norm.cdf(-0.5)))
    # far in the tail the mass is computed without cancellation: i = 20 at step 0.5 is z = 10
    expected = -np.log2(norm.sf(9.75) - norm.sf(10.25))
    assert np.allclose(lc.code_bits(np.array([[20]]), [0.5]), expected, rtol=1e-9)
    assert np.allclose(lc.code_bits(np.array([[-20]]), [0.5]), expected, rtol=1e-9)   # symmetric


def test_a_wide_step_costs_almost_nothing_and_a_fine_one_about_log2_of_its_inverse():
    assert lc.code_bits(np.zeros((1, 1), int), [20.0])[0] < 1e-6
    # fine grid: -log2(P) ~ -log2(step * phi(z))
    step, i = 1e-3, 500
    assert np.isclose(lc.code_bits(np.array([[i]]), [step])[0], -np.log2(step * norm.pdf(i * step)), rtol=1e-4)


def test_quantize_dequantize_round_trip_within_half_a_step():
    rng = np.random.default_rng(0)
    z, steps = rng.standard_normal((50, 4)), np.array([0.1, 0.5, 1.0, 3.0])
    index = lc.quantize(z, steps)
    assert index.dtype == np.int32 and np.all(np.abs(lc.dequantize(index, steps) - z) <= steps / 2 + 1e-6)


def test_stream_decodes_exactly_and_costs_the_ideal_size_plus_at_most_two_words():
    rng = np.random.default_rng(1)
    steps = np.r_[np.full(6, 0.2), np.full(4, 4.0)]
    index = lc.quantize(rng.standard_normal((300, 10)), steps)
    words = lc.compress_codes(index, steps)
    assert words.dtype == np.uint32 and np.array_equal(lc.decompress_codes(words, steps, 300), index)
    ideal = lc.code_bits(index, steps).sum()
    assert ideal <= 32 * len(words) <= ideal + 64 + 0.01 * ideal


def test_a_stream_round_trip_returns_the_dequantized_codes_and_the_stream_size_per_code():
    rng = np.random.default_rng(3)
    z, steps = rng.standard_normal((40, 5)), np.array([0.1, 0.3, 1.0, 2.0, 8.0])
    decoded, bits = lc.stream_round_trip(z, steps)
    index = lc.quantize(z, steps)
    assert np.array_equal(decoded, lc.dequantize(index, steps))
    assert bits == 32 * len(lc.compress_codes(index, steps)) / 40


def test_file_bits_are_whole_words_of_single_image_streams():
    steps = np.full(16, 0.3)
    index = lc.quantize(np.random.default_rng(2).standard_normal((5, 16)), steps)
    bits = lc.file_bits(index, steps)
    assert bits.shape == (5,) and np.all(bits % 32 == 0)
    assert np.all(bits >= lc.code_bits(index, steps)) and np.all(bits <= lc.code_bits(index, steps) + 64)


def test_latent_steps_match_the_posterior_noise():
    z_log_var = np.log(np.array([[0.01, 1.0], [0.04, 1.0], [0.01, 1.0]]))   # median std 0.1 and 1
    assert np.allclose(lc.latent_steps(z_log_var), np.sqrt(12) * np.array([0.1, 1.0]))
    assert np.allclose(lc.latent_steps(z_log_var, scale=2.0), 2 * np.sqrt(12) * np.array([0.1, 1.0]))


@pytest.mark.parametrize("call, match", [
    (lambda: lc.quantize(np.zeros((2, 3)), [1.0, 1.0]), r"`steps` must be one positive finite step per latent dimension \(3\)"),
    (lambda: lc.quantize(np.zeros((2, 2)), [1.0, 0.0]), r"`steps` must be one positive"),
    (lambda: lc.dequantize(np.zeros((2, 2)), [1.0, 1.0]), r"`indices` must be integers of shape \(n, 2\)"),
    (lambda: lc.compress_codes(np.full((1, 1), 5000), [1.0]), r"within ±1023"),
    (lambda: lc.decompress_codes(np.zeros(3, np.int64), [1.0], 1), r"`words` must be the uint32 array"),
    (lambda: lc.decompress_codes(lc.compress_codes(np.zeros((4, 2), int), [0.1, 0.1]), [0.1, 0.1], 1),
     r"holds more than 1 codes"),
    (lambda: lc.decompress_codes(lc.compress_codes(np.zeros((4, 2), int), [9.0, 9.0]), [9.0, 9.0], 5),
     r"`n` must be the number of codes in `words`: they hold 4 codes of 2 dimensions, received n=5"),
    (lambda: lc.latent_steps(np.zeros(3)), r"`z_log_var` must be a finite array \(n, latent_dim\)"),
])
def test_bad_inputs_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_too_large_n_is_refused_at_once_instead_of_decoding_made_up_codes():
    import time

    words = lc.compress_codes(np.ones((3, 4), int), np.full(4, 0.5))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"they hold 3 codes of 4 dimensions, received n=10,000,000"):
        lc.decompress_codes(words, np.full(4, 0.5), 10**7)
    assert time.perf_counter() - start < 1.0


def test_latent_steps_refuse_log_variances_whose_std_is_zero_or_infinite():
    with pytest.raises(ValueError, match=r"`z_log_var` must give each dimension a positive finite posterior std"):
        lc.latent_steps(np.full((4, 2), 2000.0))
    with pytest.raises(ValueError, match=r"`z_log_var` must give each dimension a positive finite posterior std"):
        lc.latent_steps(np.full((4, 2), -2000.0))


def test_a_quantized_pca_code_is_a_real_file_whose_error_is_the_quantizer_s():
    # The transform-coding baseline: PCA's whitened codes through the same quantizer and coder as a VAE's.
    from vae_helpers.measures.baselines import PCACodec

    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(64, 3)))[0].T
    x = (0.5 + rng.uniform(-1, 1, (400, 3)) * [0.5, 0.3, 0.1] @ basis).reshape(400, 8, 8, 1).clip(0, 1)
    pca = PCACodec.fit(x, 3)
    errors, sizes = [], []
    for step in (0.2, 0.05):
        steps = pca.code_steps(step)
        index = lc.quantize(pca.encode(x, whiten=True), steps)
        words = lc.compress_codes(index, steps)
        assert np.array_equal(lc.decompress_codes(words, steps, len(x)), index)     # the file decodes exactly
        decoded = pca.decode(lc.dequantize(index, steps), whitened=True)
        errors.append(((decoded - x) ** 2).reshape(len(x), -1).sum(1).mean())
        sizes.append(32 * len(words) / len(x))
        assert errors[-1] == pytest.approx(3 * step**2 / 12, rel=0.15)            # 3 components, each step**2 / 12
    assert sizes[1] > sizes[0] + 3 * 1.5                                            # 4x finer: about 2 bits more each
    with pytest.raises(ValueError, match=r"`step` must be"):
        pca.code_steps(0.0)
