"""Every public helper that takes images refuses bad images the same way (issue 35, item 4).

The test walks the public API (each module's ``__all__``, as ``tests/training/test_registry_and_cache.py``
does), finds every function and method with a parameter named like images (:data:`IMAGE_ARGS`), and
requires each one to be in :data:`TABLE`. An entry says how to call the helper with small valid values
for its other arguments; the helper is then fed, in that argument,

- an RGB batch (3 channels) where the helper works on greyscale,
- a batch with one NaN pixel,
- a uint8 batch with levels 0..255,
- a single 2-D image ``(h, w)`` and a batch with an extra axis (5-D for a batch),

and each must raise a ValueError (or a subclass) whose message names the argument and what was received
(the one check, :func:`vae_helpers.core.checks.check_images`); a NaN cast to an integer counts as a failure,
not as a silent 0. Where a helper legitimately takes one of these (a pixel-by-pixel formula takes colour, a
layout function takes any values), the entry says so with the reason, and the test checks that the helper
accepts it. Tensor-level hooks, data records, and the coders of ``applications.compression`` (whose checks
are tested in ``tests/applications/test_compression.py``) are listed with the reason they are not called.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest

import vae_helpers

#: The parameter names the public API uses for images (a new helper must use one of them, or be listed here).
IMAGE_ARGS = frozenset({"x", "x0", "x1", "x_in", "x_fixed", "x_train", "x_test", "image", "images", "images_per_epoch",
                        "clean", "noisy", "estimate", "originals", "reconstructions", "inputs", "x_val"})

#: The bad inputs, made from a valid input of the helper (see :func:`bad_input`).
CASES = ("rgb", "nan", "uint8", "single_2d", "extra_axis")

rng = np.random.default_rng(0)
G = (np.rint(rng.random((4, 8, 8, 1)) * 255) / 255).astype("float32")   # 4 greyscale 8-bit images in [0, 1]
TRAIN_8BIT = (rng.integers(0, 8, (400, 8, 8, 1)) * 32 / 255).astype("float32")   # enough images to train a zstd dictionary


def bad_input(case: str, good: np.ndarray) -> np.ndarray:
    """``good`` (valid images ``(..., h, w, 1)``) turned into the bad input ``case``."""
    if case == "rgb":
        return np.repeat(good, 3, axis=-1)
    if case == "nan":
        bad = good.astype("float32").copy()
        bad.flat[5] = np.nan
        return bad
    if case == "uint8":
        return np.rint(good * 255).astype("uint8")
    if case == "single_2d":
        return good.reshape(-1, *good.shape[-3:])[0, ..., 0]
    if case == "extra_axis":
        return good[None]
    raise AssertionError(case)


def partner(images: np.ndarray) -> np.ndarray:
    """Valid images to pair with ``images`` in a two-image helper: of their shape when that is a batch, else ``G``."""
    images = np.asarray(images)
    return np.full(images.shape, 0.5, "float32") if images.ndim == 4 else G


@dataclass(frozen=True)
class Takes:
    """One image argument of a helper: ``call(models, images)`` with valid values for the other arguments.

    ``accepts`` maps a case the helper legitimately takes to the reason.
    """

    call: Callable
    good: np.ndarray = field(default_factory=lambda: G)
    accepts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NotCalled:
    """An image argument the bad-input calls leave alone, and why."""

    reason: str


ELSEWHERE = NotCalled("covered elsewhere: tests/applications/test_compression.py feeds the coder RGB, NaN, uint8, "
                      "other sizes and a missing batch axis")
TENSOR = NotCalled("a tensor formula or Keras hook run inside the traced training step (numpy or tensors, any shape); "
                   "images are checked where they enter: train_vae's data sets and the numpy helpers (encode, measures)")
RUNNER = NotCalled("runs any model on any inputs (images, codes, or [images, one-hot labels]); the helpers that pass "
                   "images check them first")
RECORD = NotCalled("a frozen record of arrays that does no work on them; its builders make valid images (load_dataset, "
                   "make_shapes, one_class_split)")
ELEMENTWISE = "a pixel-by-pixel formula: colour images are images too"
ANY_SHAPE = "converts every value on its own, whatever the array's shape"
LAYOUT = "a layout: it copies any values as they are (uint8 levels too, for the GIF frames); only the shape matters"
TENSORBOARD = "TensorBoard shows colour images and uint8 levels (documented: floats in [0, 1] or uint8)"
TABLE: dict[tuple[str, str], Takes | NotCalled] = {
    # applications
    ("vae_helpers.applications.anomaly.OneClassSplit.__init__", "x_train"): RECORD,
    ("vae_helpers.applications.anomaly.OneClassSplit.__init__", "x_test"): RECORD,
    ("vae_helpers.applications.anomaly.complexity_corrected", "x"):
        Takes(lambda m, x: m.anomaly.complexity_corrected(np.zeros(len(x)), x)),
    ("vae_helpers.applications.anomaly.one_class_scores", "x"):
        Takes(lambda m, x: m.anomaly.one_class_scores(m.ae, m.vae, x, k=2)),
    ("vae_helpers.applications.anomaly.squared_error", "x"): Takes(lambda m, x: m.anomaly.squared_error(m.ae, x)),
    ("vae_helpers.applications.compression.code_lengths", "image"): ELSEWHERE,
    ("vae_helpers.applications.compression.compress", "images"): ELSEWHERE,
    ("vae_helpers.applications.compression.coding_account", "images"): ELSEWHERE,
    ("vae_helpers.applications.exact_networks.ExactLinear.call", "x"):
        NotCalled("a Keras layer's call inside exact_network (features, or images in a first layer): the coder checks "
                  "images before they reach it (tests/applications/test_compression.py)"),
    ("vae_helpers.applications.ood.embed_digits", "x"): Takes(lambda m, x: m.ood.embed_digits(x, size=6, canvas=8)),
    ("vae_helpers.applications.ood.ood_sets", "x_in"): Takes(lambda m, x: m.ood.ood_sets(x), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.applications.ood.to_8bit", "x"): Takes(lambda m, x: m.ood.to_8bit(x), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.applications.recipes.corrupt", "x"):
        Takes(lambda m, x: m.recipes.corrupt(x, "Gaussian 0.1", 0), accepts={"rgb": ELEMENTWISE}),
    # core
    ("vae_helpers.core.checks.check_images", "x"): Takes(lambda m, x: m.checks.check_images("x", x, greyscale=True)),
    ("vae_helpers.core.checks.check_pixels", "x"):
        Takes(lambda m, x: m.checks.check_pixels("x", x),
              accepts={"rgb": "the values of any images", "single_2d": ANY_SHAPE, "extra_axis": ANY_SHAPE}),
    # data
    ("vae_helpers.data.datasets.Dataset.__init__", "x_train"): RECORD,
    ("vae_helpers.data.datasets.Dataset.__init__", "x_test"): RECORD,
    ("vae_helpers.data.datasets.pixel_levels", "x"):
        Takes(lambda m, x: m.datasets.pixel_levels(x),
              accepts={"rgb": ELEMENTWISE, "single_2d": ANY_SHAPE, "extra_axis": ANY_SHAPE}),
    ("vae_helpers.data.datasets.binarize", "x"):
        Takes(lambda m, x: m.datasets.binarize(x),
              accepts={"rgb": ELEMENTWISE, "single_2d": ANY_SHAPE + " (load_dataset passes (n, h, w))",
                       "extra_axis": ANY_SHAPE}),
    ("vae_helpers.data.shapes.ShapesDataset.__init__", "images"): RECORD,
    ("vae_helpers.data.shapes.draw_shapes", "x"): NotCalled("not images: `x` is the horizontal position of each shape"),
    # measures
    ("vae_helpers.measures.classifier.Classifier.predict_proba", "x"): Takes(lambda m, x: m.classifier.predict_proba(x)),
    ("vae_helpers.measures.baselines.PixelHistogram.fit", "images"):
        Takes(lambda m, x: m.baselines.PixelHistogram.fit(x), accepts={"rgb": "a histogram per pixel value: colour too"}),
    ("vae_helpers.measures.baselines.PixelHistogram.nll_bits", "images"):
        Takes(lambda m, x: m.baselines.PixelHistogram.fit(G).nll_bits(x)),
    ("vae_helpers.measures.baselines.PCACodec.fit", "images"):
        Takes(lambda m, x: m.baselines.PCACodec.fit(x, 1), accepts={"rgb": "PCA of any pixels: colour images too"}),
    ("vae_helpers.measures.baselines.PCACodec.encode", "images"): Takes(lambda m, x: m.pca.encode(x)),
    ("vae_helpers.measures.baselines.PCACodec.reconstruct", "images"): Takes(lambda m, x: m.pca.reconstruct(x)),
    ("vae_helpers.measures.baselines.group_mean_nll", "images"):
        Takes(lambda m, x: m.baselines.group_mean_nll(x, np.arange(len(x)) % 2), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.baselines.mean_image", "images"):
        Takes(lambda m, x: m.baselines.mean_image(x), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.baselines.LinearDenoiser.fit", "noisy"):
        Takes(lambda m, x: m.baselines.LinearDenoiser.fit(x, partner(x)), accepts={"rgb": "a linear map of every pixel and channel"}),
    ("vae_helpers.measures.baselines.LinearDenoiser.fit", "clean"):
        Takes(lambda m, x: m.baselines.LinearDenoiser.fit(partner(x), x), accepts={"rgb": "a linear map of every pixel and channel"}),
    ("vae_helpers.measures.baselines.nearest_distance", "images"):
        Takes(lambda m, x: m.baselines.nearest_distance(partner(x), x), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.baselines.nearest_index", "images"):
        Takes(lambda m, x: m.baselines.nearest_index(partner(x), x), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.baselines.squared_distance", "images"):
        Takes(lambda m, x: m.baselines.squared_distance(x, partner(x)[0]), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.diagnostics.dead_units", "x"): Takes(lambda m, x: m.diagnostics.dead_units(m.vae.encoder, x)),
    ("vae_helpers.measures.diagnostics.latent_report", "x"): Takes(lambda m, x: m.diagnostics.latent_report(m.vae, x)),
    ("vae_helpers.measures.disentanglement.score_model", "images"):
        Takes(lambda m, x: m.disentanglement.score_model(m.vae, x, np.arange(len(x))[:, None] % 2, n_scored=4)),
    ("vae_helpers.measures.lossless.choose_context_model", "x_train"):
        Takes(lambda m, x: m.lossless.choose_context_model(x, G, binary=False)),
    ("vae_helpers.measures.lossless.choose_context_model", "x_val"):
        Takes(lambda m, x: m.lossless.choose_context_model(G, x, binary=False)),
    ("vae_helpers.measures.lossless.codec_sizes", "x_test"):
        Takes(lambda m, x: m.lossless.codec_sizes(x, per_image=(), mosaic=())),
    ("vae_helpers.measures.lossless.codec_sizes", "x_train"):
        Takes(lambda m, x: m.lossless.codec_sizes(G, x, per_image=(), mosaic=()), good=TRAIN_8BIT),
    ("vae_helpers.measures.lossless.context_code_bits", "images"):
        Takes(lambda m, x: m.lossless.context_code_bits(m.lossless.fit_context_model(G, False, position=True), x, False)),
    ("vae_helpers.measures.lossless.context_compress", "images"):
        Takes(lambda m, x: m.lossless.context_compress(m.lossless.fit_context_model(G, False, position=True), x, False)),
    ("vae_helpers.measures.lossless.fit_context_model", "x_train"):
        Takes(lambda m, x: m.lossless.fit_context_model(x, False, position=True)),
    ("vae_helpers.measures.lossless.latent_free_sizes", "x_test"):
        Takes(lambda m, x: m.lossless.latent_free_sizes(x, [m.lossless.fit_context_model(G, False, position=True)], False)),
    ("vae_helpers.measures.lossless.pixel_symbols", "images"): Takes(lambda m, x: m.lossless.pixel_symbols(x, False)),
    ("vae_helpers.measures.evaluation.bernoulli_nll", "x"):
        Takes(lambda m, x: m.evaluation.bernoulli_nll(x, partner(x)), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.evaluation.elbo_and_iwae_per_example", "x"):
        Takes(lambda m, x: m.evaluation.elbo_and_iwae_per_example(m.vae, x, k=2)),
    ("vae_helpers.measures.evaluation.elbo_per_example", "x"): Takes(lambda m, x: m.evaluation.elbo_per_example(m.vae, x)),
    ("vae_helpers.measures.evaluation.entropy_floor", "x"):
        Takes(lambda m, x: m.evaluation.entropy_floor(x), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.evaluation.iwae_per_example", "x"): Takes(lambda m, x: m.evaluation.iwae_per_example(m.vae, x, k=2)),
    ("vae_helpers.measures.evaluation.kl_per_example", "x"): Takes(lambda m, x: m.evaluation.kl_per_example(m.vae, x)),
    ("vae_helpers.measures.image_quality.adaptive_median_denoise", "x"):
        Takes(lambda m, x: m.iq.adaptive_median_denoise(x, 5)),
    ("vae_helpers.measures.image_quality.best_filter", "noisy"):
        Takes(lambda m, x: m.iq.best_filter(x, G, "median", [1, 3])),
    ("vae_helpers.measures.image_quality.best_filter", "clean"):
        Takes(lambda m, x: m.iq.best_filter(G, x, "median", [1, 3])),
    ("vae_helpers.measures.image_quality.bm3d_denoise", "x"): Takes(lambda m, x: m.iq.bm3d_denoise(x, 0.1)),
    ("vae_helpers.measures.image_quality.codec_roundtrip", "x"):
        Takes(lambda m, x: m.iq.codec_roundtrip(x, 50, "JPEG", tile=2)),
    ("vae_helpers.measures.image_quality.denoise", "x"): Takes(lambda m, x: m.iq.denoise(x, "gaussian", 1.0)),
    ("vae_helpers.measures.image_quality.gaussian_denoise", "x"): Takes(lambda m, x: m.iq.gaussian_denoise(x, 1.0)),
    ("vae_helpers.measures.image_quality.gaussian_noise", "x"):
        Takes(lambda m, x: m.iq.gaussian_noise(x, 0.1), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.image_quality.jpeg_curve", "x"): Takes(lambda m, x: m.iq.jpeg_curve(x, [50])),
    ("vae_helpers.measures.image_quality.jpeg_roundtrip", "x"): Takes(lambda m, x: m.iq.jpeg_roundtrip(x, 50)),
    ("vae_helpers.measures.image_quality.median_denoise", "x"): Takes(lambda m, x: m.iq.median_denoise(x, 3)),
    ("vae_helpers.measures.image_quality.nl_means_denoise", "x"): Takes(lambda m, x: m.iq.nl_means_denoise(x, 0.1)),
    ("vae_helpers.measures.image_quality.png_bits", "x"): Takes(lambda m, x: m.iq.png_bits(x)),
    ("vae_helpers.measures.image_quality.psnr", "clean"):
        Takes(lambda m, x: m.iq.psnr(x, partner(x)), accepts={"rgb": "the mean squared error over every pixel and channel"}),
    ("vae_helpers.measures.image_quality.psnr", "estimate"):
        Takes(lambda m, x: m.iq.psnr(partner(x), x), accepts={"rgb": "the mean squared error over every pixel and channel"}),
    ("vae_helpers.measures.image_quality.salt_and_pepper", "x"):
        Takes(lambda m, x: m.iq.salt_and_pepper(x, 0.1), accepts={"rgb": ELEMENTWISE}),
    ("vae_helpers.measures.image_quality.ssim", "clean"): Takes(lambda m, x: m.iq.ssim(x, G)),
    ("vae_helpers.measures.image_quality.ssim", "estimate"): Takes(lambda m, x: m.iq.ssim(G, x)),
    ("vae_helpers.measures.image_quality.TunedDenoiser.correct", "estimate"):
        Takes(lambda m, x: m.iq.tune_denoiser(G, G, "median", [1]).correct(x)),
    ("vae_helpers.measures.image_quality.tune_denoiser", "noisy"):
        Takes(lambda m, x: m.iq.tune_denoiser(x, G, "median", [1, 3])),
    ("vae_helpers.measures.image_quality.tune_denoiser", "clean"):
        Takes(lambda m, x: m.iq.tune_denoiser(G, x, "median", [1, 3])),
    ("vae_helpers.measures.image_quality.tv_denoise", "x"): Takes(lambda m, x: m.iq.tv_denoise(x, 0.1)),
    ("vae_helpers.measures.image_quality.wavelet_denoise", "x"): Takes(lambda m, x: m.iq.wavelet_denoise(x, 1.0)),
    ("vae_helpers.measures.image_quality.webp_roundtrip", "x"): Takes(lambda m, x: m.iq.webp_roundtrip(x, 50)),
    # models
    ("vae_helpers.models.autoencoder.Autoencoder.call", "x"): TENSOR,
    ("vae_helpers.models.autoencoder.Autoencoder.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.autoencoder.Autoencoder.encode", "x"): Takes(lambda m, x: m.ae.encode(x)),
    ("vae_helpers.models.autoencoder.Autoencoder.reconstruct", "x"): Takes(lambda m, x: m.ae.reconstruct(x)),
    ("vae_helpers.models.base.CourseModel.check_images", "x"): Takes(lambda m, x: m.vae.check_images(x)),
    ("vae_helpers.models.base.CourseModel.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.base.CourseModel.encoder_input", "x"): TENSOR,
    ("vae_helpers.models.base.CourseModel.log_likelihood", "x"): TENSOR,
    ("vae_helpers.models.builders.TrainingNoise.call", "x"): TENSOR,
    ("vae_helpers.models.builders.start_at_mean_ink", "images"):
        Takes(lambda m, x: m.builders.start_at_mean_ink(m.vae.decoder.get_layer("logits"), x),
              accepts={"rgb": "only the mean pixel of the images is read"}),
    ("vae_helpers.models.builders.predict_images", "inputs"): RUNNER,
    ("vae_helpers.models.builders.run_batched", "inputs"): RUNNER,
    ("vae_helpers.models.conditional.ConditionalVAE.call", "inputs"): TENSOR,
    ("vae_helpers.models.conditional.ConditionalVAE.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.conditional.ConditionalVAE.encode", "x"):
        Takes(lambda m, x: m.cvae.encode(x, np.zeros(len(x), "int64"))),
    ("vae_helpers.models.conditional.ConditionalVAE.reconstruct", "x"):
        Takes(lambda m, x: m.cvae.reconstruct(x, np.zeros(len(x), "int64"))),
    ("vae_helpers.models.densities.bernoulli_log_likelihood", "x"): TENSOR,
    ("vae_helpers.models.densities.discretized_logistic_log_likelihood", "x"): TENSOR,
    ("vae_helpers.models.densities.gaussian_pixel_log_likelihood", "x"): TENSOR,
    ("vae_helpers.models.gaussian.GaussianVAE.log_likelihood", "x"): TENSOR,
    ("vae_helpers.models.discrete.DiscreteVAE.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.discrete.DiscreteVAE.log_likelihood", "x"): TENSOR,
    ("vae_helpers.models.discrete.to_levels", "x"):
        Takes(lambda m, x: m.discrete.to_levels(x),
              accepts={"rgb": ELEMENTWISE, "single_2d": ANY_SHAPE + " (1-D levels too)", "extra_axis": ANY_SHAPE}),
    ("vae_helpers.models.iwae.IWAEVAE.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.iwae.mean_log_odds", "x"):
        Takes(lambda m, x: m.iwae.mean_log_odds(x), accepts={"rgb": "the mean of each pixel and channel, for a model of "
                                                                    "colour images as well"}),
    ("vae_helpers.models.mlp_vae.DisentanglingVAE.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.vae.Sampling.call", "inputs"): NotCalled("not images: `inputs` is [z_mean, z_log_var]"),
    ("vae_helpers.models.vae.VAE.call", "x"): TENSOR,
    ("vae_helpers.models.vae.VAE.compute_losses", "x"): TENSOR,
    ("vae_helpers.models.vae.VAE.encode", "x"): Takes(lambda m, x: m.vae.encode(x)),
    ("vae_helpers.models.vae.VAE.reconstruct", "x"): Takes(lambda m, x: m.vae.reconstruct(x)),
    ("vae_helpers.models.vae.vae_losses", "x"): TENSOR,
    # training
    ("vae_helpers.training.callbacks.LatentSnapshots.__init__", "x_fixed"):
        Takes(lambda m, x: m.callbacks.LatentSnapshots(x),
              accepts={"rgb": "the model is not known yet: check_model checks the images against its input shape "
                              "when training begins"}),
    ("vae_helpers.training.tensorboard.RunWriter.images", "images"):
        Takes(lambda m, x: m.run_writer.images(0, x), accepts={"rgb": TENSORBOARD, "uint8": TENSORBOARD}),
    ("vae_helpers.training.tensorboard.tile", "images"):
        Takes(lambda m, x: m.tensorboard.tile(x), accepts={"rgb": LAYOUT, "nan": LAYOUT, "uint8": LAYOUT}),
    ("vae_helpers.training.tensorboard.write_history", "images"):
        Takes(lambda m, x: m.tensorboard.write_history(m.tmp / "history", {"loss": [1.0]}, images=x),
              good=np.stack([G, G]), accepts={"rgb": TENSORBOARD, "uint8": TENSORBOARD}),
    # viz
    ("vae_helpers.viz.animation.render_image_frames", "images_per_epoch"):
        Takes(lambda m, x: m.animation.render_image_frames(list(x), epochs=[0, 1][:len(x)], size_px=(64, 64)),
              good=np.stack([G, G]),
              accepts={"uint8": "documented: SampleSnapshots stores the decoded samples as uint8 levels"}),
    ("vae_helpers.viz.latent_space.interpolate_images", "x0"):
        Takes(lambda m, x: m.latent_space.interpolate_images(m.vae, x, G[1], steps=3), good=G[0]),
    ("vae_helpers.viz.latent_space.interpolate_images", "x1"):
        Takes(lambda m, x: m.latent_space.interpolate_images(m.vae, G[0], x, steps=3), good=G[1]),
    ("vae_helpers.viz.plotting.as_images", "images"): Takes(lambda m, x: m.plotting.as_images(x)),
    ("vae_helpers.viz.plotting.plot_decoded_grid", "images"):
        Takes(lambda m, x: m.plotting.plot_decoded_grid(x, np.arange(2.0), np.arange(2.0))),
    ("vae_helpers.viz.plotting.plot_image_table", "images"):
        Takes(lambda m, x: m.plotting.plot_image_table(x, ["a", "b"], ["c", "d"])),
    ("vae_helpers.viz.plotting.plot_images", "images"): Takes(lambda m, x: m.plotting.plot_images(x, n_cols=2)),
    ("vae_helpers.viz.plotting.plot_reconstructions", "originals"):
        Takes(lambda m, x: m.plotting.plot_reconstructions(x, G, n=2)),
    ("vae_helpers.viz.plotting.plot_reconstructions", "reconstructions"):
        Takes(lambda m, x: m.plotting.plot_reconstructions(G, x, n=2)),
    ("vae_helpers.viz.plotting.tile_images", "images"):
        Takes(lambda m, x: m.plotting.tile_images(x, 2, 2), accepts={"rgb": LAYOUT, "nan": LAYOUT, "uint8": LAYOUT}),
}


def image_arguments() -> set[tuple[str, str]]:
    """``(qualified name, argument)`` of every image argument of a public function or method of ``vae_helpers``."""
    found = set()
    for info in pkgutil.walk_packages(vae_helpers.__path__, "vae_helpers."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if getattr(obj, "__module__", None) != module.__name__:
                continue   # a re-export: listed under the module that defines it
            functions = {name: obj} if inspect.isfunction(obj) else {}
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    member = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                    if inspect.isfunction(member) and (not attr.startswith("_") or attr == "__init__"):
                        functions[f"{name}.{attr}"] = member
            for qualname, function in functions.items():
                for arg in inspect.signature(function).parameters:
                    if arg in IMAGE_ARGS:
                        found.add((f"{module.__name__}.{qualname}", arg))
    return found


def test_every_image_taking_public_helper_is_in_the_table():
    found = image_arguments()
    missing, stale = sorted(found - set(TABLE)), sorted(set(TABLE) - found)
    assert not missing, f"public helpers that take images but are not in TABLE (add them with their bad-input calls): {missing}"
    assert not stale, f"TABLE entries that are no longer public image arguments: {stale}"
    for key, entry in TABLE.items():
        assert isinstance(entry, Takes) or entry.reason, key
        if isinstance(entry, Takes):
            assert set(entry.accepts) <= set(CASES) and all(entry.accepts.values()), key


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    """Small untrained models and the modules the table calls, built once."""
    from vae_helpers.applications import anomaly, ood, recipes
    from vae_helpers.core import checks
    from vae_helpers.data import datasets
    from vae_helpers.measures import baselines, diagnostics, disentanglement, evaluation, lossless
    from vae_helpers.models import builders
    from vae_helpers.measures import image_quality as iq
    from vae_helpers.measures.classifier import Classifier, ClassifierConfig, build_classifier
    from vae_helpers.models import discrete, iwae
    from vae_helpers.models.autoencoder import build_autoencoder_model
    from vae_helpers.models.conditional import build_conditional_vae
    from vae_helpers.models.vae import build_vae
    from vae_helpers.training import callbacks, tensorboard
    from vae_helpers.viz import animation, latent_space, plotting

    tmp = tmp_path_factory.mktemp("image_inputs")
    return SimpleNamespace(
        anomaly=anomaly, checks=checks, ood=ood, recipes=recipes, datasets=datasets, diagnostics=diagnostics,
        evaluation=evaluation, iq=iq, discrete=discrete, iwae=iwae, callbacks=callbacks, tensorboard=tensorboard,
        animation=animation, latent_space=latent_space, plotting=plotting, tmp=tmp, baselines=baselines,
        disentanglement=disentanglement, builders=builders, lossless=lossless,
        pca=baselines.PCACodec.fit(G, 2),
        vae=build_vae((8, 8, 1), 2, (8,), 16, seed=0),
        ae=build_autoencoder_model((8, 8, 1), 2, (8,), 16, seed=0),
        cvae=build_conditional_vae((8, 8, 1), n_classes=10, latent_dim=2, filters=(8,), dense_units=16, seed=0),
        classifier=Classifier(build_classifier((8, 8, 1), 10), {}, 0.0, ClassifierConfig(dataset="digits"), False),
        run_writer=tensorboard.RunWriter(tmp / "run"),
    )


def _short(key: tuple[str, str]) -> str:
    return f"{key[0].removeprefix('vae_helpers.')}({key[1]})"


def _calls():
    for key, entry in TABLE.items():
        if not isinstance(entry, Takes):
            continue
        yield pytest.param(key, "valid", id=f"{_short(key)}-valid")
        for case in CASES:
            yield pytest.param(key, case, id=f"{_short(key)}-{case}")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("key, case", list(_calls()))
def test_each_image_argument_refuses_bad_images_by_name(m, key, case):
    entry, arg = TABLE[key], key[1]
    if case == "valid":
        entry.call(m, entry.good)   # the table's call is right: the valid input goes through
        return
    bad = bad_input(case, entry.good)
    if case in entry.accepts:
        entry.call(m, bad)
        return
    with pytest.raises(ValueError) as caught:
        with np.errstate(invalid="raise"):   # a NaN cast to an integer is an error, not a silent 0
            entry.call(m, bad)
    message = str(caught.value)
    assert re.search(rf"`{re.escape(arg)}(\[\d+\])?`", message), f"the message does not name `{arg}`: {message}"
    assert "Received" in message, message
