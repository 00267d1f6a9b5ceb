import numpy as np
import pytest

from vae_helpers.viz import latent_space as latent
from vae_helpers.models.vae import build_vae


def clusters(n=150, d=6, seed=0):
    """Three Gaussian blobs in ``d`` dimensions, with their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    return (rng.normal(0, 5, (3, d))[labels] + rng.normal(0, 1, (n, d))).astype("float32"), labels


@pytest.fixture(scope="module")
def vae():
    return build_vae((8, 8, 1), latent_dim=3, seed=0)


# -- projections --

def test_pca_2d_shape_and_reproducible_signs():
    z, _ = clusters()
    a = latent.pca_2d(z, seed=0)
    assert a.shape == (150, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, latent.pca_2d(z.copy(), seed=0))
    # The signs are tied to the loadings, not to the SVD: shuffled rows give the same scores,
    # and negated data gives negated scores.
    order = np.random.default_rng(1).permutation(len(z))
    np.testing.assert_allclose(latent.pca_2d(z[order]), a[order], atol=1e-4)
    np.testing.assert_allclose(latent.pca_2d(-z), -a, atol=1e-4)


def test_tsne_2d_is_deterministic_with_a_seed():
    z, labels = clusters()
    a = latent.tsne_2d(z, seed=0, perplexity=10, n_jobs=1)
    assert a.shape == (150, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, latent.tsne_2d(z, seed=0, perplexity=10, n_jobs=1))
    # The blobs stay apart: each point's nearest neighbour in 2-D is of its own class.
    nn = latent.nearest_neighbours(a, a, k=2)[:, 1]
    assert np.mean(labels[nn] == labels) > 0.95


def test_tsne_2d_warm_start_keeps_the_layout():
    z, _ = clusters()
    cold = latent.tsne_2d(z, seed=0, perplexity=10, n_jobs=1)
    warm = latent.tsne_2d(z, seed=0, perplexity=10, initialization=cold, n_iter=50, n_jobs=1)
    assert warm.shape == (150, 2)
    spread = np.linalg.norm(cold - cold.mean(0), axis=1).mean()
    assert np.linalg.norm(warm - cold, axis=1).mean() < 0.2 * spread


def test_procrustes_recovers_a_known_rotation_and_reflection():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for transform in (rotation, rotation @ np.diag([1.0, -1.0])):
        moved = reference @ transform.T + [3.0, -2.0]
        aligned = latent.procrustes_align(moved, reference)
        assert aligned.shape == reference.shape
        np.testing.assert_allclose(aligned, reference, atol=1e-10)


def test_procrustes_does_not_scale():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(40, 3))
    aligned = latent.procrustes_align(2.0 * reference, reference)
    centred = aligned - aligned.mean(0)
    assert np.linalg.norm(centred) == pytest.approx(2.0 * np.linalg.norm(reference - reference.mean(0)))


# -- interpolation --

def test_lerp_and_slerp_shapes_and_exact_endpoints():
    z0, z1 = np.array([1.0, 2.0, 3.0], "float32"), np.array([-1.0, 0.5, 2.0], "float32")
    for interpolate in (latent.lerp, latent.slerp):
        path = interpolate(z0, z1, 7)
        assert path.shape == (7, 3) and path.dtype == np.float32
        np.testing.assert_array_equal(path[0], z0)
        np.testing.assert_array_equal(path[-1], z1)
    np.testing.assert_allclose(latent.lerp(z0, z1, 3)[1], (z0 + z1) / 2)


def test_slerp_stays_on_the_sphere():
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=16), rng.normal(size=16)
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    path = latent.slerp(z0, z1, 11)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(z0), rtol=1e-6)
    # The straight line cuts through the inside of the sphere.
    assert np.linalg.norm(latent.lerp(z0, z1, 11)[5]) < 0.9 * np.linalg.norm(z0)


def test_slerp_falls_back_to_lerp_for_parallel_codes():
    z0 = np.array([1.0, 1.0])
    np.testing.assert_array_equal(latent.slerp(z0, 3 * z0, 5), latent.lerp(z0, 3 * z0, 5))
    np.testing.assert_array_equal(latent.slerp(z0, -z0, 5), latent.lerp(z0, -z0, 5))
    np.testing.assert_array_equal(latent.slerp(np.zeros(2), z0, 4), latent.lerp(np.zeros(2), z0, 4))


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolate_images_ends_at_the_decoded_means(vae, method):
    rng = np.random.default_rng(0)
    x0, x1 = rng.random((2, 8, 8, 1), dtype=np.float32)
    images = latent.interpolate_images(vae, x0, x1, steps=6, method=method)
    assert images.shape == (6, 8, 8, 1)
    z_mean, _ = vae.encode(np.stack([x0, x1]))
    np.testing.assert_allclose(images[[0, -1]], vae.decode(z_mean), atol=1e-6)


# -- class structure --

def test_class_means_match_a_loop():
    z, labels = clusters(n=30, d=4)
    means = latent.class_means(z, labels, 3)
    assert means.shape == (3, 4)
    for k in range(3):
        np.testing.assert_allclose(means[k], z[labels == k].mean(0), rtol=1e-5)


def test_latent_arithmetic_moves_by_the_mean_difference():
    z, labels = clusters(n=30, d=4)
    means = latent.class_means(z, labels, 3)
    codes = latent.latent_arithmetic(z[0], means[0], means[1], [0.0, 0.5, 1.0])
    assert codes.shape == (3, 4)
    np.testing.assert_allclose(codes[0], z[0])
    np.testing.assert_allclose(codes[2] - codes[0], means[1] - means[0], rtol=1e-5)


def test_nearest_neighbours_finds_the_closest_codes_first():
    bank = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [0.0, 2.5]])
    idx = latent.nearest_neighbours(np.array([[0.9, 0.1], [4.0, 4.0]]), bank, k=3)
    assert idx.shape == (2, 3)
    np.testing.assert_array_equal(idx, [[1, 0, 3], [2, 3, 1]])


# -- bad input --

@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: latent.lerp(np.zeros(3), np.zeros(4), 5), r"`z1` must have the same size as `z0`. Received: z0.shape=\(3,\), z1.shape=\(4,\)"),
        (lambda: latent.slerp(np.zeros(3), np.ones(3), 1), r"`steps` must be an integer in \[2, 10000\]. Received: steps=1"),
        (lambda: latent.lerp(np.zeros((2, 3)), np.zeros(3), 5), r"`z0` must be one latent code .*Received: z0.shape=\(2, 3\)"),
        (lambda: latent.pca_2d(np.zeros(5)), r"`z` must have shape \(n, latent_dim\).*Received: z.shape=\(5,\)"),
        (lambda: latent.pca_2d(np.zeros((5, 1))), r"`z` must have at least 2 columns"),
        (lambda: latent.tsne_2d(np.zeros((20, 3)), perplexity=30), r"`perplexity` must be a number in \(0, \(n - 1\) / 3\)"),
        (lambda: latent.tsne_2d(np.ones((20, 3)), perplexity=3, initialization=np.zeros((19, 2))),
         r"`initialization` must have one row per point of `z`, shape \(20, 2\)"),
        (lambda: latent.tsne_2d(np.ones((20, 3)), perplexity=3, initialization=np.zeros((20, 3))),
         r"`initialization` must have shape \(n, 2\)"),
        (lambda: latent.procrustes_align(np.zeros((5, 2)), np.zeros((6, 2))), r"`points` must have the same shape as `reference`"),
        (lambda: latent.class_means(np.zeros((4, 2)), [0, 1, 1], 2), r"`labels` must be integer labels of shape \(4,\)"),
        (lambda: latent.class_means(np.zeros((3, 2)), [0, 1, 5], 2), r"`labels` must lie in \[0, 1\]. Received: labels with values in \[0, 5\]"),
        (lambda: latent.class_means(np.zeros((3, 2)), [0, 0, 2], 3), r"`labels` must contain every class 0..2. Received: no examples of class\(es\) \[1\]"),
        (lambda: latent.latent_arithmetic(np.zeros(3), np.zeros(2), np.zeros(3), [1.0]), r"`class_mean_from` must be one latent code of shape \(3,\)"),
        (lambda: latent.latent_arithmetic(np.zeros(3), np.zeros(3), np.zeros(3), []), r"`alphas` must be a non-empty 1-D sequence"),
        (lambda: latent.nearest_neighbours(np.zeros((2, 3)), np.zeros((5, 2))), r"`z_query` must have shape \(n, 2\).*Received: z_query.shape=\(2, 3\)"),
        (lambda: latent.nearest_neighbours(np.zeros((2, 2)), np.zeros((5, 2)), k=0), r"`k` must be a positive integer. Received: k=0"),
        (lambda: latent.nearest_neighbours(np.zeros((2, 2)), np.zeros((5, 2)), k=6), r"`k` must be at most len\(z_bank\) = 5. Received: k=6"),
        (lambda: latent.pca_2d(np.array([[0.0, np.nan], [1.0, 2.0]])), r"`z` must hold only finite values"),
    ],
)
def test_bad_input_fails_with_a_clear_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_interpolate_images_bad_input(vae):
    x = np.zeros((8, 8, 1), "float32")
    with pytest.raises(ValueError, match=r"`x1` must be one image of shape \(8, 8, 1\). Received: x1.shape=\(1, 8, 8, 1\)"):
        latent.interpolate_images(vae, x, x[None])
    with pytest.raises(ValueError, match=r"`method` must be 'linear' or 'spherical'. Received: method='cubic'"):
        latent.interpolate_images(vae, x, x, method="cubic")
    with pytest.raises(ValueError, match=r"`steps` must be an integer in \[2, 10000\]. Received: steps=1"):
        latent.interpolate_images(vae, x, x, steps=1)
