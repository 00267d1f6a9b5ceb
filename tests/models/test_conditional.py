"""The conditional VAE's shapes and label handling, its cache, and the classifier that judges samples."""

import warnings

import numpy as np
import pytest

from vae_helpers.measures.classifier import ClassifierConfig, train_classifier
from vae_helpers.models.conditional import ConditionalVAE, build_conditional_vae
from vae_helpers.training.trainer import TrainConfig, train_vae


@pytest.fixture(scope="module")
def cvae():
    return build_conditional_vae((8, 8, 1), n_classes=10, latent_dim=3, dense_units=16, seed=0)


def test_shapes(cvae):
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype("float32")
    labels = np.array([0, 1, 2, 3, 9])
    z_mean, z_log_var = cvae.encode(x, labels)
    assert z_mean.shape == z_log_var.shape == (5, 3)
    assert cvae.decode(z_mean, labels).shape == (5, 8, 8, 1)
    assert cvae.sample(np.arange(10), seed=1).shape == (10, 8, 8, 1)
    assert cvae.reconstruct(x, labels).shape == (5, 8, 8, 1) and cvae.image_shape == (8, 8, 1)
    assert cvae.count_params() > 0 and cvae.encoder.input_shape == [(None, 8, 8, 1), (None, 10)]


def test_the_label_changes_the_output_and_the_code_does_not_leak_between_rows(cvae):
    z = np.zeros((10, 3), dtype="float32")
    images = cvae.decode(z, np.arange(10))
    assert np.abs(images[0] - images[1]).max() > 0                 # same z, other label: another image
    one = cvae.decode(z[:1], np.array([4]))
    np.testing.assert_allclose(one[0], images[4], atol=1e-6)        # each row only sees its own label


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 10]), r"`labels` must lie in \[0, 9\]. Received: labels with values in \[0, 10\]"),
    (np.array([0.0, 1.0]), r"`labels` must be integer labels of shape \(2,\)"),
    (np.array([0, 1, 2]), r"of shape \(2,\). Received: labels.shape=\(3,\)"),
    (np.array([-1, 0]), r"`labels` must lie in \[0, 9\]"),
])
def test_bad_labels(cvae, labels, match):
    with pytest.raises(ValueError, match=match):
        cvae.decode(np.zeros((2, 3)), labels)


def test_bad_images_are_refused(cvae):
    with pytest.raises(ValueError, match=r"pixel values in \[0, 1\]"):
        cvae.encode(np.full((2, 8, 8, 1), 255.0), np.array([0, 1]))


def test_trains_through_the_cache_and_reloads(tmp_path):
    config = TrainConfig(dataset="digits", latent_dim=2, epochs=1, batch_size=64, n_train=256, n_test=64, seed=1,
                         dense_units=16, model="conditional_vae")
    first = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert isinstance(first.vae, ConditionalVAE) and np.isfinite(first.history["val_loss"][0])
    again = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert again.from_cache
    assert all(np.array_equal(a, b) for a, b in zip(first.vae.get_weights(), again.vae.get_weights()))
    assert config.key() != TrainConfig(**{**config.__dict__, "model": "vae"}).key()


def test_conditional_config_refuses_snapshots():
    with pytest.raises(ValueError, match=r"`model='conditional_vae'` does not support snapshot_samples"):
        TrainConfig(model="conditional_vae", snapshot_samples=4)


def test_classifier_learns_digits_and_is_cached(tmp_path):
    config = ClassifierConfig(dataset="digits", epochs=8, seed=0)
    clf = train_classifier(config, cache_dir=tmp_path)
    assert not clf.from_cache and clf.test_accuracy > 0.8           # 8x8 digits, 8 epochs
    p = clf.predict_proba(np.zeros((3, 8, 8, 1)))
    assert p.shape == (3, 10) and np.allclose(p.sum(1), 1)
    with warnings.catch_warnings(record=True) as caught:   # Keras warns if the optimizer state cannot load
        warnings.simplefilter("always")
        again = train_classifier(config, cache_dir=tmp_path)
    assert again.from_cache and again.test_accuracy == clf.test_accuracy
    assert not [str(w.message) for w in caught if "optimizer" in str(w.message)]
    assert int(again.model.optimizer.iterations) == int(clf.model.optimizer.iterations) > 0
    with pytest.raises(ValueError, match=r"`epochs` must be a positive integer"):
        ClassifierConfig(epochs=0)


def test_total_variation():
    from vae_helpers.measures.classifier import total_variation

    assert total_variation([1, 1], [2, 2]) == 0.0 and total_variation([1, 0], [0, 3]) == 1.0
    assert total_variation(np.array([30, 10]), np.array([1, 1])) == pytest.approx(0.25)
    for p, q in (([0, 0], [1, 1]), ([np.nan, 1], [1, 1]), ([1, -1], [1, 1]), ([1, 1, 1], [1, 1])):
        with pytest.raises(ValueError, match=r"`p` and `q` must be finite non-negative vectors"):
            total_variation(p, q)


def test_the_shape_judge_names_the_shapes_of_the_grid_and_its_key_follows_the_drawn_data(tmp_path, monkeypatch):
    from vae_helpers.data.shapes import make_shapes
    from vae_helpers.measures import classifier

    grid = make_shapes()
    config = ClassifierConfig(dataset="shapes_grid", epochs=10, seed=0)   # the notebook's judge
    judge = train_classifier(config, cache_dir=tmp_path)
    accuracy = np.mean(judge.predict_proba(grid.images).argmax(1) == grid.factors[:, 0])
    blank = judge.predict_proba(np.zeros((3, 32, 32, 1), "float32"))
    assert accuracy > 0.9 and np.allclose(blank.sum(1), 1)          # three shapes: chance is 1/3
    key = config.key()
    monkeypatch.setattr(classifier, "SHAPES_DATA_VERSION", classifier.SHAPES_DATA_VERSION + 1)
    assert config.key() != key and ClassifierConfig(dataset="digits").key() == ClassifierConfig(dataset="digits").key()
