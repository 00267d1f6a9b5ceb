import keras
import numpy as np
import pytest
from PIL import GifImagePlugin, Image  # noqa: F401  (registers the GIF writer patched below)

from vae_helpers.viz import animation

from vae_helpers.training import callbacks
from vae_helpers.data.datasets import load_dataset
from vae_helpers.viz.latent_space import procrustes_align, tsne_2d
from vae_helpers.models.vae import build_vae

from gif_utils import read_gif


def solid_frames(n=4, size=(20, 30)):
    """``n`` distinct single-colour RGB frames of ``size = (H, W)``."""
    colours = np.random.default_rng(0).integers(0, 256, (n, 3))
    return [np.broadcast_to(c, (*size, 3)).astype("uint8") for c in colours]


def drifting_clusters(n=300, d=8, epochs=3, seed=0):
    """Codes of three clusters that drift a little each epoch, and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    base = rng.normal(0, 5, (3, d))[labels] + rng.normal(0, 1, (n, d))
    drift = rng.normal(0, 0.1, (n, d))
    return [(base + e * drift).astype("float32") for e in range(epochs)], labels


def mean_step(frames):
    """Mean distance a point moves between consecutive frames."""
    return np.mean([np.linalg.norm(b - a, axis=1).mean() for a, b in zip(frames, frames[1:])])


# -- GIF writing --

def test_write_gif_round_trip(tmp_path):
    path = animation.write_gif(tmp_path / "anim.gif", solid_frames(), duration_ms=120)
    assert path == tmp_path / "anim.gif"
    assert read_gif(path) == (4, (30, 20), [120] * 4, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["anim.gif"]  # no temporary file left behind


def test_write_gif_per_frame_durations_and_finite_loop(tmp_path):
    path = animation.write_gif(tmp_path / "sub" / "anim.gif", solid_frames(), duration_ms=[100, 200, 300, 400], loop=2)
    n_frames, _, durations, loop = read_gif(path)
    assert (n_frames, durations, loop) == (4, [100, 200, 300, 400], 2)


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_writer(im, fp, filename):
        fp.write(b"GIF89a partial")
        raise RuntimeError("disk unplugged")

    monkeypatch.setitem(Image.SAVE_ALL, "GIF", broken_writer)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        animation.write_gif(tmp_path / "anim.gif", solid_frames())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_previous_gif(tmp_path, monkeypatch):
    path = animation.write_gif(tmp_path / "anim.gif", solid_frames(3))
    before = path.read_bytes()

    def broken_writer(im, fp, filename):
        fp.write(b"GIF89a partial")
        raise KeyboardInterrupt

    monkeypatch.setitem(Image.SAVE_ALL, "GIF", broken_writer)
    with pytest.raises(KeyboardInterrupt):
        animation.write_gif(path, solid_frames(5))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["anim.gif"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frames": []}, r"`frames` must be a non-empty list of \(H, W, 3\) uint8 arrays"),
        ({"frames": solid_frames(2) + solid_frames(1, size=(21, 30))},
         r"`frames` must all be uint8 RGB arrays of one shape .*Received: frames\[2\].shape=\(21, 30, 3\)"),
        ({"frames": [np.zeros((20, 30, 3), "float32")]}, r"`frames` must all be uint8 .*frames\[0\].dtype=float32"),
        ({"frames": [np.zeros((20, 30), "uint8")]}, r"`frames` must all be uint8 RGB .*frames\[0\].shape=\(20, 30\)"),
        ({"duration_ms": 5}, r"`duration_ms` must be a number >= 10 .*Received: duration_ms=5"),
        ({"duration_ms": [100, 100]}, r"`duration_ms` must be .*one per frame \(4\)"),
        ({"duration_ms": "fast"}, r"`duration_ms` must be a number >= 10 .*Received: duration_ms='fast'"),
        ({"loop": -1}, r"`loop` must be a non-negative integer. Received: loop=-1"),
        ({"name": "anim.png"}, r"`path` must end in .gif"),
    ],
)
def test_write_gif_bad_input(tmp_path, kwargs, match):
    kwargs = {"frames": solid_frames(), **kwargs}
    with pytest.raises(ValueError, match=match):
        animation.write_gif(tmp_path / kwargs.pop("name", "anim.gif"), **kwargs)
    assert list(tmp_path.iterdir()) == []


# -- layouts per epoch --

def test_latent_frames_passes_2d_codes_through():
    zs, _ = drifting_clusters(n=50, d=2)
    frames = animation.latent_frames(zs, progress=False)
    assert len(frames) == 3
    for frame, z in zip(frames, zs):
        np.testing.assert_array_equal(frame, z)


def test_latent_frames_are_aligned_from_epoch_to_epoch():
    zs, _ = drifting_clusters()
    calls = []
    frames = animation.latent_frames(zs, seed=0, progress=lambda i, n: calls.append((i, n)), n_jobs=1)
    assert [f.shape for f in frames] == [(300, 2)] * 3 and calls == [(1, 3), (2, 3), (3, 3)]
    # Each frame is already the best rotation onto the previous one: aligning again changes nothing.
    scale = np.abs(frames[0]).max()
    for previous, frame in zip(frames, frames[1:]):
        np.testing.assert_allclose(procrustes_align(frame, previous), frame, atol=1e-4 * scale)
    # Without warm starts and alignment (a fresh t-SNE per epoch) points jump around.
    from_scratch = [tsne_2d(z, seed=e, n_jobs=1) for e, z in enumerate(zs)]
    assert mean_step(frames) < 0.6 * mean_step(from_scratch)


def test_latent_frames_prints_progress(capsys):
    zs, _ = drifting_clusters(n=60, epochs=2)
    frames = animation.latent_frames(zs, perplexity=10, n_iter=20, n_jobs=1, align=False)
    assert [f.shape for f in frames] == [(60, 2)] * 2
    assert capsys.readouterr().out.endswith("t-SNE frames: 2/2\n")


def test_latent_frames_bad_input():
    with pytest.raises(ValueError, match=r"`z_per_epoch` must be a non-empty list"):
        animation.latent_frames([])
    with pytest.raises(ValueError, match=r"`z_per_epoch` must hold arrays of one shape. .*z_per_epoch\[1\].shape=\(5, 3\)"):
        animation.latent_frames([np.zeros((4, 3)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match=r"`z_per_epoch\[0\]` must have shape \(n, latent_dim\)"):
        animation.latent_frames([np.zeros(4)])


# -- rendering --

def test_render_scatter_frames_fixed_size_and_layout():
    zs, labels = drifting_clusters(n=60, d=2)
    images = animation.render_scatter_frames(zs, labels, ["a", "b", "c"], epochs=[0, 1, 2], size_px=(320, 240))
    assert len(images) == 3
    assert all(im.shape == (240, 320, 3) and im.dtype == np.uint8 for im in images)
    # Same points, different epoch: only the "epoch N" label changes, so axes and legend are fixed.
    same = animation.render_scatter_frames([zs[0], zs[0]], labels, ["a", "b", "c"], epochs=[1, 2], size_px=(320, 240))
    changed = np.any(same[0] != same[1], axis=-1).mean()
    assert 0 < changed < 0.01


def test_render_image_frames_shapes():
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (10, 8, 8, 1)).astype("uint8") for _ in range(3)]
    images = animation.render_image_frames(batches, epochs=[0, 1, 2], n_cols=5)
    assert len(images) == 3 and len({im.shape for im in images}) == 1
    assert images[0].shape[1] == 480 and images[0].shape[2] == 3 and images[0].dtype == np.uint8


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: animation.render_scatter_frames([np.zeros((5, 3))], np.zeros(5, int), ["a"], [0]), r"`frames\[0\]` must have shape \(n, 2\)"),
        (lambda: animation.render_scatter_frames([np.zeros((5, 2))], np.zeros(5, int), ["a"], [0, 1]), r"`epochs` must hold one integer epoch number per frame \(1\)"),
        (lambda: animation.render_scatter_frames([np.zeros((5, 2))], np.zeros(5, int), ["a"], [0], size_px=(0, 10)), r"`size_px` must be \(width, height\)"),
        (lambda: animation.render_scatter_frames([np.zeros((5, 2))], np.zeros(4, int), ["a"], [0]), r"`labels` must be integer labels of shape \(5,\)"),
        (lambda: animation.render_image_frames([np.zeros((4, 8, 8)), np.zeros((5, 8, 8))], [0, 1]), r"`images_per_epoch` must hold batches of one shape"),
        (lambda: animation.render_image_frames([np.zeros((4, 8, 8))], [0], n_cols=0), r"`n_cols` must be a positive integer. Received: n_cols=0"),
    ],
)
def test_render_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- callbacks --

@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=64, n_test=20, seed=0)


def test_callbacks_record_one_snapshot_per_epoch(digits, tmp_path):
    keras.utils.set_random_seed(0)
    vae = build_vae((8, 8, 1), latent_dim=2, seed=0)
    vae.compile(optimizer="adam")
    z_fixed = np.random.default_rng(0).standard_normal((6, 2)).astype("float32")
    samples = callbacks.SampleSnapshots(z_fixed)
    codes = callbacks.LatentSnapshots(digits.x_test, digits.y_test)
    late = callbacks.SampleSnapshots(z_fixed, include_initial=False)
    z_fixed[:] = 0.0  # the callback keeps its own copy
    vae.fit(digits.x_train, epochs=2, batch_size=32, verbose=0, callbacks=[samples, codes, late])

    assert samples.epochs == codes.epochs == [0, 1, 2] and late.epochs == [1, 2]
    assert all(im.shape == (6, 8, 8, 1) and im.dtype == np.uint8 for im in samples.images)
    assert all(z.shape == (20, 2) and z.dtype == np.float32 for z in codes.z)
    np.testing.assert_array_equal(codes.labels, digits.y_test)
    # The same codes are decoded every epoch: the last snapshot is the trained decoder at z_fixed.
    assert not np.all(samples.z_fixed == 0)
    expected = np.round(vae.decode(samples.z_fixed) * 255).astype("uint8")
    assert np.abs(samples.images[-1].astype(int) - expected).max() <= 1
    np.testing.assert_array_equal(late.images[-1], samples.images[-1])
    assert not np.array_equal(codes.z[0], codes.z[-1])  # training moved the codes

    frames = animation.render_image_frames(samples.images, samples.epochs, n_cols=3)
    path = animation.write_gif(tmp_path / "samples.gif", frames, duration_ms=100)
    assert read_gif(path)[0] == 3


def test_callbacks_bad_input(digits):
    vae = build_vae((8, 8, 1), latent_dim=2, seed=0)
    vae.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"`z_fixed` must have shape \(n, 2\) with n >= 1. Received: z_fixed.shape=\(4, 3\)"):
        vae.fit(digits.x_train, epochs=1, verbose=0, callbacks=[callbacks.SampleSnapshots(np.zeros((4, 3)))])
    with pytest.raises(ValueError, match=r"`x_fixed` must be a non-empty batch of images of shape \(n, 8, 8, 1\)"):
        vae.fit(digits.x_train, epochs=1, verbose=0, callbacks=[callbacks.LatentSnapshots(np.zeros((4, 16, 16, 1)))])
    with pytest.raises(ValueError, match=r"`z_fixed` must have shape \(n, latent_dim\)"):
        callbacks.SampleSnapshots(np.zeros(3))
    with pytest.raises(ValueError, match=r"`labels` must be integer labels of shape \(4,\)"):
        callbacks.LatentSnapshots(np.zeros((4, 8, 8, 1)), labels=[0, 1])
    with pytest.raises(ValueError, match=r"`x_fixed` must be a non-empty batch of images"):
        callbacks.LatentSnapshots(np.zeros((8, 8, 1)))


def test_a_gif_of_one_frame_is_written(tmp_path):
    import imageio.v3 as iio

    from vae_helpers.viz.animation import write_gif

    frame = np.full((8, 8, 3), 100, np.uint8)
    assert iio.imread(write_gif(tmp_path / "one.gif", [frame]), index=None).shape == (1, 8, 8, 3)
