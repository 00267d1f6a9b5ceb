"""Bits-back ANS (vae_helpers.applications.compression): lossless round trips, file size against the ELBO, clear errors."""

from __future__ import annotations

import hashlib
import math
import struct
import time

import numpy as np
import pytest

from vae_helpers.applications.compression import (HEADER_BYTES, CompressionError, code_lengths, coding_account, compress, decompress,
                                                  file_parts, initial_words, model_fingerprint, net_bits)
from vae_helpers.models.mlp_vae import build_mlp_vae
from vae_helpers.measures.evaluation import elbo_per_example, iwae_per_example
from vae_helpers.data.shapes import make_shapes


@pytest.fixture(scope="module")
def vae():
    return build_mlp_vae((16, 16, 1), latent_dim=3, dense_units=32, seed=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return (rng.random((12, 16, 16, 1)) < rng.random((12, 1, 1, 1))).astype("float32")   # varied densities


def test_round_trip_is_lossless_on_random_and_real_images(vae, images):
    assert np.array_equal(decompress(vae, compress(vae, images)), images)
    grid = make_shapes(size=16, n_scales=2, n_rotations=2, n_positions=2).images     # real binary shapes
    shapes_vae = build_mlp_vae(grid.shape[1:], latent_dim=2, dense_units=16, seed=1)
    data = compress(shapes_vae, grid)
    assert np.array_equal(decompress(shapes_vae, data), grid)


def test_the_file_grows_by_the_negative_elbo_per_image(vae, images):
    # Net of the one-off part (header + initial words), a file's bits are a one-sample estimate of
    # the summed -ELBO in bits; on 12 images of 256 pixels they agree within a few per cent.
    many = np.concatenate([images] * 4)
    file_bits = net_bits(compress(vae, many))
    elbo_bits = -elbo_per_example(vae, many, n_samples=50).sum() / math.log(2)
    assert file_bits == pytest.approx(elbo_bits, rel=0.05)


def test_a_truncated_file_a_foreign_file_and_another_model_are_refused(vae, images):
    data = compress(vae, images)
    with pytest.raises(CompressionError, match=r"truncated or has extra bytes"):
        decompress(vae, data[:-4])
    with pytest.raises(CompressionError, match=r"not a BB-ANS file"):
        decompress(vae, b"\x89PNG\r\n" + data[6:])
    other = build_mlp_vae((16, 16, 1), latent_dim=3, dense_units=32, seed=1)
    assert model_fingerprint(other) != model_fingerprint(vae)
    with pytest.raises(CompressionError, match=r"written with another model"):
        decompress(other, data)


def test_a_corrupted_payload_never_decodes_silently(vae, images):
    data = bytearray(compress(vae, images))
    data[-7] ^= 0x40                                  # flip one bit of the payload
    with pytest.raises(CompressionError, match=r"corrupted: its bytes changed"):
        decompress(vae, bytes(data))
    data = bytearray(compress(vae, images))
    data[30] ^= 0x01                                  # ... or of the header (the image count)
    with pytest.raises(CompressionError, match=r"corrupted: its bytes changed"):
        decompress(vae, bytes(data))


def _forge(data: bytes, **fields) -> bytes:
    """``data`` with some header fields replaced and a valid checksum: what a forger (or a bug) could write."""
    names = ["magic", "key", "n", "height", "width", "channels", "digest", "seed", "samples", "pad", "kept", "words", "numerics",
             "checksum"]
    layout = struct.Struct("<6s16sIHHH32sIHIII8s8s")
    values = dict(zip(names, layout.unpack_from(data)))
    values.update(fields)
    payload = data[layout.size:]
    if "payload" in fields:
        payload = values.pop("payload")
        values["words"] = len(payload) // 4
    head = layout.pack(*[values[k] for k in names])[:-8]
    return head + hashlib.sha256(head + payload).digest()[:8] + payload


def test_the_header_is_the_documented_layout(vae, images):
    data = compress(vae, images)
    assert HEADER_BYTES == 98 and _forge(data) == data     # re-packing the fields and the checksum gives the same bytes


def test_untrusted_headers_are_refused_before_any_allocation(vae, images):
    data = compress(vae, images[:2])
    for n in (20_000, 10**9, 0):
        start = time.perf_counter()
        with pytest.raises(CompressionError, match=rf"claims {n:,} images, but its payload can hold at most \d+"):
            decompress(vae, _forge(data, n=n))
        assert time.perf_counter() - start < 1.0
    with pytest.raises(CompressionError, match=r"holds images of shape \(8, 32, 1\), but `vae` codes \(16, 16, 1\)"):
        decompress(vae, _forge(data, height=8, width=32))                 # the same pixel count, another shape
    with pytest.raises(CompressionError, match=r"computes? the coder's probabilities differently"):
        decompress(vae, _forge(data, numerics=b"\0" * 8))
    many = compress(vae, images)                                          # 12 images' payload, a header that claims 3
    with pytest.raises(CompressionError, match=r"does not decode to the images|does not decode with this model"):
        decompress(vae, _forge(many, n=3))
    start = time.perf_counter()                                           # random words: garbage stops at once
    with pytest.raises(CompressionError, match=r"does not decode with this model .* took no bits off the stack"):
        decompress(vae, _forge(many, n=100, payload=np.random.default_rng(1).integers(1, 2**32, 400).astype("<u4").tobytes()))
    assert time.perf_counter() - start < 2.0
    with pytest.raises(CompressionError, match=r"format version 1; this version of vae_helpers reads version 3"):
        decompress(vae, b"VAEBB\x01" + data[6:])
    for bad in ("VAEBB", None, 3.0):
        with pytest.raises(CompressionError, match=rf"`data` must be the bytes compress returned. Received: {type(bad).__name__}"):
            decompress(vae, bad)
    with pytest.raises(CompressionError, match=r"`data` is truncated: 20 bytes"):
        decompress(vae, data[:20])


def test_models_the_coder_cannot_use_are_refused_by_name(images):
    from vae_helpers.models.autoencoder import build_autoencoder_model
    from vae_helpers.models.conditional import build_conditional_vae

    x = np.zeros((1, 8, 8, 1), "float32")
    with pytest.raises(CompressionError, match=r"`vae` must be a model whose likelihood .* Received: a model with likelihood=None"):
        compress(None, x)
    with pytest.raises(CompressionError, match=r"`vae` must have an encoder that returns \[z_mean, z_log_var\].*returns 1 output"):
        compress(build_autoencoder_model((8, 8, 1), 2), x)
    with pytest.raises(CompressionError, match=r"`vae` must be an unconditional VAE.*encoder takes 2 input"):
        compress(build_conditional_vae((8, 8, 1), latent_dim=2), x)


def test_images_the_model_cannot_code_are_refused_by_name(vae, images):
    for bad, message in [(np.zeros((2, 8, 8, 1), "float32"), r"`images` must be a non-empty batch of images of shape \(n, 16, 16, 1\)"),
                         (np.zeros((2, 16, 16, 3), "float32"), r"shape \(n, 16, 16, 1\). Received: images.shape=\(2, 16, 16, 3\)"),
                         (np.where(images[:2] > 0, np.nan, 0), r"`images` must hold only finite pixel values"),
                         ((images[:2] * 255).astype(np.uint8), r"For uint8 images \(0-255\), pass x / 255"),
                         ("images", r"`images` must be a numeric array")]:
        with pytest.raises(CompressionError, match=message):
            compress(vae, bad)
    with pytest.raises(CompressionError, match=r"`image` must be one image of shape \(16, 16, 1\)"):
        code_lengths(vae, images[:1])


def test_non_binary_images_are_refused(vae):
    with pytest.raises(CompressionError, match=r"`images` must be binary \(every pixel 0 or 1\)"):
        compress(vae, np.full((2, 16, 16, 1), 0.5, dtype="float32"))
    with pytest.raises(CompressionError, match=r"`images` must be a batch of images \(n, 16, 16, 1\): it is one image"):
        compress(vae, np.zeros((16, 16, 1), dtype="float32"))


# -- 8-bit images with the discretized-logistic decoder (vae_helpers.models.discrete) --

@pytest.fixture(scope="module")
def discrete_vae():
    from vae_helpers.models.discrete import build_discrete_vae

    return build_discrete_vae((16, 16, 1), latent_dim=3, filters=(8,), dense_units=16, seed=0)


def test_8_bit_round_trip_is_lossless_and_costs_the_negative_elbo(discrete_vae):
    rng = np.random.default_rng(3)
    x = (np.clip(rng.normal(128, 30, (40, 16, 16, 1)), 0, 255).round() / 255).astype("float32")
    data = compress(discrete_vae, x)
    assert np.array_equal(decompress(discrete_vae, data), x)
    file_bits = net_bits(data)
    elbo_bits = -elbo_per_example(discrete_vae, x, n_samples=50).sum() / math.log(2)
    assert file_bits == pytest.approx(elbo_bits, rel=0.02)


def test_a_discrete_model_refuses_images_that_are_not_8_bit(discrete_vae):
    with pytest.raises(CompressionError, match=r"`images` must be 8-bit for a discrete decoder"):
        compress(discrete_vae, np.full((2, 16, 16, 1), 0.3, dtype="float32"))


# -- code lengths on a hand-made model, and the baselines --

def _certain_encoder_vae(latent_dim: int = 3):
    """A model whose encoder ignores the image: z = 0.3 in every dimension with a variance of e^-30."""
    model = build_mlp_vae((16, 16, 1), latent_dim=latent_dim, dense_units=32, seed=2)
    for name, bias in (("z_mean", 0.3), ("z_log_var", -30.0)):
        layer = model.encoder.get_layer(name)
        layer.set_weights([np.zeros_like(layer.kernel.numpy()), np.full(latent_dim, bias, dtype="float32")])
    return model


def test_with_a_certain_posterior_the_file_is_minus_log2_p(images):
    """q puts all its mass in one bucket, so nothing comes back: each image costs -log2 p(x|z) + LATENT_BITS * d."""
    from vae_helpers.applications.compression import LATENT_BITS
    from vae_helpers.models.vae import bernoulli_log_likelihood

    model = _certain_encoder_vae()
    lengths = [code_lengths(model, image) for image in images]
    assert all(length["read"] == pytest.approx(0.0, abs=1e-6) and length["prior"] == 3 * LATENT_BITS for length in lengths)
    z = np.full((len(images), 3), 0.3, dtype="float32")     # 0.3 and the bucket's median differ by < 0.003
    expected = -np.asarray(bernoulli_log_likelihood(images, model.decoder.predict(z, verbose=0))) / math.log(2)
    np.testing.assert_allclose([length["pixels"] for length in lengths], expected, rtol=2e-3)
    total = sum(length["pixels"] + length["prior"] for length in lengths)
    assert abs(net_bits(compress(model, images)) - total) <= 64           # ANS writes whole 32-bit words


def test_bad_inputs_to_the_small_helpers_are_refused_by_name(vae, images):
    with pytest.raises(CompressionError, match=r"`data` is not a BB-ANS file"):
        net_bits(b"0123456789")
    with pytest.raises(CompressionError, match=r"`data` must be a file written by compress. Received: str"):
        net_bits("0123")
    data = compress(vae, images[:1])
    parts = file_parts(data)
    assert net_bits(data) == parts["net"] == 8 * len(data) - 8 * HEADER_BYTES - parts["initial"] > 0
    for bad in (np.array([-1, 0, 0]), np.array([0, 0, 2**10]), np.zeros(5, int), np.full(3, 0.5)):
        with pytest.raises(ValueError, match=r"`z_index` must be one bucket index"):
            code_lengths(vae, images[0], z_index=bad)
    for bad in (0, 5000, 2.5):
        with pytest.raises(ValueError, match=r"`importance_samples` must be"):
            compress(vae, images[:1], importance_samples=bad)


def test_the_accounts_raw_pixel_cost_is_the_models_own_even_far_in_the_tails():
    from types import SimpleNamespace

    from vae_helpers.applications.compression import _pixel_tables, _raw_pixel_bits
    from vae_helpers.models.densities import discretized_logistic_log_likelihood

    # one 2 x 2 image, every pixel (mu, log s) = (-1, -4): levels 255 and 128 lie far in the right tail, where the
    # coder's float32 table of 256 masses reads 0; the raw cost must be the likelihood's, 157.2 and 80.3 bits
    out = np.tile(np.array([-1.0, -4.0], "float32"), (1, 2, 2, 1))
    nets = SimpleNamespace(decoder=lambda z: out)
    model = SimpleNamespace(likelihood="discretized_logistic")
    pixels = np.array([[255, 128], [0, 3]])
    raw = _raw_pixel_bits(model, out[0].astype("float64"), pixels)
    expected = -np.asarray(discretized_logistic_log_likelihood((pixels / 255.0).reshape(-1, 1, 1, 1),
                                                               np.tile([-1.0, -4.0], (4, 1)).reshape(-1, 1, 1, 2))) / np.log(2)
    np.testing.assert_allclose(raw, expected, rtol=1e-6)
    np.testing.assert_allclose(raw[:2], [157.228, 80.301], atol=1e-2)
    assert _pixel_tables(model, nets, np.zeros((1, 2)))[0, [0, 1], [255, 128]].max() == 0.0   # what the table says
    bernoulli = SimpleNamespace(likelihood="bernoulli")
    logits = np.array([[[[-800.0], [3.0]], [[0.0], [800.0]]]], "float32")
    bits = _raw_pixel_bits(bernoulli, logits[0].astype("float64"), np.array([[1, 0], [1, 0]]))
    np.testing.assert_allclose(bits, np.array([800.0, 3.0 + np.log1p(np.exp(-3.0)), np.log(2.0), 800.0]) / np.log(2), rtol=1e-6)


def test_progress_prints_one_line_per_block_of_images_and_the_last(vae, images, capsys):
    n = len(images)
    data = compress(vae, images, progress=2)
    assert np.array_equal(decompress(vae, data, progress=n), images)
    lines = capsys.readouterr().out.splitlines()
    coded = [f"  {k:,} of {n:,} images coded" for k in range(2, n + 1, 2)] + ([f"  {n:,} of {n:,} images coded"] if n % 2 else [])
    assert lines == coded + [f"  {n:,} of {n:,} images decoded"]
    assert data == compress(vae, images)                                  # progress lines change nothing in the file
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match=r"`progress` must be"):
            compress(vae, images[:1], progress=bad)


def test_a_model_whose_likelihood_no_coder_knows_is_refused():
    from types import SimpleNamespace

    with pytest.raises(CompressionError, match=r"likelihood=None"):
        compress(SimpleNamespace(), np.zeros((1, 8, 8, 1), "float32"))


def test_repeated_calls_trace_the_networks_once(vae, images):
    import logging

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("tensorflow")   # TensorFlow's own logger: a new graph per call warns "retracing" here
    logger.addHandler(handler)
    try:
        for _ in range(6):
            assert np.array_equal(decompress(vae, compress(vae, images[:1])), images[:1])
    finally:
        logger.removeHandler(handler)
    assert not [m for m in messages if "retracing" in m]


# -- the one-off cost, the accounting and importance-sampled bits-back --

def test_the_file_stores_only_the_initial_words_the_first_image_read(vae, images):
    account = coding_account(vae, images)
    data = bytes(account["file"])
    assert data == compress(vae, images)                                  # the accounting writes the same file
    parts = file_parts(data)
    assert parts["header"] + parts["initial"] + parts["net"] == 8 * len(data)
    # the initial words the first image's pop read, rounded up to whole words (and at most the two words of the head)
    assert account["read"][0] - 32 <= parts["initial"] <= account["read"][0] + 64 < 32 * parts["initial_words"]
    decoded, leftover = decompress(vae, data, with_leftover=True)          # the bits read came back: the initial words
    assert np.array_equal(decoded, images) and np.array_equal(leftover, initial_words(0, parts["initial_words"]))


def test_the_account_splits_each_image_into_the_steps_the_coder_took(vae, images):
    account = coding_account(vae, images)
    np.testing.assert_allclose(account["growth"], account["pixels"] + account["prior"] - account["read"])
    assert np.all(account["shuffle"] == 0) and np.all(account["prior"] == 3 * 10)
    # the coder's lengths are the ideal ones but for its 24-bit quantization: within a bit or two per image
    np.testing.assert_allclose(account["growth"], account["ideal"], atol=2.0)
    np.testing.assert_allclose(account["ideal"], account["ideal_pixels"] + 30 - account["ideal_read"], atol=1e-6)


@pytest.mark.parametrize("k", [4, 16])
def test_importance_sampled_bits_back_is_lossless_and_costs_minus_log_of_the_mean_weight(vae, images, k):
    many = np.concatenate([images] * 4)
    account = coding_account(vae, many, importance_samples=k)
    data = bytes(account["file"])
    assert np.array_equal(decompress(vae, data), many) and file_parts(data)["importance_samples"] == k
    # each image grows the stack by -log2 of the mean importance weight of its K drawn codes (Ruan et al. 2021) ...
    np.testing.assert_allclose(account["growth"], account["ideal"], atol=2.0)
    assert abs(account["growth"].sum() - account["ideal"].sum()) <= 0.002 * account["ideal"].sum() + 32
    # ... whose mean over images is the negative IWAE bound of K samples, below BB-ANS's file at the negative ELBO
    iwae_bits = -iwae_per_example(vae, many, k=k, seed=1).sum() / math.log(2)
    assert net_bits(data) == pytest.approx(iwae_bits, rel=0.01) and net_bits(data) < net_bits(compress(vae, many))


def test_code_lengths_draw_a_bucket_from_q_and_give_the_bucketed_kl(vae, images):
    draws = [code_lengths(vae, images[0], seed=s) for s in range(40)]
    assert len({round(d["read"], 6) for d in draws}) > 1                    # a sample, not the mode
    mean_saving = np.mean([d["prior"] - d["read"] for d in draws])
    assert mean_saving == pytest.approx(draws[0]["kl"], abs=0.5)          # E_q[prior - read] is the bucketed KL
    assert 0 <= draws[0]["kl"]


# -- files decode in any process: other threads, oneDNN off, another instruction set --
SETTINGS = {"1 thread": {"TF_NUM_INTRAOP_THREADS": "1"}, "2 threads": {"TF_NUM_INTRAOP_THREADS": "2"},
            "TensorFlow's default": {}, "oneDNN off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
            "oneDNN AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}


def _run_codec(setting: str, *args: str) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_NUM_INTRAOP_THREADS", "TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA")}
    env.update(SETTINGS[setting])
    script = Path(__file__).with_name("codec_process.py")
    done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Not handling type" not in done.stderr      # the optimizer's note on float64 graphs stays hidden
    return done.stdout


def test_a_file_decodes_exactly_in_a_process_with_other_settings(tmp_path):
    import importlib.util
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("codec_process", Path(__file__).with_name("codec_process.py"))
    codec_process = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(codec_process)
    vae = codec_process.model()
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in vae.get_weights()]   # no bias left at zero
    np.savez(tmp_path / "weights.npz", **{f"w{i}": w for i, w in enumerate(weights)})
    np.save(tmp_path / "images.npy", (np.round(rng.random((6, *codec_process.IMAGE_SHAPE)) * 255) / 255).astype("float32"))
    names = {setting: setting.replace(" ", "_").replace("'", "") for setting in SETTINGS}
    with ThreadPoolExecutor(2) as pool:                   # each setting compresses in its own process ...
        list(pool.map(lambda s: _run_codec(s, "compress", str(tmp_path), names[s]), SETTINGS))
        reads = dict(zip(SETTINGS, pool.map(lambda s: _run_codec(s, "decompress", str(tmp_path)), SETTINGS)))
    for reader, out in reads.items():                     # ... and each decompresses every file, BB-IS files too
        expected = [f"{name}{kind} exact" for name in names.values() for kind in ("", "-is")]
        assert sorted(out.split("\n")[:-1]) == sorted(expected), (reader, out)
