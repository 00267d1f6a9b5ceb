"""Out-of-distribution sets: 8-bit levels, the transformations they claim, MNIST-like digit layout."""

import numpy as np
import pytest

from vae_helpers.applications import ood
from vae_helpers.models.discrete import to_levels
from vae_helpers.measures.image_quality import png_bits


@pytest.fixture
def x_in():
    return np.random.default_rng(0).integers(0, 256, (6, 28, 28, 1)).astype("float32") / 255.0


def test_every_set_is_8_bit_and_as_large_as_the_input(x_in):
    sets = ood.ood_sets(x_in, seed=1)
    assert set(sets) == {"uniform noise", "constant", "inverted", "upside down"}
    for x in sets.values():
        assert x.shape == x_in.shape and x.dtype == np.float32
        to_levels(x)                                         # raises unless every value is k / 255


def test_the_transformations_are_what_they_say(x_in):
    sets = ood.ood_sets(x_in, seed=1)
    assert np.array_equal(to_levels(sets["inverted"]), 255 - to_levels(x_in))
    assert np.array_equal(sets["upside down"], x_in[:, ::-1])
    assert np.all(sets["constant"] == sets["constant"][:, :1, :1]) and len(np.unique(sets["constant"])) > 1
    assert np.array_equal(png_bits(sets["upside down"][:1][:, ::-1]), png_bits(x_in[:1]))   # same pixels, same file


def test_embedded_digits_sit_centred_on_a_black_canvas():
    x = np.zeros((2, 8, 8, 1), "float32")
    x[:, 2:6, 3:5] = 1.0
    out = ood.embed_digits(x)
    assert out.shape == (2, 28, 28, 1)
    assert out[:, :4].max() == 0 and out[:, 24:].max() == 0 and out[:, :, :4].max() == 0
    assert out.max() > 0.9
    to_levels(out)
    with pytest.raises(ValueError, match=r"`size` must be at most `canvas` \(28\). Received: size=30"):
        ood.embed_digits(x, size=30)


def test_embed_digits_refuses_colour_images_and_a_canvas_too_large_for_memory():
    from vae_helpers.applications.ood import embed_digits

    with pytest.raises(ValueError, match=r"`x` must be greyscale images"):
        embed_digits(np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"`canvas` must keep the output at most 100,000,000 pixels"):
        embed_digits(np.zeros((2, 8, 8, 1), "float32"), canvas=10**5)
