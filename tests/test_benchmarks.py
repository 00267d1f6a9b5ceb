"""The smoke variants of the benchmarks: they run end to end and print their tables (no timing assertions)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae_helpers.applications.recipes import RD_VAE_BETAS

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_vae_vs_keras_example_smoke_prints_its_table():
    out = run("vae_vs_keras_example.py", "--smoke")
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"^\| (keras_example|course) \| (\d+) \| ([\d.]+) \| (\d+) \| (\d+) \| ([\d.]+) \|$", out, re.M)}
    assert set(rows) == {"keras_example", "course"}
    assert int(rows["keras_example"][0]) == 1                    # one epoch in smoke mode
    for epochs, s_epoch, images_s, rss, neg_elbo in rows.values():
        assert float(s_epoch) > 0 and int(images_s) > 0 and int(rss) > 100
        assert 0 < float(neg_elbo) < 784 * 0.7 * 2               # far below nonsense, in nats per image
    assert "final test -ELBO" in out


def test_cpu_levers_smoke_prints_one_row_per_setting():
    out = run("cpu_levers.py", "--smoke")
    rows = re.findall(r"^\s+(True|False)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [(jit, spe) for jit, spe, *_ in rows] == [("False", "1"), ("True", "8")]


def test_cpu_levers_readme_model_smoke_times_each_batch_setting_in_every_round():
    out = run("cpu_levers.py", "--smoke", "--readme-model", "2")
    progress = re.findall(r"^round ([12]): (batch [^:]+): \d+ us/image wall, \d+ CPU$", out, re.M)
    assert sorted(progress) == sorted((r, name) for r in "12" for name in ("batch 128", "batch 64",
                                                                           "batch 64, 32 steps per execution"))
    rows = re.findall(r"^\| (batch [^|]+?) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) \|$", out, re.M)
    assert [r[0] for r in rows] == ["batch 128", "batch 64", "batch 64, 32 steps per execution"]
    for _, rounds, wall, fastest, cpu, ratio in rows:
        assert int(rounds) == 2 and 0 < int(fastest) <= int(wall) and int(cpu) > 0
    assert rows[0][5] == "1.000"


def test_plots_pipeline_smoke_prints_the_split():
    out = run("plots_pipeline.py", "--smoke")
    steps = dict(re.findall(r"^\| ([^|]+?) \| (-?[\d.]+) \| -?\d+% \|$", out, re.M))
    for step in ("training", "snapshots", "t-SNE frames", "GIF rendering and encoding"):
        assert float(steps[step]) > 0, (step, steps)   # each step ran and took time (a fresh cache: training too)
    assert re.search(r"peak memory \(max RSS of the regeneration process\): \d+ MB", out)
    assert re.search(r"from scratch [\d.]+ s, warm-started [\d.]+ s", out)
    assert "wrote tsne_animation-3.gif" in out and "wrote animation-3.gif" in out


def test_latent_usage_smoke_prints_one_row_per_model():
    out = run("latent_usage.py", "--smoke")
    rows = re.findall(r"^\| (2|16) \| (keras_example|course) \| ([\d.]+) \| (-?[\d.]+) \| ([\d.]+) \| ([\d.]+) "
                      r"\| (\d+)/(\d+) \| ([\d/, ]+) \| ([\d.]+|nan) \|$", out, re.M)
    assert [(d, arch) for d, arch, *_ in rows] == [("2", "keras_example"), ("2", "course"),
                                                  ("16", "keras_example"), ("16", "course")]
    for d, arch, neg_elbo, above, neg_iwae, kl, active, dims, dead, s_epoch in rows:
        assert 0 < float(neg_elbo) < 784 and int(active) <= int(dims) == int(d)
        assert float(neg_iwae) <= float(neg_elbo) + 5        # IWAE is the tighter bound (up to sampling noise)
        assert len(dead.split(", ")) == 3                      # conv_0, conv_1, dense


def test_cli_startup_prints_one_row_per_command():
    out = run("cli_startup.py", "--repeats", "1")
    rows = re.findall(r"^\| (.+?) \| ([\d.]+) \| (\d+)% \|$", out, re.M)
    assert [name.split(" (")[0] for name, *_ in rows] == [
        "vae-course --help", "vae-course plots --latent-dim 1", "python -c 'import vae_helpers.training.trainer'"]
    seconds = [float(s) for _, s, _ in rows]
    assert all(s > 0 for s in seconds)
    for (_, _, share), s in zip(rows, seconds):   # each share is that command's time over the TensorFlow import's
        assert abs(int(share) - 100 * s / seconds[-1]) <= 1 + 100 * 0.005 / seconds[-1], (share, s, seconds[-1])


def test_binarized_nll_smoke_prints_one_row_per_k():
    out = run("binarized_nll.py", "--smoke")
    rows = re.findall(r"^\| (\d+) \| ([\d.]+) \| (\d+) \| (\d+) \|$", out, re.M)
    assert [k for k, *_ in rows] == ["10", "50"]
    nll = [float(v) for _, v, *_ in rows]
    assert all(0 < v < 784 * 0.7 for v in nll) and nll[1] <= nll[0] + 1.0   # more samples: a tighter bound


def test_denoiser_recipes_smoke_scores_each_width_on_held_out_images_and_picks_the_best():
    out = run("denoiser_recipes.py", "--smoke", "--widths", "8", "16", "--epochs", "1")
    rows = re.findall(r"^\| +(\d+) \| +(\d+) \| +([\d., ]+?) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \|$",
                      out, re.M)
    assert [r[0] for r in rows] == ["8", "16"] and "on 64 held-out Fashion-MNIST training images" in out
    means = {}
    for width, seconds, losses, *psnrs, mean in rows:
        assert len(losses.split(", ")) == 1 and abs(np.mean([float(v) for v in psnrs]) - float(mean)) < 0.011
        means[width] = float(mean)
    assert rows[0][3:] != rows[1][3:]                                           # two different models
    chosen = re.search(r"chosen: width (\d+) ", out).group(1)
    assert means[chosen] == max(means.values())                                 # a tie at 2 decimals may go either way


def test_exact_codec_smoke_prints_both_networks_and_both_models():
    out = run("exact_codec.py", "--smoke")
    rows = re.findall(r"^\| +(.+?) (encoder|decoder) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \|$", out, re.M)
    assert len(rows) == 4 and all(float(f32) > 0 and float(ratio) == pytest.approx(float(ex) / float(f32), abs=2e-3)
                                  for *_, f32, ex, ratio in rows)
    assert len(re.findall(r"^\| +(8-bit|binarized) \(\w+\) \| +\d+ \| +\d+ \| +\d+ \|$", out, re.M)) == 2


def test_one_class_recipes_smoke_prints_each_budget_and_chooses_the_best_validation_auc():
    out = run("one_class_recipes.py", "--smoke", "--epochs", "1", "2")
    rows = re.findall(r"^\| +(autoencoder|vae) \| +(\d+) \| +([\d.]+) \| +([\d.]+|-) \| +(\d+) \|$", out, re.M)
    assert [(m, e) for m, e, *_ in rows] == [("autoencoder", "1"), ("autoencoder", "2"), ("vae", "1"), ("vae", "2")]
    assert all(0 <= float(a) <= 1 for _, _, a, b, _ in rows for a in (a, b) if a != "-")
    assert all((b == "-") == (m == "autoencoder") for m, _, _, b, _ in rows)
    headline = {(m, e): float(b if m == "vae" else a) for m, e, a, b, _ in rows}
    best = {m: max(("1", "2"), key=lambda e: headline[m, e]) for m in ("autoencoder", "vae")}
    assert f"chosen (best headline score): autoencoder {best['autoencoder']} epochs, vae {best['vae']} epochs" in out


def test_rd_vae_recipes_smoke_scores_each_family_on_held_out_images_and_picks_the_best_at_matched_rates():
    out = run("rd_vae_recipes.py", "--smoke", "--channels", "2", "4", "--epochs", "1", "--min-bits", "1")
    rows = re.findall(r"^\| +(\d+) \| +([\d.]+) \| +(-?[\d.]+) \| +([\d.]+) \| +([\d.]+) \|$", out, re.M)
    betas = [f"{b:g}" for b in RD_VAE_BETAS[::2]]                               # a smoke run trains every other β
    assert [(r[0], r[1]) for r in rows] == [(c, b) for c in ("2", "4") for b in betas]
    assert "on 64 held-out Fashion-MNIST training images" in out
    assert all(float(r[3]) > 0 for r in rows)                                   # every stream has words
    assert "families reaching 1 bits per image: 2 channels (" in out           # --min-bits 1: both families
    matched = re.findall(r"^\| +(\d+) \| ((?:[ \d.—]+\|)+)$", out, re.M)
    at_rates = {c: [float("nan") if v.strip() == "—" else float(v) for v in cells.split("|")[:-1]] for c, cells in matched}
    assert list(at_rates) == ["2", "4"] and all(len(v) == 4 for v in at_rates.values())
    shared = np.all([np.isfinite(v) for v in at_rates.values()], axis=0)
    if shared.any():
        means = {c: np.mean(np.array(v)[shared]) for c, v in at_rates.items()}
        chosen = re.search(r"chosen: (\d+) channels", out).group(1)
        assert means[chosen] >= max(means.values()) - 0.011                    # a tie at 2 decimals may go either way
    else:
        assert "nothing chosen: no family reaches that rate, or they share no rate of the table" in out


def test_rd_vae_recipes_chooses_only_among_families_that_reach_the_required_rate():
    out = run("rd_vae_recipes.py", "--smoke", "--channels", "2", "--epochs", "1", "--min-bits", "1e9")
    assert "families reaching 1e+09 bits per image: none" in out and not re.search(r"^chosen:", out, re.M)
    assert "nothing chosen: no family reaches that rate" in out


def test_disentangling_recipes_smoke_scores_each_candidate_on_the_validation_grid_and_picks_the_best_median():
    out = run("disentangling_recipes.py", "--smoke", "--seeds", "0", "1", "--objectives", "VAE", "beta-TCVAE")
    rows = re.findall(r"^\| +(VAE|beta-TCVAE) \| +(beta=[\d.]+) \| +(\d) \| +([\d.]+) \| +([\d.]+) \|", out, re.M)
    assert [(o, s, seed) for o, s, seed, *_ in rows] == [("VAE", "beta=1", "0"), ("VAE", "beta=1", "1"),
                                                        ("beta-TCVAE", "beta=4", "0"), ("beta-TCVAE", "beta=4", "1"),
                                                        ("beta-TCVAE", "beta=8", "0"), ("beta-TCVAE", "beta=8", "1")]
    assert "on the validation grid (2,592 images, MIG on 256)" in out
    assert all(0 <= float(mig) <= 1 and 0 <= float(binned) <= 1 for *_, mig, binned in rows)
    median = {s: np.median([float(r[3]) for r in rows if r[0] == "beta-TCVAE" and r[1] == s]) for s in ("beta=4", "beta=8")}
    chosen = re.search(r"beta-TCVAE: (beta=\d) \(median MIG ([\d.]+)\)", out)
    assert median[chosen.group(1)] == max(median.values()) and float(chosen.group(2)) == pytest.approx(max(median.values()), abs=6e-4)
    assert re.search(r"blob baseline \(a decoder told only the position and the pixel area\): [\d.]+ nats per image", out)


def _load(script: str):
    """A benchmark script as a module (the scripts are not a package), for its pure functions."""
    import importlib.util

    name = f"benchmark_{script.removesuffix('.py')}"
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module   # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_vae_vs_keras_example_pairs_smoke_prints_the_rounds_table_without_tensorflows_start_up_lines():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "vae_vs_keras_example.py"), "--smoke", "--pairs", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    num = r"([\d.]+) \([\d.]+\)"   # wall (CPU)
    rows = re.findall(rf"^\| (\d) \| ([^|]+) \| {num} \| {num} \| {num} \|$", done.stdout, re.M)
    assert [r[:2] for r in rows] == [("1", "keras_example, course")]
    _, _, example, course, ratio = rows[0]
    assert float(ratio) == pytest.approx(float(course) / float(example), abs=0.06)   # the table's s/epoch are rounded
    assert re.search(r"^course / keras_example, median over 1 rounds: wall [\d.]+ \(range [\d.]+ to [\d.]+\), CPU [\d.]+ "
                     r"\(range [\d.]+ to [\d.]+\); fastest epoch of each, over all rounds: [\d.]+ / [\d.]+ s = [\d.]+$",
                     done.stdout, re.M)
    for line in ("WARNING: All log messages", "cpu_feature_guard", "cudart_stub", "oneDNN custom operations"):
        assert line not in done.stderr      # the workers' start-up lines are filtered out


def test_vae_vs_keras_example_pairs_rotate_the_order_of_every_variant(monkeypatch):
    bench = _load("vae_vs_keras_example.py")
    calls = []

    def fake_worker(variant, epochs, budget, n_train, n_test, overrides=None):
        calls.append((variant, overrides))
        return {"variant": variant, "settings": "s", "n_train": 512, "batch_size": 128, "train_seconds": [1.0],
                "cpu_seconds": [2.0], "neg_elbo": [300.0]}

    monkeypatch.setattr(bench, "run_worker", fake_worker)
    text = bench.run_pairs(3, 1, 512, 256, None, {"dense_units": 16})
    assert calls == [("keras_example", None), ("course", None), ("course", {"dense_units": 16}),
                     ("course", None), ("course", {"dense_units": 16}), ("keras_example", None),
                     ("course", {"dense_units": 16}), ("keras_example", None), ("course", None)]
    assert "| 3 | course (dense_units=16), keras_example, course | 1.0 (2.0) | 1.0 (2.0) | 1.0 (2.0) |" in text


def test_pairs_report_gives_each_rounds_ratio_and_their_median():
    bench = _load("vae_vs_keras_example.py")

    def record(label, seconds):
        return {"label": label, "train_seconds": seconds, "cpu_seconds": [2 * s for s in seconds], "n_train": 60000,
                "batch_size": 128, "neg_elbo": [150.0], "settings": "s"}

    rounds = [[record("keras_example", [30.0, 20.0, 21.0]), record("course", [31.0, 22.0, 23.0])],
              [record("course", [40.0, 40.0, 44.0]), record("keras_example", [36.0, 40.0, 41.0])],
              [record("keras_example", [20.0, 20.0, 20.0]), record("course", [19.0, 19.0, 19.0])]]
    text = bench.pairs_report(rounds)
    assert "| 1 | keras_example, course | 21.0 (42.0) | 23.0 (46.0) | 1.095 (1.095) |" in text   # medians of the epochs
    assert "| 2 | course, keras_example | 40.0 (80.0) | 40.0 (80.0) | 1.000 (1.000) |" in text
    assert ("course / keras_example, median over 3 rounds: wall 1.000 (range 0.950 to 1.095), CPU 1.000 (range 0.950 "
            "to 1.095); fastest epoch of each, over all rounds: 19.0 / 20.0 s = 0.950") in text


def test_training_step_profile_groups_ops_by_their_name_scope():
    profile = _load("training_step_profile.py")
    expected = {
        "StatefulPartitionedCall/adam_1/Sub_18:Sub": "optimizer update (Adam)",
        "StatefulPartitionedCall/gradient_tape/encoder_1/dense_1/MatMul/MatMul:_MklMatMul": "encoder dense layer, backward",
        "StatefulPartitionedCall/encoder_1/dense_1/Relu:_MklNativeFusedMatMul": "encoder dense layer, forward",
        "StatefulPartitionedCall/gradient_tape/encoder_1/conv_1_1/convolution/Conv2DBackpropInput:_MklNativeConv2DBackpropInput":
            "encoder convolutions, backward",
        "StatefulPartitionedCall/decoder_1/deconv_1_1/conv_transpose:_MklNativeConv2DBackpropInput": "decoder, forward",
        "StatefulPartitionedCall/gradient_tape/decoder_1/logits_1/conv_transpose/Conv2D:_MklNativeConv2D": "decoder, backward",
        "StatefulPartitionedCall/logistic_loss/Log1p:Log1p": "loss and sampling, forward and backward",
        "StatefulPartitionedCall/AssignAddVariableOp_3:AssignAddVariableOp": profile.OTHER,
    }
    assert {name: profile.group_of(name) for name in expected} == expected


def test_training_step_profile_smoke_prints_every_group_for_both_models():
    out = run("training_step_profile.py", "--smoke")
    rows = dict((g, (float(a), float(b), float(d))) for g, a, b, d in
                re.findall(r"^\| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \| ([+-][\d.]+) \|$", out, re.M))
    for group in ("encoder dense layer, backward", "decoder, forward", "decoder, backward", "optimizer update (Adam)"):
        a, b, d = rows[group]
        assert a > 0 and b > 0 and d == pytest.approx(b - a, abs=0.011)    # each model ran these ops, and was traced
    assert re.search(r"^\| \*\*all ops\*\* \| [\d.]+ \| [\d.]+ \| [+-][\d.]+ \|$", out, re.M)


def test_plots_recipes_smoke_scores_the_recipes_asked_for_on_held_out_images_and_chooses_by_the_rule():
    out = run("plots_recipes.py", "--smoke", "--only", "8 epochs, batch 64", "8 epochs, batch 256")
    rows = re.findall(r"^\| +([^|]+?) +\| +(\d+) \| +(\d+) \| +[\d.e-]+ \| +\d+ \| +[\d.]+ \| +([\d.]+) \| +(\d+)/16 \|$",
                      out, re.M)
    assert [r[0] for r in rows] == ["12 epochs (in use)", "8 epochs, batch 256", "8 epochs, batch 64"]  # CANDIDATES' order
    assert [int(r[2]) for r in rows] == [128, 256, 64]
    assert "scored on 512 held-out Fashion-MNIST training images" in out
    scores = {name: (int(epochs), float(neg_elbo), int(active)) for name, epochs, _, neg_elbo, active in rows}
    chosen = re.search(r"^chosen: (.+) \(the fewest epochs", out, re.M).group(1)
    reference = scores["12 epochs (in use)"]
    assert scores[chosen][1] <= reference[1] + 0.1 + 0.005 and scores[chosen][2] >= reference[2]


def test_plots_recipes_builds_every_candidate_and_refuses_unknown_names():
    recipes = _load("plots_recipes.py")
    every = recipes.configs(smoke=False)
    assert list(every) == list(recipes.CANDIDATES)
    in_use = every["12 epochs (in use)"]
    assert in_use.validation_images == recipes.VALIDATION_IMAGES and in_use.snapshot_images == 0
    assert {name: (c.epochs, c.batch_size) for name, c in every.items()}["7 epochs, batch 64"] == (7, 64)
    assert list(recipes.configs(smoke=False, names=["6 epochs, batch 64"])) == ["12 epochs (in use)", "6 epochs, batch 64"]
    with pytest.raises(ValueError, match=r"`names` must be candidates .* Received: 5 epochs"):
        recipes.configs(smoke=False, names=["5 epochs"])
