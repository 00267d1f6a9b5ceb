"""Convolutional encoder and decoder builders shared by every notebook.

The encoder halves the image size with each strided convolution; the decoder mirrors it
with transposed convolutions and returns *logits* (apply a sigmoid only for display).

Two named architectures differ only in the encoder's dense layer. The Keras VAE example uses a
16-unit ReLU layer, sized for its 2-D latent; with a 16-D latent most of those 16 units die
(never positive), which cuts most latent dimensions off from the image. The course uses 256.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

from ..core.checks import check_images, check_int, check_latent_dim, check_number, check_units
from ..core.tf_startup import keras

__all__ = ["ARCHITECTURES", "DENSE_UNITS", "TrainingNoise", "build_autoencoder", "build_decoder", "build_encoder",
           "build_spatial_decoder", "build_spatial_encoder", "check_filters", "check_image_shape", "predict_images",
           "run_batched", "start_at_mean_ink"]

layers = keras.layers

DENSE_UNITS = 256  # the course's encoder dense layer
ARCHITECTURES = {
    "course": {"filters": (32, 64), "dense_units": DENSE_UNITS},
    "keras_example": {"filters": (32, 64), "dense_units": 16},  # the Keras VAE example's encoder
}


def check_filters(filters: Sequence[int]) -> tuple[int, ...]:
    """``filters`` as a tuple of positive integers (at least one)."""
    message = f"`filters` must be a non-empty sequence of positive integers. Received: filters={filters!r}"
    if isinstance(filters, (str, bytes)) or not isinstance(filters, Sequence) or len(filters) == 0:
        raise ValueError(message)
    try:
        return tuple(check_units("filters", f) for f in filters)
    except ValueError:
        raise ValueError(message) from None


def check_image_shape(arg: str, shape: Sequence[int], n_down: int) -> tuple[int, int, int]:
    """Check ``(height, width, channels)`` and that both sides halve ``n_down`` times exactly."""
    message = f"`{arg}` must be (height, width, channels) of positive integers. Received: {arg}={shape!r}"
    if not isinstance(shape, Sequence) or len(shape) != 3:
        raise ValueError(message)
    try:
        height, width, channels = (check_int(arg, s, 1) for s in shape)
    except ValueError:
        raise ValueError(message) from None
    factor = 2**n_down
    if height % factor or width % factor:
        raise ValueError(
            f"`{arg}` height and width must be divisible by {factor} (2 ** len(filters)). "
            f"Received: {arg}={tuple(shape)!r}, filters of length {n_down}"
        )
    return height, width, channels


def build_encoder(
    input_shape: Sequence[int],
    latent_dim: int,
    filters: Sequence[int] = (32, 64),
    dense_units: int = DENSE_UNITS,
    variational: bool = False,
    name: str = "encoder",
) -> keras.Model:
    """Conv encoder: image -> ``z`` (or ``[z_mean, z_log_var]`` when ``variational``).

    Args:
        input_shape: ``(height, width, channels)``; height and width divisible by ``2 ** len(filters)``.
        latent_dim: size of the latent code.
        filters: channels of each stride-2 convolution (each halves height and width).
        dense_units: width of the dense layer before the latent code.
        variational: output the mean and log-variance of q(z|x) instead of one code.
        name: model name.
    """
    filters = check_filters(filters)
    input_shape = check_image_shape("input_shape", input_shape, len(filters))
    latent_dim, dense_units = check_latent_dim(latent_dim), check_units("dense_units", dense_units)

    x_in = keras.Input(shape=input_shape, name="image")
    h = x_in
    for i, f in enumerate(filters):
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(dense_units, activation="relu", name="dense")(h)
    if not variational:
        return keras.Model(x_in, layers.Dense(latent_dim, name="z")(h), name=name)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(x_in, [z_mean, z_log_var], name=name)


def build_decoder(
    output_shape: Sequence[int],
    latent_dim: int,
    filters: Sequence[int] = (32, 64),
    name: str = "decoder",
) -> keras.Model:
    """Conv decoder: ``z`` -> image logits, mirroring :func:`build_encoder` with the same ``filters``.

    Args:
        output_shape: ``(height, width, channels)`` of the images to produce.
        latent_dim: size of the latent code.
        filters: the encoder's filters; the decoder uses them in reverse order.
        name: model name.
    """
    filters = check_filters(filters)
    height, width, channels = check_image_shape("output_shape", output_shape, len(filters))
    latent_dim = check_latent_dim(latent_dim)

    factor = 2 ** len(filters)
    h0, w0, c0 = height // factor, width // factor, filters[-1]
    z_in = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(h0 * w0 * c0, activation="relu", name="dense")(z_in)
    h = layers.Reshape((h0, w0, c0), name="reshape")(h)
    for i, f in enumerate(reversed(filters)):
        h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}")(h)
    logits = layers.Conv2DTranspose(channels, 3, padding="same", name="logits")(h)
    return keras.Model(z_in, logits, name=name)


def build_spatial_encoder(input_shape: Sequence[int], latent_dim: int, filters: Sequence[int] = (32, 64),
                          name: str = "encoder", convs_per_stage: int = 1, variational: bool = False) -> keras.Model:
    """:func:`build_encoder`'s convolutions with a *spatial* code: a 1x1 convolution to ``latent_dim`` channels
    on the last feature map, no dense layer (the convolutional autoencoder of notebook 07).

    Args:
        convs_per_stage: convolutions per resolution: the strided one, then ``convs_per_stage - 1`` of stride 1.
        variational: output ``[z_mean, z_log_var]``, each the feature map flattened to a vector (a VAE with a
            spatial latent: one Gaussian per position and channel).
    """
    filters = check_filters(filters)
    input_shape = check_image_shape("input_shape", input_shape, len(filters))
    convs_per_stage = check_int("convs_per_stage", convs_per_stage, 1, 4)
    x_in = keras.Input(shape=input_shape, name="image")
    h = x_in
    for i, f in enumerate(filters):
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(h)
        for k in range(1, convs_per_stage):
            h = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}_{k}")(h)
    latent_dim = check_latent_dim(latent_dim)
    if not variational:
        return keras.Model(x_in, layers.Conv2D(latent_dim, 1, name="z")(h), name=name)
    flat = [layers.Flatten(name=f"{n}_flat")(layers.Conv2D(latent_dim, 1, name=n)(h)) for n in ("z_mean", "z_log_var")]
    return keras.Model(x_in, flat, name=name)


def build_spatial_decoder(output_shape: Sequence[int], latent_dim: int, filters: Sequence[int] = (32, 64),
                          name: str = "decoder", convs_per_stage: int = 1, flat: bool = False) -> keras.Model:
    """:func:`build_decoder`'s transposed convolutions fed the spatial code of :func:`build_spatial_encoder`.

    Args:
        convs_per_stage: ``convs_per_stage - 1`` stride-1 convolutions before each transposed one (the mirror).
        flat: take the code as a flat vector (a spatial-latent VAE's ``z``) and reshape it first.
    """
    filters = check_filters(filters)
    height, width, channels = check_image_shape("output_shape", output_shape, len(filters))
    convs_per_stage = check_int("convs_per_stage", convs_per_stage, 1, 4)
    factor = 2 ** len(filters)
    code_shape = (height // factor, width // factor, check_latent_dim(latent_dim))
    z_in = keras.Input(shape=(int(np.prod(code_shape)),) if flat else code_shape, name="z")
    h = layers.Reshape(code_shape, name="reshape")(z_in) if flat else z_in
    for i, f in enumerate(reversed(filters)):
        for k in range(1, convs_per_stage):
            h = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv_{i}_{k}")(h)
        h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"deconv_{i}")(h)
    logits = layers.Conv2DTranspose(channels, 3, padding="same", name="logits")(h)
    return keras.Model(z_in, logits, name=name)


def start_at_mean_ink(layer, images) -> None:
    """Set the bias of ``layer``, a decoder's last layer of Bernoulli logits, to the logit of the mean pixel of ``images``.

    The first reconstructions are then the mean ink level rather than grey: started at 0 (every pixel
    at 1/2, about 700 nats per 32 x 32 shapes image, where the mean image scores about 125), a shapes
    VAE often sat on the mean image for tens of thousands of images before it encoded anything.
    """
    ink = float(np.clip(np.mean(check_images("images", images)), 1e-3, 1 - 1e-3))
    layer.bias.assign(np.full(tuple(layer.bias.shape), np.log(ink / (1 - ink)), "float32"))


def build_autoencoder(encoder: keras.Model, decoder: keras.Model, name: str = "autoencoder") -> keras.Model:
    """Chain ``encoder`` and ``decoder`` into one model: image -> reconstruction logits."""
    if isinstance(encoder.output, (list, tuple)) or encoder.output_shape[-1] != decoder.input_shape[-1]:
        raise ValueError(
            "`encoder` must output one code whose size matches the decoder input. "
            f"Received: encoder.output_shape={encoder.output_shape}, decoder.input_shape={decoder.input_shape}"
        )
    x_in = keras.Input(shape=encoder.input_shape[1:], name="image")
    return keras.Model(x_in, decoder(encoder(x_in)), name=name)


def run_batched(model: keras.Model, inputs, batch_size: int = 512):
    """Call ``model`` on ``inputs`` in chunks of ``batch_size``; return numpy (a tuple for several outputs).

    ``inputs`` is one array, or a tuple of arrays of equal length for a model with several inputs.
    Direct calls avoid ``predict``'s per-shape retracing, which matters when a notebook calls
    small models many times on arrays of different sizes.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    multi = isinstance(inputs, tuple)
    arrays = [np.asarray(a, dtype="float32") for a in (inputs if multi else (inputs,))]
    if any(a.ndim == 0 or len(a) == 0 or len(a) != len(arrays[0]) for a in arrays):
        raise ValueError(f"`inputs` must hold at least one example (the same number in each input). "
                         f"Received: inputs shapes {[a.shape for a in arrays]}")
    chunks = [model([a[i:i + batch_size] for a in arrays] if multi else arrays[0][i:i + batch_size], training=False)
              for i in range(0, len(arrays[0]), batch_size)]
    if isinstance(chunks[0], (list, tuple)):
        return tuple(np.concatenate([keras.ops.convert_to_numpy(c[k]) for c in chunks]) for k in range(len(chunks[0])))
    return np.concatenate([keras.ops.convert_to_numpy(c) for c in chunks])


def predict_images(model: keras.Model, inputs, batch_size: int = 512) -> np.ndarray:
    """Run ``model`` (which outputs logits) on ``inputs`` and return pixels ``sigmoid(logits)`` in [0, 1]."""
    return special.expit(run_batched(model, inputs, batch_size)).astype("float32")


@keras.saving.register_keras_serializable(package="vae_helpers")
class TrainingNoise(layers.Layer):
    """Corrupt a batch of images in [0, 1] during training only: the input side of a denoising model.

    Each image gets, with equal chance, Gaussian noise of a standard deviation drawn from
    U(0, ``max_sigma``) (clipped back to [0, 1]) or salt-and-pepper noise on a share of pixels drawn
    from U(0, ``max_amount``) (half set to 0, half to 1). One model thus learns every noise level
    (a "blind" denoiser, Vincent et al. 2008 for autoencoders). Outside training it returns its input.
    """

    def __init__(self, max_sigma: float = 0.6, max_amount: float = 0.3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.max_sigma = check_number("max_sigma", max_sigma)
        self.max_amount = check_number("max_amount", max_amount)
        if self.max_amount > 1:
            raise ValueError(f"`max_amount` must be a share of pixels in [0, 1]. Received: max_amount={max_amount!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if not training:
            return x
        ops, rnd, sg = keras.ops, keras.random, self.seed_generator
        per_image = (ops.shape(x)[0], 1, 1, 1)
        sigma = rnd.uniform(per_image, 0.0, self.max_sigma, seed=sg)
        gaussian = ops.clip(x + sigma * rnd.normal(ops.shape(x), seed=sg), 0.0, 1.0)
        amount = rnd.uniform(per_image, 0.0, self.max_amount, seed=sg)
        hit = rnd.uniform(ops.shape(x), seed=sg) < amount
        salt = ops.cast(rnd.uniform(ops.shape(x), seed=sg) < 0.5, x.dtype)
        salt_and_pepper = ops.where(hit, salt, x)
        return ops.where(rnd.uniform(per_image, seed=sg) < 0.5, gaussian, salt_and_pepper)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_sigma": self.max_sigma, "max_amount": self.max_amount, "seed": self.seed}
