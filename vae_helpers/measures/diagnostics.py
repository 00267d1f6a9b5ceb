"""Is the latent space used? Active dimensions, KL per dimension and dead ReLU units.

*Posterior collapse* is a VAE whose approximate posterior q(z|x) equals the prior in some (or
all) latent dimensions: those dimensions carry no information about x and cost nothing in KL.
Three measurements tell it apart from a healthy model:

- **active dimensions** (the criterion of Burda et al. 2016): dimension j is active when the
  variance over the data of its encoder mean, ``Var_x(E_q[z_j])``, exceeds a small threshold
  (``ACTIVE_THRESHOLD`` = 0.01 here);
- **KL per dimension**: ``KL(q(z_j|x) || N(0, 1))`` averaged over the data (:func:`mean_kl_per_dimension`); an inactive
  dimension has a KL near 0;
- **dead units**: ReLU units that are never positive on any input; they pass no signal and no
  gradient, so a narrow layer with many of them can cut the latent off from the image.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_codes, check_images, check_int, check_labels, check_unconditional
from ..models.builders import run_batched
from ..core.tf_startup import keras
from ..models.vae import kl_per_dimension

__all__ = ["ACTIVE_THRESHOLD", "active_dimensions", "dead_units", "latent_report", "linear_probe_accuracy",
           "mean_kl_per_dimension", "prior_cell_counts", "relu_layers"]

ACTIVE_THRESHOLD = 0.01  # the course's threshold for Burda et al.'s activity statistic


def _as_codes(arg: str, z, dim: int | None = None) -> np.ndarray:
    """Finite codes ``(n, d)`` with at least two rows (a variance needs two), as float64."""
    return check_codes(arg, z, dim=dim, min_rows=2).astype("float64")


def active_dimensions(z_mean, threshold: float = ACTIVE_THRESHOLD) -> tuple[int, np.ndarray]:
    """Number of latent dimensions whose encoder mean varies over the data, and each variance.

    Args:
        z_mean: encoder means ``E_q[z]`` of many inputs, shape ``(n, latent_dim)``.
        threshold: a dimension is active when its variance exceeds this.
    """
    variance = _as_codes("z_mean", z_mean).var(axis=0)
    return int((variance > threshold).sum()), variance


def mean_kl_per_dimension(z_mean, z_log_var) -> np.ndarray:
    """``KL(q(z_j|x) || N(0, 1))`` per latent dimension j, averaged over the inputs, in nats (shape ``(d,)``).

    The mean over the data of :func:`vae_helpers.models.vae.kl_per_dimension`, which gives it per example.
    """
    z_mean, z_log_var = _as_codes("z_mean", z_mean), _as_codes("z_log_var", z_log_var)
    if z_mean.shape != z_log_var.shape:
        raise ValueError(f"`z_mean` and `z_log_var` must have the same shape. "
                         f"Received: {z_mean.shape} and {z_log_var.shape}")
    return keras.ops.convert_to_numpy(kl_per_dimension(z_mean, z_log_var)).mean(axis=0)


def prior_cell_counts(z_mean, n_bins: int) -> np.ndarray:
    """Count 2-D codes in an ``n_bins x n_bins`` grid of cells that each hold the same prior mass.

    The cell edges are quantiles of N(0, 1) along each axis, as in the latent manifold; row 0 is
    the largest ``z_2`` (the manifold's top row), column 0 the smallest ``z_1``. If the codes
    followed the prior, every cell would hold ``len(z_mean) / n_bins**2`` of them.
    """
    from scipy.stats import norm

    z = _as_codes("z_mean", z_mean, dim=2)
    n_bins = check_int("n_bins", n_bins, 1, 1000)   # a million cells at most
    cell = np.minimum((norm.cdf(z) * n_bins).astype(int), n_bins - 1)
    counts = np.zeros((n_bins, n_bins), dtype=int)
    np.add.at(counts, (n_bins - 1 - cell[:, 1], cell[:, 0]), 1)
    return counts


def linear_probe_accuracy(z_train, y_train, z_test, y_test) -> float:
    """Test accuracy of a linear classifier (multinomial logistic regression) that predicts ``y`` from the code ``z``.

    How much of a label a code carries in linearly readable form: near chance for a code that
    ignores the label, near 1 for one that holds it. The codes are standardized on the training
    split first, so the regularization treats every dimension alike.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z_train = check_codes("z_train", z_train)
    z_test = check_codes("z_test", z_test, dim=z_train.shape[1])
    y_train = check_labels("y_train", y_train, n=len(z_train))
    y_test = check_labels("y_test", y_test, n=len(z_test))
    if len(np.unique(y_train)) < 2:
        raise ValueError(f"`y_train` must hold at least two classes. Received: classes {np.unique(y_train).tolist()}")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(z_train, y_train)
    return float((probe.predict(z_test) == y_test).mean())


def relu_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` (nested models included) whose activation is ReLU."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(relu_layers(layer))
        elif getattr(layer, "activation", None) is keras.activations.relu:
            found.append(layer)
    return found


def dead_units(model: keras.Model, x, batch_size: int = 512) -> dict[str, tuple[int, int]]:
    """For every ReLU layer of ``model``: ``(dead, total)`` units never positive on any input in ``x``.

    A unit is one output feature: a neuron of a ``Dense`` layer, a channel of a convolution
    (dead when it is zero at every position of every input).
    """
    layers = relu_layers(model)
    if not layers:
        raise ValueError(f"`model` has no ReLU layers. Received: model={model.name!r}")
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    if len(model.inputs) == 1 and len(model.input_shape) == 4:  # an image model: check the images
        x = check_images("x", x, tuple(model.input_shape[1:]))
    probe = keras.Model(inputs, [layer.output for layer in layers])
    outputs = run_batched(probe, x, batch_size)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    counts = {}
    for layer, out in zip(layers, outputs):
        alive = (out.reshape(-1, out.shape[-1]) > 0).any(axis=0)
        counts[layer.name] = (int((~alive).sum()), int(alive.size))
    return counts


def latent_report(vae, x) -> dict:
    """Active dimensions, KL per dimension and the encoder's dead units of ``vae`` on images ``x``."""
    check_unconditional("vae", vae)
    z_mean, z_log_var = vae.encode(x)
    n_active, variance = active_dimensions(z_mean)
    return {"active": n_active, "variance": variance, "kl": mean_kl_per_dimension(z_mean, z_log_var),
            "dead_units": dead_units(vae.encoder, x)}
