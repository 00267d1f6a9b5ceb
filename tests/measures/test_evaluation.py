import keras
import numpy as np
import pytest
from types import SimpleNamespace

from vae_helpers.measures.evaluation import elbo_per_example, iwae_per_example
from vae_helpers.models.densities import bernoulli_log_likelihood

SHAPE = (4, 4, 1)


def known_answer_vae(mu: float, log_var: float, pixel_logit: float, latent_dim: int = 2):
    """Encoder with constant q(z|x) = N(mu, exp(log_var)); decoder with constant logits.

    Then log p(x|z) = log p(x) does not depend on z, so log p(x), the KL and the ELBO are
    known in closed form, and every importance weight has expectation 1.
    """
    x_in = keras.Input(SHAPE)
    h = keras.layers.Flatten()(x_in)
    const = lambda v: dict(kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(v))
    encoder = keras.Model(x_in, [keras.layers.Dense(latent_dim, **const(mu))(h),
                                 keras.layers.Dense(latent_dim, **const(log_var))(h)])
    z_in = keras.Input((latent_dim,))
    logits = keras.layers.Reshape(SHAPE)(keras.layers.Dense(int(np.prod(SHAPE)), **const(pixel_logit))(z_in))
    return SimpleNamespace(encoder=encoder, decoder=keras.Model(z_in, logits), log_likelihood=bernoulli_log_likelihood)


def exact_log_px(x, pixel_logit):
    p = 1 / (1 + np.exp(-pixel_logit))
    return (x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(len(x), -1).sum(1)


@pytest.fixture
def x():
    return (np.random.default_rng(0).random((10, *SHAPE)) > 0.3).astype("float32")


def test_prior_encoder_gives_the_exact_log_likelihood(x):
    vae = known_answer_vae(mu=0.0, log_var=0.0, pixel_logit=0.8)
    exact = exact_log_px(x, 0.8)
    np.testing.assert_allclose(elbo_per_example(vae, x), exact, rtol=1e-5)
    np.testing.assert_allclose(iwae_per_example(vae, x, k=7), exact, rtol=1e-5)


def test_elbo_is_log_likelihood_minus_the_analytic_kl(x):
    mu, log_var = 0.5, -1.0
    vae = known_answer_vae(mu, log_var, pixel_logit=-0.3)
    kl = 2 * 0.5 * (mu**2 + np.exp(log_var) - 1 - log_var)   # two latent dimensions
    np.testing.assert_allclose(elbo_per_example(vae, x, n_samples=3), exact_log_px(x, -0.3) - kl, rtol=1e-5)


def test_iwae_approaches_the_log_likelihood_from_below():
    # q wider than p keeps the importance weights p(z)/q(z) bounded, so IWAE_k converges fast.
    vae = known_answer_vae(mu=0.5, log_var=0.5, pixel_logit=-0.3)
    x = (np.random.default_rng(1).random((400, *SHAPE)) > 0.3).astype("float32")
    exact = exact_log_px(x, -0.3)
    gap_elbo = (exact - elbo_per_example(vae, x)).mean()
    gap_10 = (exact - iwae_per_example(vae, x, k=10, seed=1)).mean()
    assert gap_elbo == pytest.approx(0.25 + np.exp(0.5) - 1 - 0.5, rel=1e-5)  # the KL, 2 dims x 0.5
    assert 0 < gap_10 < gap_elbo / 2
    iwae_2000 = iwae_per_example(vae, x[:10], k=2000, batch_size=5, seed=1)
    np.testing.assert_allclose(iwae_2000, exact[:10], atol=0.1)  # MC noise ~0.02; the ELBO gap is 0.4


def test_iwae_is_deterministic_with_a_seed(x):
    vae = known_answer_vae(mu=0.3, log_var=-0.5, pixel_logit=0.1)
    np.testing.assert_array_equal(iwae_per_example(vae, x, k=4, seed=3), iwae_per_example(vae, x, k=4, seed=3))


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(k=0), r"`k` must be a positive integer. Received: k=0"),
     (dict(batch_size=-1), r"`batch_size` must be a positive integer")],
)
def test_bad_input(x, kwargs, match):
    vae = known_answer_vae(0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=match):
        iwae_per_example(vae, x, **kwargs)
    with pytest.raises(ValueError, match=r"`x` must be a non-empty batch of images"):
        elbo_per_example(vae, np.zeros((0, *SHAPE)))


def test_entropy_floor_is_zero_on_binary_pixels_and_log2_per_pixel_at_one_half():
    from vae_helpers.measures.evaluation import entropy_floor

    binary = np.random.default_rng(0).integers(0, 2, size=(3, 4, 4, 1)).astype("float32")
    np.testing.assert_allclose(entropy_floor(binary), 0.0, atol=1e-4)
    np.testing.assert_allclose(entropy_floor(np.full((2, 4, 4, 1), 0.5)), 16 * np.log(2), rtol=1e-9)


def test_bernoulli_nll_is_never_below_the_floor_and_equals_it_at_x():
    from vae_helpers.measures.evaluation import bernoulli_nll, entropy_floor

    rng = np.random.default_rng(1)
    x = rng.random((5, 6, 6, 1))
    for p in (rng.random(x.shape), np.clip(x + 0.1, 0, 1), x):
        assert np.all(bernoulli_nll(x, p) >= entropy_floor(x) - 1e-9)
    np.testing.assert_allclose(bernoulli_nll(x, x), entropy_floor(x))
    with pytest.raises(ValueError, match=r"`x` and `probabilities` must be batches of the same shape"):
        bernoulli_nll(x, x[:2])
