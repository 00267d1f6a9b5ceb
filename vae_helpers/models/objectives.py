"""Objectives that ask a VAE for a disentangled code: β-TCVAE's total correlation and capacity annealing.

**Total correlation** (β-TCVAE, Chen et al. 2018). The KL term averaged over the data splits into

    E_x KL(q(z|x) || p(z)) = I_q(x; z) + TC(z) + sum_j KL(q(z_j) || p(z_j))
    TC(z) = KL(q(z) || prod_j q(z_j))

where ``q(z)`` is the aggregate posterior, the mixture of every image's ``q(z|x)``. β-TCVAE
weights only the TC by β, so that the code is pushed towards independent dimensions without
charging the information the code carries about x as a β-VAE does. ``q(z)`` is a sum over the
whole data set, so it is estimated on each minibatch of ``M`` images, with ``z_i ~ q(z|x_i)``, by
the batch's own mixture:

    q(z_i)   ~ (1/M) sum_m q(z_i | x_m)          (every batch image, the i-th included)
    q(z_ij)  ~ (1/M) sum_m q(z_ij | x_mj)        (the same, one dimension j at a time)
    TC       ~ mean_i [ log q(z_i) - sum_j log q(z_ij) ]

This is Chen et al.'s *minibatch weighted sampling* without its constant: they divide by
``N M`` instead of ``M`` (``N`` the data-set size), which gives the same gradients but a value
offset by ``(d - 1) log N``, so it could not be printed as a TC. Their other estimator,
*minibatch stratified sampling*, weights the image's own term by ``1/N`` and the others by about
``1/(M-1)``. In one trial on notebook 08's shapes (N = 100,000 random draws, M = 256, one seed) it
left x and y mixed (MIG 0.10, against 0.41 with these weights), so the course uses this one.

**Capacity annealing** (Burgess et al. 2018, "Understanding disentangling in β-VAE"): replace
``β KL`` by ``γ |KL - C|`` with the target capacity ``C`` raised linearly from 0 to ``C_max``
nats over training, so that the code gains information a little at a time and a large γ
cannot collapse it.

Both work on Keras tensors (inside a ``train_step``) and on numpy arrays.
"""

from __future__ import annotations


import numpy as np

from ..core.checks import check_int, check_number
from ..core.tf_startup import keras
from .densities import gaussian_log_density

__all__ = ["OBJECTIVES", "capacity", "capacity_kl_term", "gaussian_log_density", "total_correlation"]

#: What ``TrainConfig.objective`` may name (the ``mlp_vae`` kind, :mod:`vae_helpers.models.mlp_vae`).
OBJECTIVES = ("elbo", "beta_tcvae", "capacity")

ops = keras.ops


def total_correlation(z, z_mean, z_log_var):
    """The minibatch estimate of TC(z) in nats described above, from one batch.

    Args:
        z: samples ``z_i ~ q(z|x_i)``, shape ``(M, d)`` with ``M >= 2``.
        z_mean, z_log_var: the batch's encoder outputs, shape ``(M, d)``.
    Returns a scalar; independent dimensions give about 0, dependent ones more.
    """
    # log q(z_i[j] | x_k) for every pair (i, k) and dimension j: shape (M, M, d)
    log_q_pairs = gaussian_log_density(ops.expand_dims(z, 1), ops.expand_dims(z_mean, 0), ops.expand_dims(z_log_var, 0))
    log_m = ops.log(ops.cast(ops.shape(z)[0], log_q_pairs.dtype))
    log_q_z = ops.logsumexp(ops.sum(log_q_pairs, axis=2), axis=1) - log_m
    log_prod_q_zj = ops.sum(ops.logsumexp(log_q_pairs, axis=1) - log_m, axis=1)
    return ops.mean(log_q_z - log_prod_q_zj)


def capacity(step, c_max: float, ramp_steps: int):
    """The target KL ``C`` at ``step``: ``c_max * step / ramp_steps``, held at ``c_max`` from ``ramp_steps`` on."""
    c_max = check_number("c_max", c_max)
    ramp_steps = check_int("ramp_steps", ramp_steps, 1)
    if isinstance(step, (int, float, np.integer, np.floating)):   # a tensor (the optimizer's step) is checked by training
        check_number("step", step)
    return c_max * ops.minimum(ops.cast(step, "float32") / ramp_steps, 1.0)


def capacity_kl_term(kl, step, c_max: float, ramp_steps: int, gamma: float):
    """Burgess et al.'s ``gamma * |KL - C(step)|`` in place of ``beta * KL`` (``kl``: the batch's mean KL in nats)."""
    gamma = check_number("gamma", gamma)
    kl = ops.convert_to_tensor(kl)
    return gamma * ops.abs(kl - ops.cast(capacity(step, c_max, ramp_steps), kl.dtype))
