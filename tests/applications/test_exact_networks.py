"""The exact evaluation of a network: integer arithmetic in float64, the same in any order (known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from vae_helpers.applications.exact_networks import ACTIVATION_BITS, RANGE_BITS, exact_network
from vae_helpers.core.tf_startup import keras


def _dense(units: int, inputs: int, activation: str = "linear", scale: float = 0.3, seed: int = 0) -> keras.Model:
    x = keras.Input((inputs,))
    model = keras.Model(x, keras.layers.Dense(units, activation=activation, name="dense")(x))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, scale, (inputs, units)).astype("float32"), rng.normal(0, 1, units).astype("float32")])
    return model


def test_a_dense_layer_equals_the_integer_sum_computed_in_python():
    model = _dense(3, 50)
    exact = exact_network(model)
    bits = exact.get_layer("dense").weight_bits
    x = np.random.default_rng(1).normal(0, 2, (4, 50)).astype("float32")       # the network takes float32
    kernel, bias = (np.asarray(w, "float64") for w in model.get_weights())
    x_int = np.rint(x.astype("float64") * 2**ACTIVATION_BITS).astype(object)           # Python integers: no rounding at all
    k_int, b_int = np.rint(kernel * 2**bits).astype(object), np.rint(bias * 2 ** (bits + ACTIVATION_BITS)).astype(object)
    expected = (x_int.dot(k_int) + b_int) * 2.0 ** -(bits + ACTIVATION_BITS)
    assert np.array_equal(np.asarray(exact(x), "float64"), expected.astype("float64"))
    assert np.abs(np.asarray(exact(x)) - np.asarray(model(x))).max() < 1e-3        # and close to the float network


def test_the_order_of_the_sum_does_not_change_a_bit():
    model = _dense(4, 300, scale=1.0)
    order = np.random.default_rng(2).permutation(300)
    permuted = _dense(4, 300)
    kernel, bias = model.get_weights()
    permuted.set_weights([kernel[order], bias])
    x = np.random.default_rng(3).normal(0, 5, (8, 300)).astype("float32")
    assert np.array_equal(np.asarray(exact_network(model)(x)), np.asarray(exact_network(permuted)(x[:, order])))


def test_the_course_networks_stay_close_to_their_float_outputs():
    from vae_helpers.models.discrete import build_discrete_vae
    from vae_helpers.models.mlp_vae import build_mlp_vae

    x = np.random.default_rng(4).random((2, 28, 28, 1)).astype("float32")
    conv = build_discrete_vae((28, 28, 1), latent_dim=4, filters=(8, 16), dense_units=32, seed=0)
    for net, inputs in [(conv.encoder, x), (conv.decoder, np.ones((2, 4), "float32"))]:
        for got, want in zip(np.atleast_1d(exact_network(net)(inputs)), np.atleast_1d(net(inputs))):
            assert np.abs(np.asarray(got) - np.asarray(want)).max() < 1e-3
    mlp = build_mlp_vae((8, 8, 1), latent_dim=2, dense_units=16, seed=0)      # a tanh decoder: read from a table
    z = np.linspace(-2, 2, 10, dtype="float32").reshape(5, 2)
    assert np.abs(np.asarray(exact_network(mlp.decoder)(z)) - np.asarray(mlp.decoder(z))).max() < 2e-3


def test_large_weights_get_fewer_fraction_bits_and_too_large_ones_are_refused():
    small, large = exact_network(_dense(2, 10, scale=0.01)), exact_network(_dense(2, 10, scale=100.0))
    assert small.get_layer("dense").weight_bits > large.get_layer("dense").weight_bits
    huge = _dense(2, 10)
    huge.set_weights([np.full((10, 2), 2.0 ** 20, "float32"), np.zeros(2, "float32")])
    with pytest.raises(ValueError, match=r"layer 'dense' has weights too large to evaluate exactly"):
        exact_network(huge)


def test_layers_and_activations_it_cannot_evaluate_exactly_are_named():
    x = keras.Input((4,))
    with pytest.raises(ValueError, match=r"layer 'norm' is a BatchNormalization; the exact evaluation knows Dense"):
        exact_network(keras.Model(x, keras.layers.BatchNormalization(name="norm")(x)))
    with pytest.raises(ValueError, match=r"layer 'soft' has the activation 'softmax'"):
        exact_network(keras.Model(x, keras.layers.Dense(3, activation="softmax", name="soft")(x)))
    with pytest.raises(ValueError, match=r"`model` must be a Keras network. Received: str"):
        exact_network("encoder")


def test_inputs_beyond_the_range_are_clipped_not_wrapped():
    model = _dense(1, 1)
    model.set_weights([np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    out = np.asarray(exact_network(model)(np.array([[1e9], [-1e9], [0.5]], "float32")))[:, 0]
    assert list(out) == [2.0 ** RANGE_BITS, -(2.0 ** RANGE_BITS), 0.5]
