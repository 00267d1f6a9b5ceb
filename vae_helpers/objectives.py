"""Objectives that ask a VAE for a disentangled code: β-TCVAE's total correlation and capacity annealing.

**Total correlation** (β-TCVAE, Chen et al. 2018). The KL term averaged over the data splits into

    E_x KL(q(z|x) || p(z)) = I_q(x; z) + TC(z) + sum_j KL(q(z_j) || p(z_j))
    TC(z) = KL(q(z) || prod_j q(z_j))

where ``q(z)`` is the aggregate posterior, the mixture of every image's ``q(z|x)``. β-TCVAE
weights only the TC by β, so that the code is pushed towards independent dimensions without
charging the information the code carries about x as a β-VAE does. ``q(z)`` is a sum over the whole data set, so it is estimated on each minibatch. With ``z_i ~ q(z|x_i)``
and a batch of ``M`` images out of ``N``, the image's own term counts once and each of the
``M - 1`` other batch images stands for ``(N - 1) / (M - 1)`` images of the data set (the idea
of Chen et al.'s *minibatch stratified sampling*, in its simplest form):

    q(z_i)   ~ (1/N) q(z_i | x_i) + (N-1) / (N (M-1)) * sum_{m != i} q(z_i | x_m)
    q(z_ij)  ~ the same with one dimension j
    TC       ~ mean_i [ log q(z_i) - sum_j log q(z_ij) ]

The weights sum to 1, so for ``M = N`` this is the exact TC of the samples. (Chen et al.'s
*minibatch weighted sampling* divides every term by ``N M`` instead: the same gradients, but a
value offset by ``(d - 1) log N``, so it cannot be printed as a TC.)

**Capacity annealing** (Burgess et al. 2018, "Understanding disentangling in β-VAE"): replace
``β KL`` by ``γ |KL - C|`` with the target capacity ``C`` raised linearly from 0 to ``C_max``
nats over training, so that the code gains information a little at a time and a large γ
cannot collapse it.

Both work on Keras tensors (inside a ``train_step``) and on numpy arrays.
"""

from __future__ import annotations

import math

from .checks import check_int, check_number
from .tf_startup import keras

__all__ = ["capacity", "capacity_kl_term", "gaussian_log_density", "total_correlation"]

ops = keras.ops
LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_density(z, mean, log_var):
    """log N(z; mean, exp(log_var)), elementwise (broadcasting)."""
    return -0.5 * (LOG_2PI + log_var + ops.square(z - mean) * ops.exp(-log_var))


def total_correlation(z, z_mean, z_log_var, dataset_size: int):
    """The minibatch estimate of TC(z) in nats described above, from one batch.

    Args:
        z: samples ``z_i ~ q(z|x_i)``, shape ``(M, d)`` with ``M >= 2``.
        z_mean, z_log_var: the batch's encoder outputs, shape ``(M, d)``.
        dataset_size: ``N >= M``, the number of training images the batch was drawn from.
    Returns a scalar; independent dimensions give about 0, dependent ones more.
    """
    n = check_int("dataset_size", dataset_size, 2)
    m = ops.shape(z)[0]
    # log q(z_i[j] | x_k) for every pair (i, k) and dimension j: shape (M, M, d)
    log_q_pairs = gaussian_log_density(ops.expand_dims(z, 1), ops.expand_dims(z_mean, 0), ops.expand_dims(z_log_var, 0))
    m_float = ops.cast(m, log_q_pairs.dtype)
    own = ops.cast(ops.eye(m), log_q_pairs.dtype)
    log_w = own * -math.log(n) + (1.0 - own) * (math.log(n - 1) - math.log(n) - ops.log(m_float - 1.0))  # (M, M)
    log_q_z = ops.logsumexp(ops.sum(log_q_pairs, axis=2) + log_w, axis=1)
    log_prod_q_zj = ops.sum(ops.logsumexp(log_q_pairs + ops.expand_dims(log_w, -1), axis=1), axis=1)
    return ops.mean(log_q_z - log_prod_q_zj)


def capacity(step, c_max: float, ramp_steps: int):
    """The target KL ``C`` at ``step``: ``c_max * step / ramp_steps``, held at ``c_max`` from ``ramp_steps`` on."""
    c_max = check_number("c_max", c_max)
    ramp_steps = check_int("ramp_steps", ramp_steps, 1)
    return c_max * ops.minimum(ops.cast(step, "float32") / ramp_steps, 1.0)


def capacity_kl_term(kl, step, c_max: float, ramp_steps: int, gamma: float):
    """Burgess et al.'s ``gamma * |KL - C(step)|`` in place of ``beta * KL`` (``kl``: the batch's mean KL in nats)."""
    gamma = check_number("gamma", gamma)
    kl = ops.convert_to_tensor(kl)
    return gamma * ops.abs(kl - ops.cast(capacity(step, c_max, ramp_steps), kl.dtype))
