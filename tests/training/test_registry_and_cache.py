"""The model-kind registry, cache keys that stay valid, honest model APIs, and TensorFlow loaded only when needed."""

from __future__ import annotations

import dataclasses
import gc
import subprocess
import sys

import keras
import numpy as np
import pytest

from vae_helpers.applications import anomaly

from vae_helpers.training import cache

from vae_helpers.measures import diagnostics

from vae_helpers.measures import evaluation

from vae_helpers.viz import explorer

from vae_helpers.viz import latent_space as latent
from vae_helpers.models.autoencoder import build_autoencoder_model
from vae_helpers.models.conditional import ConditionalVAE, build_conditional_vae
from vae_helpers.data.datasets import load_dataset
from vae_helpers.training.trainer import MODEL_KINDS, TrainConfig, key_material, model_kind, train_vae
from vae_helpers.models.discrete import build_discrete_vae
from vae_helpers.models.gaussian import build_gaussian_vae
from vae_helpers.models.iwae import build_iwae_vae
from vae_helpers.models.mlp_vae import build_mlp_vae
from vae_helpers.models.vae import VAE, build_vae

TINY = TrainConfig(dataset="digits", latent_dim=3, epochs=1, batch_size=64, n_train=128, n_test=64,
                   filters=(8,), dense_units=16)


def test_every_registered_kind_builds_what_it_says():
    ds = load_dataset("digits", n_train=128, n_test=64, seed=0)
    for name in MODEL_KINDS:
        kind = model_kind(name)
        assert kind.name == name and callable(kind.build) and isinstance(kind.options, frozenset)
        config = dataclasses.replace(TINY, model=name, **({} if "filters" in kind.options else {"filters": (32, 64)}))
        model = kind.build(config, ds, 2)
        assert isinstance(model, keras.Model) and model.takes_labels == kind.takes_labels
        assert model.likelihood == kind.likelihood and hasattr(model, "sample") == kind.has_prior
    with pytest.raises(ValueError, match=r"`model` must be one of vae, autoencoder, conditional_vae, mlp_vae, discrete_vae, iwae_vae, gaussian_vae, disentangling_vae. Received: model='gan'"):
        TrainConfig(model="gan")


@pytest.mark.parametrize("kind, option, value", [
    ("autoencoder", "beta", 2.0), ("autoencoder", "free_bits", 0.5), ("autoencoder", "snapshot_images", 8),
    ("conditional_vae", "kl_warmup_epochs", 2), ("conditional_vae", "denoising", True),
    ("conditional_vae", "snapshot_samples", 4), ("discrete_vae", "dense_units", 0), ("conditional_vae", "convs_per_stage", 2),
])
def test_a_kind_refuses_the_options_it_does_not_support(kind, option, value):
    with pytest.raises(ValueError, match=rf"`{option}`? must be|`model='{kind}'` does not support {option}"):
        TrainConfig(model=kind, **{option: value})


# One changed value per setting: the test fails when a setting is added without being keyed.
CHANGES = {"dataset": "mnist", "latent_dim": 4, "beta": 2.0, "epochs": 2, "batch_size": 32, "seed": 1, "n_train": 100,
           "n_test": 50, "learning_rate": 1e-3, "lr_schedule": "constant", "filters": (16,), "dense_units": 8,
           "kl_warmup_epochs": 1, "free_bits": 0.1, "jit_compile": True, "steps_per_execution": 2,
           "snapshot_images": 4, "snapshot_samples": 4, "model": "conditional_vae", "normal_class": 3, "validation_images": 10,
           "denoising": True, "objective": "beta_tcvae", "capacity_nats": 5.0, "convs_per_stage": 2, "init_from": TINY,
           "iwae_samples": 1}
MLP = dataclasses.replace(TINY, model="mlp_vae", filters=(32, 64))   # the base for the mlp_vae-only settings
SPATIAL = dataclasses.replace(TINY, dense_units=0)                   # the base for convs_per_stage (spatial codes only)
IWAE = dataclasses.replace(TINY, model="iwae_vae", filters=(32, 64))  # the base for iwae_samples


def test_the_key_depends_on_every_setting():
    assert set(CHANGES) == {f.name for f in dataclasses.fields(TrainConfig)}
    keys = {name: dataclasses.replace(TINY, **{name: value}).key() for name, value in CHANGES.items()
            if name not in ("objective", "capacity_nats", "convs_per_stage", "iwae_samples")}
    keys["objective"] = dataclasses.replace(MLP, objective="beta_tcvae").key()
    keys["capacity_nats"] = dataclasses.replace(MLP, objective="capacity", capacity_nats=5.0).key()
    keys["convs_per_stage"] = dataclasses.replace(SPATIAL, convs_per_stage=2).key()
    keys["iwae_samples"] = dataclasses.replace(IWAE, iwae_samples=1).key()
    assert all(base.key() not in keys.values() for base in (TINY, MLP, SPATIAL, IWAE))
    # K at the module's default is the key the model had before the option existed
    from vae_helpers.models.iwae import IWAE_SAMPLES

    assert dataclasses.replace(IWAE, iwae_samples=IWAE_SAMPLES).key() == IWAE.key()
    assert len(set(keys.values())) == len(CHANGES)


def test_keys_keep_the_form_they_had_before_the_registry():
    """The settings a key hashes are those of the earlier format, so cached models stay valid."""
    before = {"dataset": "digits", "latent_dim": 3, "beta": 1.0, "epochs": 1, "batch_size": 64, "seed": 42,
              "n_train": 128, "n_test": 64, "learning_rate": 3e-3, "lr_schedule": "cosine", "filters": (8,),
              "dense_units": 16, "kl_warmup_epochs": 0, "free_bits": 0.0, "jit_compile": False,
              "steps_per_execution": 1, "snapshot_images": 0, "snapshot_samples": 0}
    assert key_material(TINY)["config"] == before                                       # a VAE: no new fields
    assert key_material(dataclasses.replace(TINY, model="conditional_vae"))["config"] == {**before, "conditional": True}
    assert key_material(dataclasses.replace(TINY, model="autoencoder"))["config"] == {**before, "model": "autoencoder"}


def test_the_digest_is_sha256_of_sorted_json():
    import hashlib
    import json

    material = {"b": [1, 2], "a": {"y": 1.5, "x": None}}
    expected = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:16]
    assert cache.key_digest(material) == expected == cache.key_digest(dict(reversed(material.items())))


def test_train_result_model_and_its_vae_alias_and_class_names(tmp_path):
    result = train_vae(TINY, cache_dir=tmp_path, verbose=0)
    assert result.model is result.vae and isinstance(result.model, VAE)
    assert result.class_names == tuple(str(d) for d in range(10))


def test_shapes_results_carry_the_shape_names(tmp_path):
    from vae_helpers.data.datasets import load_dataset

    config = TrainConfig(dataset="shapes", model="mlp_vae", latent_dim=2, epochs=1, n_train=64, n_test=32, dense_units=8)
    result = train_vae(config, cache_dir=tmp_path, verbose=0)
    names = load_dataset("shapes", n_train=64, n_test=32).class_names
    assert result.class_names == names and len(names) == 3 and "0" not in names


def _round_trip(model, tmp_path, *inputs):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert type(restored) is type(model)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)
    return restored


def test_every_serializable_model_survives_a_keras_file_round_trip(tmp_path):
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    labels = np.arange(5)
    for dense_units in (16, 0):
        ae = build_autoencoder_model((8, 8, 1), 3, (8,), dense_units=dense_units, denoising=True, seed=1)
        restored = _round_trip(ae, tmp_path)
        assert restored.denoising and restored.code_shape == ae.code_shape
        np.testing.assert_allclose(restored.reconstruct(x), ae.reconstruct(x), atol=1e-6)
    cvae = build_conditional_vae((8, 8, 1), n_classes=10, latent_dim=3, filters=(8,), dense_units=16, beta=2.0, seed=1)
    restored = _round_trip(cvae, tmp_path)
    assert restored.beta == 2.0 and restored.n_classes == 10
    np.testing.assert_allclose(restored.reconstruct(x, labels), cvae.reconstruct(x, labels), atol=1e-6)
    vae = build_vae((8, 8, 1), 3, (8,), 16, beta=0.5, seed=1, kl_warmup_steps=3, free_bits=0.1, denoising=True)
    restored = _round_trip(vae, tmp_path)
    assert (restored.beta, restored.kl_warmup_steps, restored.free_bits, restored.denoising) == (0.5, 3, 0.1, True)
    np.testing.assert_allclose(restored.reconstruct(x), vae.reconstruct(x), atol=1e-6)
    discrete = build_discrete_vae((8, 8, 1), 3, (8,), 16, beta=0.5, seed=1, kl_warmup_steps=2)
    restored = _round_trip(discrete, tmp_path)
    assert (restored.beta, restored.kl_warmup_steps, restored.likelihood) == (0.5, 2, "discretized_logistic")
    np.testing.assert_allclose(restored.reconstruct(x), discrete.reconstruct(x), atol=1e-6)
    iwae = build_iwae_vae((8, 8, 1), 3, np.zeros((8, 8, 1), "float32"), dense_units=16, iwae_samples=3, seed=1)
    restored = _round_trip(iwae, tmp_path)
    assert restored.iwae_samples == 3
    np.testing.assert_allclose(restored.reconstruct(x), iwae.reconstruct(x), atol=1e-6)
    gaussian = build_gaussian_vae((8, 8, 1), 2, (8,), dense_units=0, beta=0.5, seed=1)
    restored = _round_trip(gaussian, tmp_path)
    assert (restored.beta, restored.likelihood, restored.latent_dim) == (0.5, "gaussian", 32)
    np.testing.assert_allclose(restored.reconstruct(x), gaussian.reconstruct(x), atol=1e-6)
    mlp = build_mlp_vae((8, 8, 1), 3, 16, beta=4.0, seed=1, objective="capacity", capacity_nats=5.0, capacity_steps=7)
    restored = _round_trip(mlp, tmp_path)
    assert (restored.objective, restored.capacity_nats, restored.capacity_steps, restored.beta) == ("capacity", 5.0, 7, 4.0)
    np.testing.assert_allclose(restored.reconstruct(x), mlp.reconstruct(x), atol=1e-6)
    # every model class of the registry was round-tripped above
    assert {type(m) for m in (ae, cvae, vae, discrete, iwae, mlp, gaussian)} == {
        type(kind.build(dataclasses.replace(TINY, model=name, **({} if "filters" in kind.options else {"filters": (32, 64)})),
                        load_dataset("digits", n_train=128, n_test=64, seed=0), 2)) for name, kind in MODEL_KINDS.items()}


def test_the_conditional_vae_is_no_vae_and_the_generic_helpers_refuse_it():
    cvae = build_conditional_vae((8, 8, 1), n_classes=10, latent_dim=2, filters=(8,), dense_units=16)
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    assert not isinstance(cvae, VAE) and cvae.takes_labels
    refused = r"`vae` is a ConditionalVAE, whose encoder and decoder also take the label"
    for call in (lambda: evaluation.elbo_per_example(cvae, x), lambda: evaluation.iwae_per_example(cvae, x, k=2),
                 lambda: evaluation.kl_per_example(cvae, x), lambda: diagnostics.latent_report(cvae, x),
                 lambda: latent.interpolate_images(cvae, x[0], x[1]), lambda: anomaly.squared_error(cvae, x),
                 lambda: explorer.explorer_fallback(cvae)):
        with pytest.raises(ValueError, match=refused.replace("`vae`", "`(vae|model)`")):
            call()
    for option, value in (("kl_warmup_steps", 3), ("free_bits", 0.5), ("denoising", True)):
        with pytest.raises(ValueError, match=rf"ConditionalVAE does not support {option}. Received: {option}="):
            ConditionalVAE(cvae.encoder, cvae.decoder, **{option: value})
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, 9\]"):
        cvae.sample([3, 12])


def test_one_training_step_for_every_model():
    """Each model only defines its losses; the training and test steps are the base class's."""
    from vae_helpers.models.autoencoder import Autoencoder
    from vae_helpers.models.base import CourseModel

    for cls in (VAE, Autoencoder, ConditionalVAE):
        assert issubclass(cls, CourseModel) and "compute_losses" in cls.__dict__
        assert "train_step" not in cls.__dict__ and "test_step" not in cls.__dict__


def test_the_shown_train_step_has_no_line_about_denoising_warmup_or_devices():
    import inspect

    source = inspect.getsource(VAE.train_step).lower()
    for word in ("nois", "warm", "replica", "strategy", "distribute", "free_bits"):
        assert word not in source, word


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_the_package_and_the_command_line_help_load_no_tensorflow():
    done = _run_python(
        "import sys\n"
        "import vae_helpers, vae_helpers.cli, vae_helpers.core.checks, vae_helpers.core.settings, vae_helpers.data.datasets\n"
        "try:\n"
        "    vae_helpers.cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_a_bad_option_exits_before_tensorflow_loads():
    done = _run_python("import sys\nfrom vae_helpers import cli\n"
                       "try:\n    cli.main(['plots', '--latent-dim', '1'])\nexcept SystemExit as e:\n    print(e.code)\n"
                       "print('tensorflow' in sys.modules)\n")
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr[-2000:]
    assert "--latent-dim: must be an integer in [2, 1024]" in done.stderr


def test_a_failed_gif_encoding_leaves_no_exception_ignored_behind(tmp_path, monkeypatch):
    from PIL import Image

    from vae_helpers.viz import animation

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def broken_writer(im, fp, filename):
        raise OSError("encoder failed")

    frames = [np.full((16, 16, 3), v, dtype=np.uint8) for v in (0, 128, 255)]
    animation.write_gif(tmp_path / "first.gif", frames).unlink()  # Pillow registers its GIF writer on first use
    monkeypatch.setitem(Image.SAVE_ALL, "GIF", broken_writer)
    with pytest.raises(OSError, match="encoder failed"):
        animation.write_gif(tmp_path / "a.gif", frames)
    gc.collect()
    assert unraisable == [] and list(tmp_path.iterdir()) == []


def test_a_gif_into_a_read_only_folder_fails_in_one_clear_line(tmp_path):
    """As a subprocess, so that anything printed at exit (imageio's "Exception ignored") is seen."""
    folder = tmp_path / "ro"
    folder.mkdir()
    code = ("import os, numpy as np\n"
            "real = os.access\n"
            "os.access = lambda p, m, **k: False if str(p) == %r else real(p, m, **k)\n"  # read-only, even for root
            "from vae_helpers.viz import animation\n"
            "try:\n"
            "    animation.write_gif(%r, [np.zeros((16, 16, 3), np.uint8)] * 2)\n"
            "except ValueError as exc:\n"
            "    print(exc)\n") % (str(folder), str(folder / "a.gif"))
    done = _run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "`path` must be in a writable folder" in done.stdout and "read-only" in done.stdout
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


def test_no_module_imports_another_modules_privates_and_each_lists_its_public_names():
    import ast
    import importlib
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "vae_helpers"
    paths = sorted(package.rglob("*.py"))
    assert len(paths) > 30, paths
    for path in paths:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 1:
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__version__"]
                assert not private, f"{path.name} imports {private} from .{node.module}"
        if path.name != "__init__.py":
            dotted = ".".join(path.relative_to(package.parent).with_suffix("").parts)
            module = importlib.import_module(dotted)
            assert all(hasattr(module, name) for name in module.__all__), path.name


def test_a_new_kind_with_a_new_decoder_is_one_module_plus_one_entry(tmp_path, monkeypatch):
    from scipy.stats import norm

    import toy_kind
    from vae_helpers.applications.compression import CompressionError, compress
    from vae_helpers.measures.evaluation import elbo_per_example, iwae_per_example
    from vae_helpers.training.tensorboard import IMAGE_TAG, read_run

    monkeypatch.setitem(MODEL_KINDS, "toy_gaussian_vae", toy_kind.KIND)
    config = dataclasses.replace(TINY, model="toy_gaussian_vae", epochs=2)
    assert "-z3-gauss-beta1-e2-" in config.key()
    with pytest.raises(ValueError, match="does not support free_bits"):
        dataclasses.replace(config, free_bits=0.5)
    result = train_vae(config, cache_dir=tmp_path / "cache", verbose=0, tensorboard_dir=tmp_path / "runs")
    assert type(result.model) is toy_kind.GaussianDecoderVAE and not result.from_cache
    # the cache stores and reloads it like any kind
    again = train_vae(config, cache_dir=tmp_path / "cache", verbose=0)
    assert again.from_cache and type(again.model) is toy_kind.GaussianDecoderVAE
    for a, b in zip(result.model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # TensorBoard shows its prior samples, decoded the kind's way
    images = read_run(tmp_path / "runs" / config.key())["train"][IMAGE_TAG]
    assert len(images) == 3 and images[-1][1].shape[-1] == 1   # before training and after each epoch
    # ELBO and IWAE use its Gaussian likelihood: a Monte-Carlo ELBO by hand agrees within 5 standard errors
    x = load_dataset("digits", n_train=128, n_test=64, seed=0).x_test[:16]
    z_mean, z_log_var = (np.asarray(a, "float64") for a in again.model.encode(x))
    eps = np.random.default_rng(1).standard_normal((256, *z_mean.shape))
    z = (z_mean + np.exp(z_log_var / 2) * eps).reshape(-1, z_mean.shape[-1])
    means = again.model.decoder.predict(z.astype("float32"), verbose=0).reshape(256, len(x), -1)
    log_px_z = norm.logpdf(x.reshape(1, len(x), -1), means, toy_kind.SIGMA).sum(-1)
    kl = 0.5 * (np.exp(z_log_var) + z_mean**2 - 1 - z_log_var).sum(-1)
    elbo = elbo_per_example(again.model, x, n_samples=256)
    np.testing.assert_array_less(np.abs(elbo - (log_px_z.mean(0) - kl)), 5 * log_px_z.std(0) / 16 + 1e-3)
    assert iwae_per_example(again.model, x, k=64).mean() >= elbo.mean()
    # the lossless coder refuses a likelihood it cannot code, by name
    with pytest.raises(CompressionError, match="likelihood='gaussian'"):
        compress(again.model, (x > 0.5).astype("float32"))


@pytest.mark.parametrize("build, option", [
    (lambda **kw: build_discrete_vae((8, 8, 1), 3, (8,), 16, **kw), {"free_bits": 0.5}),
    (lambda **kw: build_discrete_vae((8, 8, 1), 3, (8,), 16, **kw), {"denoising": True}),
    (lambda **kw: build_iwae_vae((8, 8, 1), 3, dense_units=16, **kw), {"free_bits": 0.5}),
    (lambda **kw: build_iwae_vae((8, 8, 1), 3, dense_units=16, **kw), {"denoising": True}),
    (lambda **kw: build_mlp_vae((8, 8, 1), 3, 16, **kw), {"free_bits": 0.5}),
    (lambda **kw: build_mlp_vae((8, 8, 1), 3, 16, **kw), {"denoising": True}),
    (lambda **kw: build_mlp_vae((8, 8, 1), 3, 16, **kw), {"kl_warmup_steps": 10}),
])
def test_a_model_refuses_a_shared_option_its_loss_would_ignore(build, option):
    (name, value), = option.items()
    with pytest.raises(ValueError, match=rf"does not implement {name}: its loss would ignore them.*Received: {name}={value!r}"):
        build(**option)
