import urllib.error

import numpy as np
import pytest

from vae_helpers.data import datasets as data


@pytest.fixture(scope="module")
def fashion():
    return data.load_dataset("fashion_mnist")


@pytest.mark.parametrize(
    "name, shape, n_train, n_test",
    [("mnist", (28, 28, 1), 60000, 10000), ("fashion_mnist", (28, 28, 1), 60000, 10000),
     ("digits", (8, 8, 1), 1437, 360)],
)
def test_shapes_dtypes_and_ranges(name, shape, n_train, n_test):
    ds = data.load_dataset(name)
    assert ds.name == name and ds.image_shape == shape
    assert ds.x_train.shape == (n_train, *shape) and ds.x_test.shape == (n_test, *shape)
    assert ds.y_train.shape == (n_train,) and ds.y_test.shape == (n_test,)
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
    assert ds.y_train.dtype == np.int64 and set(np.unique(ds.y_train)) == set(range(10))
    assert len(ds.class_names) == 10


def test_fashion_mnist_has_human_readable_class_names(fashion):
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"


def test_mnist_pixels_are_the_keras_pixels_scaled():
    import keras

    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    ds = data.load_dataset("mnist")
    np.testing.assert_allclose(ds.x_train[..., 0], x_train / 255.0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_train, y_train)


def test_subset_is_deterministic_and_depends_on_seed():
    a = data.load_dataset("digits", n_train=100, n_test=50, seed=3)
    b = data.load_dataset("digits", n_train=100, n_test=50, seed=3)
    c = data.load_dataset("digits", n_train=100, n_test=50, seed=4)
    assert a.x_train.shape == (100, 8, 8, 1) and a.x_test.shape == (50, 8, 8, 1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


def test_test_subset_does_not_depend_on_train_subset():
    a = data.load_dataset("digits", n_train=100, n_test=50, seed=3)
    b = data.load_dataset("digits", n_train=None, n_test=50, seed=3)
    np.testing.assert_array_equal(a.x_test, b.x_test)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"`name` must be one of mnist, fashion_mnist, digits, binarized_mnist, shapes, shapes_grid. Received: name='cifar10'"):
        data.load_dataset("cifar10")


@pytest.mark.parametrize("arg", ["n_train", "n_test"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, "10"])
def test_bad_subset_sizes_name_the_argument(arg, bad):
    with pytest.raises(ValueError, match=rf"`{arg}` must be a positive integer or None. Received: {arg}="):
        data.load_dataset("digits", **{arg: bad})


def test_failed_download_says_how_to_provide_the_data_offline(monkeypatch, tmp_path):
    from keras.src.backend import config
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))  # an empty Keras cache
    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    assert data.keras_cache_dir() == str(tmp_path / "datasets")
    with pytest.raises(data.DatasetUnavailableError) as info:
        data.load_dataset("fashion_mnist")
    message = str(info.value)
    assert "Could not fetch the 'fashion_mnist' dataset" in message
    assert str(tmp_path / "datasets") in message and "KERAS_HOME" in message
    assert isinstance(info.value.__cause__, Exception)


def test_binarize_is_deterministic_and_keeps_the_grey_level_as_a_probability():
    x = np.full((200, 28, 28, 1), 0.3, dtype=np.float32)
    a, b = data.binarize(x), data.binarize(x)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 1.0} and a.mean() == pytest.approx(0.3, abs=0.005)
    assert not np.array_equal(a, data.binarize(x, seed=7))
    np.testing.assert_array_equal(data.binarize(np.array([0.0, 1.0, 1.0])), [0.0, 1.0, 1.0])


def test_binarize_rejects_pixels_outside_0_1():
    with pytest.raises(ValueError, match=r"`x` must be a non-empty array of grey levels in \[0, 1\]"):
        data.binarize(np.array([0.0, 255.0]))


def test_binarized_mnist_is_a_fixed_draw_of_mnist_and_subsets_do_not_change_it():
    full = data.load_dataset("binarized_mnist")
    mnist = data.load_dataset("mnist")
    assert full.x_train.shape == (60000, 28, 28, 1) and set(np.unique(full.x_test)) == {0.0, 1.0}
    np.testing.assert_array_equal(full.y_test, mnist.y_test)
    # a pixel is 1 about as often as its grey level says, and never where MNIST is black
    assert full.x_test.mean() == pytest.approx(mnist.x_test.mean(), abs=0.002)
    assert not full.x_test[mnist.x_test == 0].any()
    np.testing.assert_array_equal(data.load_dataset("binarized_mnist").x_test, full.x_test)
    small = data.load_dataset("binarized_mnist", n_test=100, seed=5)
    rows = [np.flatnonzero((full.x_test == img).all(axis=(1, 2, 3)))[0] for img in small.x_test[:5]]
    np.testing.assert_array_equal(full.y_test[rows], small.y_test[:5])
