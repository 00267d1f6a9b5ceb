"""A network evaluated in exact arithmetic, so that every process computes the same numbers.

A lossless codec needs the coder and the decoder to compute *bit-identical* probabilities. A float32
network does not: how TensorFlow splits a sum between threads, whether oneDNN runs it, and which
vector instructions it picks all change the rounding of the last bits, and one changed probability
makes the decoder read a different symbol. Ballé, Johnston & Minnen (2019), "Integer networks for
data compression with latent-variable models", make the network itself integer. This module does the
same with float64 numbers that hold integers:

- every **input of a linear layer** (Dense, Conv2D, Conv2DTranspose) is clipped to
  ``±2**RANGE_BITS`` and rounded to a multiple of ``2**-ACTIVATION_BITS``;
- its **weights** are rounded to multiples of ``2**-F`` and its bias to multiples of
  ``2**-(F + ACTIVATION_BITS)``, with ``F`` (at most ``MAX_WEIGHT_BITS``) chosen per layer so that
  the sum of the absolute values of any output's products stays below ``2**53``.

Every product and every partial sum is then an integer multiple of ``2**-(F + ACTIVATION_BITS)``
smaller than ``2**53`` of them, which float64 holds exactly: the result does not depend on the order of
the sum, the number of threads, FMA or the instruction set. ReLU and the identity are exact; tanh and
the sigmoid are read from a table on a grid of ``2**-TABLE_BITS`` computed once in numpy. The rounding
moves a trained network's outputs by about ``2**-16``, far below what changes a code length.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..core.tf_startup import keras, tf

__all__ = ["ACTIVATION_BITS", "MAX_WEIGHT_BITS", "RANGE_BITS", "TABLE_BITS", "ExactLinear", "exact_network"]

ACTIVATION_BITS = 16    # a linear layer's inputs are multiples of 2**-16
RANGE_BITS = 12         # ... within ±4096
MAX_WEIGHT_BITS = 24    # weights are multiples of 2**-F, F <= 24
TABLE_BITS = 12         # tanh and sigmoid are read from a table on a grid of 2**-12
_EXACT_LIMIT = 2.0 ** 53
_TABLES = {"tanh": (np.tanh, 20.0), "sigmoid": (expit, 40.0)}   # function, and |x| beyond which it is flat in float64
_LINEAR = ("Dense", "Conv2D", "Conv2DTranspose")
_SHAPE_ONLY = ("Flatten", "Reshape")
_IDENTITY_AT_INFERENCE = ("Dropout", "GaussianNoise", "GaussianDropout", "TrainingNoise")


def _activation_table(name: str) -> tuple[np.ndarray, float]:
    function, limit = _TABLES[name]
    return function(np.arange(-limit, limit + 2.0 ** -TABLE_BITS, 2.0 ** -TABLE_BITS)), limit


class ExactLinear(keras.layers.Layer):
    """A Dense, Conv2D or Conv2DTranspose layer and its activation, evaluated exactly (see the module docstring)."""

    def __init__(self, layer: keras.layers.Layer, **kwargs):
        super().__init__(name=layer.name, dtype="float64", **kwargs)
        config = layer.get_config()
        self.activation_name = config.get("activation", "linear")
        self.linear = layer.__class__.from_config({**config, "dtype": "float64", "activation": "linear"})
        weights = layer.get_weights()
        kernel = np.asarray(weights[0], dtype="float64")
        transposed = layer.__class__.__name__ == "Conv2DTranspose"    # its kernel is (kh, kw, out, in)
        in_axis, out_axis = (kernel.ndim - 1, kernel.ndim - 2) if transposed else (kernel.ndim - 2, kernel.ndim - 1)
        self.linear.build((None,) * (kernel.ndim - 1) + (kernel.shape[in_axis],))
        # the largest sum of |weights| that feeds one output
        bits = MAX_WEIGHT_BITS
        while True:
            k = np.rint(kernel * 2.0 ** bits)
            bias = np.rint(np.asarray(weights[1], dtype="float64") * 2.0 ** (bits + ACTIVATION_BITS)) \
                if len(weights) > 1 else np.zeros(1)
            worst = np.abs(np.moveaxis(k, out_axis, -1)).reshape(-1, k.shape[out_axis]).sum(axis=0).max()
            if worst * 2.0 ** (RANGE_BITS + ACTIVATION_BITS) + np.abs(bias).max() < _EXACT_LIMIT:
                break
            bits -= 1
            if bits < 4:
                raise ValueError(f"layer {layer.name!r} has weights too large to evaluate exactly (a sum of |weights| of "
                                 f"{np.abs(kernel).sum():g}); the exact evaluation allows up to about 2**{53 - RANGE_BITS - ACTIVATION_BITS - 4}")
        self.weight_bits = bits
        self.linear.set_weights([k * 2.0 ** -bits] + ([bias * 2.0 ** -(bits + ACTIVATION_BITS)] if len(weights) > 1 else []))
        self.table = None
        if self.activation_name in _TABLES:
            table, self.limit = _activation_table(self.activation_name)
            self.table = tf.constant(table)
        elif not isinstance(self.activation_name, str) or self.activation_name not in ("linear", "relu"):
            raise ValueError(f"layer {layer.name!r} has the activation {self.activation_name!r}; the exact evaluation knows "
                             f"linear, relu, {', '.join(_TABLES)}")

    def call(self, x):
        scale = 2.0 ** ACTIVATION_BITS
        x = tf.round(tf.clip_by_value(tf.cast(x, tf.float64), -2.0 ** RANGE_BITS, 2.0 ** RANGE_BITS) * scale) / scale
        y = self.linear(x)
        if self.activation_name == "relu":
            return tf.nn.relu(y)
        if self.table is not None:
            index = tf.round((tf.clip_by_value(y, -self.limit, self.limit) + self.limit) * 2.0 ** TABLE_BITS)
            return tf.gather(self.table, tf.cast(index, tf.int32))
        return y


def _clone(layer: keras.layers.Layer) -> keras.layers.Layer:
    kind = layer.__class__.__name__
    if kind in _LINEAR:
        return ExactLinear(layer)
    if kind in _SHAPE_ONLY:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float64"})
    if kind in _IDENTITY_AT_INFERENCE:
        return keras.layers.Identity(name=layer.name, dtype="float64")
    raise ValueError(f"layer {layer.name!r} is a {kind}; the exact evaluation knows {', '.join(_LINEAR + _SHAPE_ONLY)} "
                     f"and layers that do nothing at inference ({', '.join(_IDENTITY_AT_INFERENCE)})")


def exact_network(model: keras.Model) -> keras.Model:
    """``model`` (a functional or sequential Keras network) as a float64 network that computes in exact arithmetic.

    Raises ``ValueError`` naming the layer if the network holds a layer or activation it does not know.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a Keras network. Received: {type(model).__name__}")
    return keras.models.clone_model(model, clone_function=_clone)
