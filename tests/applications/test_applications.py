"""Notebooks 05 to 07's helpers: the autoencoder in the cache, one-class and denoising training, training
noise, anomaly scores, the complexity correction, KL rates, JPEG curves and the plots and tables."""

import dataclasses

import keras
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from vae_helpers.applications import anomaly

from vae_helpers.measures import evaluation

from vae_helpers.viz import plotting  # noqa: E402
from vae_helpers.measures import image_quality as iq  # noqa: E402
from vae_helpers.models.autoencoder import Autoencoder, build_autoencoder_model  # noqa: E402
from vae_helpers.data.datasets import load_dataset  # noqa: E402
from vae_helpers.models.builders import TrainingNoise  # noqa: E402
from vae_helpers.notebook import format_table  # noqa: E402
from vae_helpers.data.datasets import only_class
from vae_helpers.training.trainer import TrainConfig, train_vae  # noqa: E402

TINY = TrainConfig(dataset="digits", latent_dim=4, epochs=2, batch_size=64, n_train=256, n_test=128, seed=3,
                   filters=(16, 32), dense_units=32)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    ae = train_vae(dataclasses.replace(TINY, model="autoencoder", normal_class=1), cache_dir=cache, verbose=0)
    vae = train_vae(dataclasses.replace(TINY, normal_class=1), cache_dir=cache, verbose=0)
    return {"cache": cache, "ae": ae, "vae": vae, "x": load_dataset("digits", n_test=128, seed=3).x_test}


def test_autoencoder_trains_through_the_cache_and_reloads_identically(models):
    result = models["ae"]
    assert isinstance(result.vae, Autoencoder) and not result.from_cache
    assert result.path.name.startswith("digits-class1-z4-ae-e2-") and "loss" in result.history
    again = train_vae(result.config, cache_dir=models["cache"], verbose=0)
    assert again.from_cache
    np.testing.assert_array_equal(again.vae.reconstruct(models["x"]), result.vae.reconstruct(models["x"]))
    z = result.vae.encode(models["x"])
    assert z.shape == (len(models["x"]), 4) and np.isfinite(z).all() and z.std() > 0


def test_one_class_training_sees_only_the_normal_class():
    ds = load_dataset("digits", seed=0)
    one = only_class(ds, 7)
    assert set(one.y_train) == {7} and set(one.y_test) == {7}
    assert len(one.x_train) == int((ds.y_train == 7).sum())
    with pytest.raises(ValueError, match=r"`normal_class` must be an integer in \[0, 9\]. Received: normal_class=10"):
        only_class(ds, 10)
    with pytest.raises(ValueError, match=r"`normal_class` 3 has no images in the \(subset of the\) digits training split"):
        only_class(dataclasses.replace(ds, y_train=np.where(ds.y_train == 3, 4, ds.y_train)), 3)


def test_new_settings_change_the_key_only_when_set():
    base = TINY.key()
    keys = {base, dataclasses.replace(TINY, model="autoencoder").key(), dataclasses.replace(TINY, normal_class=0).key(),
            dataclasses.replace(TINY, denoising=True).key()}
    assert len(keys) == 4
    assert dataclasses.replace(TINY, model="vae", normal_class=None, denoising=False).key() == base
    assert dataclasses.replace(TINY, denoising=True).key().startswith("digits-z4-beta1-denoising-e2-")


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "gan"}, r"`model` must be one of vae, autoencoder, conditional_vae, mlp_vae, discrete_vae, iwae_vae, gaussian_vae, disentangling_vae. Received: model='gan'"),
    ({"model": "autoencoder", "kl_warmup_epochs": 2}, r"`model='autoencoder'` does not support kl_warmup_epochs"),
    ({"model": "autoencoder", "snapshot_samples": 4}, r"`model='autoencoder'` does not support snapshot_samples"),
    ({"normal_class": -1}, r"`normal_class` must be a non-negative integer or None. Received: normal_class=-1"),
    ({"normal_class": 1.5}, r"`normal_class` must be a non-negative integer or None"),
    ({"denoising": 1}, r"`denoising` must be True or False. Received: denoising=1"),
])
def test_bad_new_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(TINY, **kwargs)


def test_training_noise_only_acts_in_training_and_mixes_both_kinds():
    x = np.full((400, 8, 8, 1), 0.5, dtype="float32")
    noise = TrainingNoise(max_sigma=0.6, max_amount=0.3, seed=1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(noise(x)), x)
    out = keras.ops.convert_to_numpy(noise(x, training=True))
    assert out.min() >= 0 and out.max() <= 1 and not np.array_equal(out, x)
    # salt and pepper leaves pixels at exactly 0.5 or sets them to 0 or 1; Gaussian noise moves every pixel
    only_sp = np.all(np.isin(out.reshape(400, -1), (0.0, 0.5, 1.0)), axis=1)
    assert 100 < only_sp.sum() < 300, only_sp.sum()
    with pytest.raises(ValueError, match=r"`max_amount` must be a share of pixels in \[0, 1\]"):
        TrainingNoise(max_amount=2.0)


def test_denoising_models_train_and_reload(tmp_path):
    """Both kinds, from the cache and from their config: still denoising, with the same weights."""
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    for model in ("vae", "autoencoder"):
        config = dataclasses.replace(TINY, model=model, denoising=True)
        first = train_vae(config, cache_dir=tmp_path, verbose=0)
        assert first.model.denoising and np.isfinite(first.history["loss"]).all()
        again = train_vae(config, cache_dir=tmp_path, verbose=0)
        assert again.from_cache and again.model.denoising
        np.testing.assert_array_equal(again.model.reconstruct(x), first.model.reconstruct(x))
        restored = type(first.model).from_config(first.model.get_config())
        assert restored.denoising and type(restored) is type(first.model)


def test_autoencoder_checks_its_inputs(models):
    ae = models["ae"].vae
    with pytest.raises(ValueError, match=r"`x` must hold pixel values in \[0, 1\]"):
        ae.encode(models["x"] * 255)
    with pytest.raises(ValueError, match=r"`z` must be a finite numeric array of shape \(n, 4\)"):
        ae.decode(np.zeros((2, 3)))
    encoder = keras.Model(ae.encoder.inputs, [ae.encoder.outputs[0], ae.encoder.outputs[0]])
    with pytest.raises(ValueError, match="`encoder` must be a Keras model with one output"):
        Autoencoder(encoder, ae.decoder)
    assert isinstance(build_autoencoder_model((8, 8, 1), 3, (8,), 16), Autoencoder)


def test_squared_error_is_zero_for_a_perfect_reconstruction():
    class Identity:
        def reconstruct(self, x, batch_size=512):
            return x

    class Blank:
        def reconstruct(self, x, batch_size=512):
            return np.zeros_like(x)

    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(anomaly.squared_error(Identity(), x), np.zeros(5))
    np.testing.assert_allclose(anomaly.squared_error(Blank(), x), (x.astype("float64") ** 2).sum((1, 2, 3)))


def test_one_class_scores_are_finite_and_named(models):
    scores = anomaly.one_class_scores(models["ae"].vae, models["vae"].vae, models["x"], k=3)
    assert list(scores) == ["AE squared error", "VAE squared error", "VAE -ELBO", "VAE -IWAE (k=3)", "VAE KL"]
    for values in scores.values():
        assert values.shape == (len(models["x"]),) and np.isfinite(values).all() and values.std() > 0
    assert np.all(scores["VAE KL"] >= 0)


def test_kl_per_example_known_values():
    class Fixed:
        def encode(self, x, batch_size=512):
            n = len(x)
            return np.tile([[1.0, 0.0]], (n, 1)), np.zeros((n, 2))   # KL = 0.5 * 1**2 + 0 = 0.5 nats

    np.testing.assert_allclose(evaluation.kl_per_example(Fixed(), np.zeros((3, 8, 8, 1))), [0.5] * 3)


def test_complexity_correction_subtracts_the_png_size():
    constant = np.zeros((2, 28, 28, 1), dtype="float32")
    noise = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    x = np.concatenate([constant, noise])
    bits = iq.png_bits(x)
    assert bits[:2].max() < 1000 < bits[2:].min()          # a constant image compresses to almost nothing
    nll_nats = np.array([100.0, 200.0, 300.0, 400.0])
    np.testing.assert_allclose(anomaly.complexity_corrected(nll_nats, x), nll_nats / np.log(2) - bits)
    with pytest.raises(ValueError, match=r"`nll_nats` must hold one finite value per image \(4\)"):
        anomaly.complexity_corrected(nll_nats[:3], x)
    with pytest.raises(ValueError, match=r"`nll_nats` must hold one finite value per image"):
        anomaly.complexity_corrected([1.0, np.nan, 1.0, 1.0], x)


def test_jpeg_curve_grows_with_quality():
    x = load_dataset("digits", n_test=50, seed=0).x_test
    x = np.kron(x, np.ones((1, 4, 4, 1), dtype="float32"))   # 32x32, so JPEG has blocks to work with
    curve = iq.jpeg_curve(x, (10, 50, 90))
    assert np.all(np.diff(curve["bits"]) > 0) and np.all(np.diff(curve["psnr"]) > 0)
    with pytest.raises(ValueError, match="`qualities` must be a non-empty sequence of qualities in \\[1, 95\\]"):
        iq.jpeg_curve(x, ())


def test_format_table():
    text = format_table([[0, 0.98765, "a"], [10, 1.0, "bb"]], ["class", "AUC", "note"], digits=2)
    assert text.splitlines() == ["| class |  AUC | note |", "|-------|------|------|",
                                 "|     0 | 0.99 |    a |", "|    10 | 1.00 |   bb |"]
    with pytest.raises(ValueError, match="every row of `rows` must have 3 cells"):
        format_table([[1, 2]], ["a", "b", "c"])


def test_roc_and_histogram_figures():
    fpr, tpr = anomaly.roc_curve([0.1, 0.2, 0.8, 0.9], np.array([False, False, True, True]))
    fig = plotting.plot_roc_curves({"score": (fpr, tpr, 1.0)}, title="t")
    assert "AUC 1.000" in fig.axes[0].get_legend().get_texts()[0].get_text()
    fig = plotting.plot_score_histograms({"a": {"in": np.arange(5.0), "out": np.arange(5.0) + 2}}, xlabel="bits per image")
    assert len(fig.axes) == 1 and fig.axes[0].get_xlabel() == "bits per image"
    with pytest.raises(ValueError, match="`curves` must name at least one score"):
        plotting.plot_roc_curves({})
    with pytest.raises(ValueError, match="`panels` must map each title"):
        plotting.plot_score_histograms({"a": {}})


def test_elbo_and_iwae_from_shared_samples_match_the_separate_estimates(models):
    vae, x = models["vae"].vae, models["x"][:40]
    elbo, iwae = evaluation.elbo_and_iwae_per_example(vae, x, k=6, seed=5)
    np.testing.assert_allclose(iwae, evaluation.iwae_per_example(vae, x, k=6, seed=5), rtol=1e-10)
    np.testing.assert_allclose(elbo, evaluation.elbo_per_example(vae, x, n_samples=6, seed=5), rtol=1e-10)


def test_tensorflow_warnings_are_silenced_only_while_training():
    import logging

    from vae_helpers.training.trainer import _tf_warnings_silenced

    logger = logging.getLogger("tensorflow")
    before = logger.level
    with _tf_warnings_silenced():
        assert not logger.isEnabledFor(logging.WARNING) and logger.isEnabledFor(logging.ERROR)
    assert logger.level == before


def test_spatial_code_autoencoder_and_its_checks():
    from vae_helpers.models.builders import build_encoder, build_spatial_decoder

    model = build_autoencoder_model((8, 8, 1), 3, (16, 32), dense_units=0)
    assert model.code_shape == (2, 2, 3)
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    assert model.encode(x).shape == (5, 2, 2, 3) and model.reconstruct(x).shape == x.shape
    with pytest.raises(ValueError, match=r"`z` must be a finite numeric array of shape \(n, 2, 2, 3\)"):
        model.decode(np.zeros((5, 12)))
    with pytest.raises(ValueError, match=r"`dense_units` must be an integer in \[1, 16384\]"):
        build_encoder((8, 8, 1), 3, (16, 32), dense_units=0, variational=True)
    assert build_spatial_decoder((8, 8, 1), 3, (16, 32)).input_shape == (None, 2, 2, 3)
    with pytest.raises(ValueError, match=r"`dense_units` must be"):
        dataclasses.replace(TINY, model="conditional_vae", dense_units=0)   # a conditional VAE needs its dense layer
    assert dataclasses.replace(TINY, model="autoencoder", dense_units=0).key().startswith("digits-z4-convae-e2-")


def test_spatial_vae_has_one_gaussian_per_position_and_channel(tmp_path):
    config = dataclasses.replace(TINY, dense_units=0, latent_dim=3, filters=(16,), convs_per_stage=2, denoising=True)
    vae = train_vae(config, cache_dir=tmp_path, verbose=0).model
    z_mean, z_log_var = vae.encode(np.zeros((2, 8, 8, 1), "float32"))
    assert z_mean.shape == z_log_var.shape == (2, 4 * 4 * 3) and vae.latent_dim == 48
    assert len([layer for layer in vae.encoder.layers if "conv" in layer.name]) == 2   # strided + one more
    assert vae.reconstruct(np.zeros((2, 8, 8, 1), "float32")).shape == (2, 8, 8, 1)


def test_convs_per_stage_needs_a_spatial_code():
    with pytest.raises(ValueError, match=r"`convs_per_stage` applies to spatial codes only.*convs_per_stage=2, dense_units=32"):
        dataclasses.replace(TINY, convs_per_stage=2)
    assert dataclasses.replace(TINY, dense_units=0, convs_per_stage=1).key() != dataclasses.replace(
        TINY, dense_units=0, convs_per_stage=2).key()


def test_warm_start_begins_from_the_parent_weights_and_has_its_own_key(tmp_path):
    parent = dataclasses.replace(TINY, epochs=1)
    child = dataclasses.replace(parent, beta=4.0, learning_rate=1e-9, lr_schedule="constant", init_from=parent)
    assert child.key() != dataclasses.replace(parent, beta=4.0, learning_rate=1e-9, lr_schedule="constant").key()
    assert "-from-" in child.key() and child.key() == dataclasses.replace(child).key()
    trained = train_vae(child, cache_dir=tmp_path, verbose=0).model
    parent_model = train_vae(parent, cache_dir=tmp_path, verbose=0)
    assert parent_model.from_cache                       # the child trained it first, through the cache
    for a, b in zip(trained.get_weights(), parent_model.model.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)      # a learning rate of 1e-9 leaves the parent's weights


def test_warm_start_refuses_another_architecture():
    with pytest.raises(ValueError, match=r"`init_from` must have the same .*latent_dim=8"):
        dataclasses.replace(TINY, init_from=dataclasses.replace(TINY, latent_dim=8))
    with pytest.raises(ValueError, match=r"`init_from` must be a TrainConfig or None. Received: init_from='x'"):
        dataclasses.replace(TINY, init_from="x")


def test_train_many_prints_one_line_per_model(tmp_path, capsys):
    from vae_helpers.training.trainer import train_many

    configs = {"first": dataclasses.replace(TINY, epochs=1), "second": dataclasses.replace(TINY, epochs=1, seed=4)}
    models = train_many(configs, cache_dir=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert list(models) == ["first", "second"] and len(lines) == 2
    assert lines[0].startswith("first: trained for 1 epochs in ") and "final training loss" in lines[0]
    train_many({"again": configs["first"]}, cache_dir=tmp_path)
    assert capsys.readouterr().out.startswith("again: loaded from the cache in ")
    with pytest.raises(ValueError, match=r"`configs` must be a dict of name -> TrainConfig"):
        train_many([TINY])


def test_validation_images_are_held_out_of_training_and_validate_it(tmp_path):
    from vae_helpers.training.trainer import training_data

    config = dataclasses.replace(TINY, model="autoencoder", normal_class=1, validation_images=5)
    ds, (x_val, y_val) = training_data(config)
    full = only_class(load_dataset("digits", n_train=256, n_test=128, seed=3), 1)
    assert len(ds.x_train) == len(full.x_train) - 5 and set(y_val) == {1}
    np.testing.assert_array_equal(np.concatenate([ds.x_train, x_val]), full.x_train)     # the last 5, apart
    np.testing.assert_array_equal(ds.x_test, full.x_test)
    result = train_vae(config, cache_dir=tmp_path, verbose=0)
    val_loss = result.model.evaluate(x_val, verbose=0, return_dict=True)["loss"]
    assert result.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-5)          # Keras validated on them
    assert config.key() != dataclasses.replace(config, validation_images=0).key()
    with pytest.raises(ValueError, match=r"`n` must leave training images: .* Received: n="):
        training_data(dataclasses.replace(config, validation_images=len(full.x_train)))
    with pytest.raises(ValueError, match=r"`validation_images` must be"):
        dataclasses.replace(config, validation_images=-1)


def test_one_class_validation_comes_from_the_training_split_only():
    from vae_helpers.applications import recipes
    from vae_helpers.core.settings import get_settings

    config = recipes.one_class_config(get_settings("smoke"), "autoencoder", 3, seed=0, epochs=5)
    assert config.epochs == 2 and config.validation_images == 20 and config.normal_class == 3
    x, is_anomaly = recipes.one_class_validation(config)
    assert x.shape == (100, 28, 28, 1) and int((~is_anomaly).sum()) == 20
    train = load_dataset("mnist", n_train=config.n_train, seed=0)
    flat_train = {row.tobytes() for row in train.x_train}
    assert all(image.tobytes() in flat_train for image in x)                         # every one a training image
    test = {row.tobytes() for row in load_dataset("mnist", seed=0).x_test}
    assert not any(image.tobytes() in test for image in x)
    labels = {row.tobytes(): y for row, y in zip(train.x_train, train.y_train)}
    assert all((labels[image.tobytes()] != 3) == anomalous for image, anomalous in zip(x, is_anomaly))
    x_again, _ = recipes.one_class_validation(config)
    np.testing.assert_array_equal(x, x_again)
    with pytest.raises(ValueError, match="`config` must be a one-class TrainConfig with validation_images"):
        recipes.one_class_validation(dataclasses.replace(config, validation_images=0))


def test_the_rate_distortion_family_fine_tunes_one_base_and_holds_out_training_images_only():
    from vae_helpers.applications import recipes
    from vae_helpers.core.settings import get_settings
    from vae_helpers.training.trainer import training_data

    settings = get_settings("smoke")
    base = recipes.rd_vae_base(settings, channels=4)
    point = recipes.rd_vae_config(settings, 0.3, channels=4)
    assert (base.model, base.beta, base.dense_units, base.latent_dim, base.epochs) == ("gaussian_vae", 1.0, 0, 4, 2)
    assert point.init_from == base and (point.beta, point.epochs, point.learning_rate) == (0.3, 1, 1e-3)
    held_out = recipes.held_out_images(point)
    np.testing.assert_array_equal(held_out, recipes.held_out_images(base))          # the base's and every point's
    assert len(held_out) == 64
    fitted = {row.tobytes() for row in training_data(point)[0].x_train}
    assert not any(image.tobytes() in fitted for image in held_out)                  # held out of the training
    test = {row.tobytes() for row in load_dataset("fashion_mnist", seed=0).x_test}
    assert not any(image.tobytes() in test for image in held_out)                    # and not test images
    with pytest.raises(ValueError, match="`config` must be a TrainConfig with validation_images"):
        recipes.held_out_images(dataclasses.replace(base, validation_images=0))
    with pytest.raises(ValueError, match="`channels` must be"):
        recipes.rd_vae_base(settings, channels=0)
