"""TensorBoard runs written by train_vae (trained or loaded), and training under a tf.distribute strategy."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from net_utils import free_ports

from vae_helpers.training.tensorboard import IMAGE_TAG, read_run, tile, write_history
from vae_helpers.training.tensorboard import TENSORBOARD_SAMPLES
from vae_helpers.training.trainer import TrainConfig, train_vae

SNAPSHOTTED = TrainConfig(dataset="digits", latent_dim=2, epochs=2, batch_size=64, n_train=256, n_test=64, seed=5,
                          snapshot_images=16, snapshot_samples=12)
LOSSES = ("loss", "reconstruction_loss", "kl_loss")


@pytest.fixture(scope="module")
def trained_with_tensorboard(tmp_path_factory):
    cache, logs = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("runs")
    result = train_vae(SNAPSHOTTED, cache_dir=cache, verbose=0, tensorboard_dir=logs)
    return cache, logs, result


def test_a_trained_run_has_the_three_losses_per_epoch_and_samples_per_epoch(trained_with_tensorboard):
    _, logs, result = trained_with_tensorboard
    run = read_run(logs / SNAPSHOTTED.key())
    for split, prefix in (("train", ""), ("validation", "val_")):
        for name in LOSSES:
            steps, values = zip(*run[split][name])
            assert steps == (1, 2)
            np.testing.assert_allclose(values, result.history[prefix + name], rtol=1e-6)
    steps, grids = zip(*run["train"][IMAGE_TAG])
    assert steps == (0, 1, 2)   # before training, then after each epoch
    # the logged grids are the snapshot samples, tiled 8 to a row (12 samples of 8x8 pixels: 2 rows)
    for grid, images in zip(grids, result.snapshots["images"]):
        assert grid.shape == (16, 64, 1)
        np.testing.assert_array_equal(grid, tile(images))
    assert IMAGE_TAG not in run["validation"]


def test_a_cached_run_is_written_from_the_stored_history_and_snapshots(trained_with_tensorboard, tmp_path):
    cache, logs, first = trained_with_tensorboard
    again = train_vae(SNAPSHOTTED, cache_dir=cache, verbose=0, tensorboard_dir=tmp_path)
    assert again.from_cache
    fresh, replayed = read_run(logs / SNAPSHOTTED.key()), read_run(tmp_path / SNAPSHOTTED.key())
    assert fresh["validation"] == replayed["validation"]
    assert [s for s, _ in fresh["train"][IMAGE_TAG]] == [s for s, _ in replayed["train"][IMAGE_TAG]]
    for (_, a), (_, b) in zip(fresh["train"][IMAGE_TAG], replayed["train"][IMAGE_TAG]):
        np.testing.assert_array_equal(a, b)
    # written again into the same folder: the run is replaced, not appended to
    train_vae(SNAPSHOTTED, cache_dir=cache, verbose=0, tensorboard_dir=tmp_path)
    assert len(read_run(tmp_path / SNAPSHOTTED.key())["train"]["loss"]) == 2


def test_without_snapshots_the_run_shows_fixed_prior_samples_and_an_autoencoder_none(tmp_path):
    plain = dataclasses.replace(SNAPSHOTTED, snapshot_images=0, snapshot_samples=0, epochs=1)
    train_vae(plain, cache_dir=tmp_path / "cache", verbose=0, tensorboard_dir=tmp_path / "runs")
    steps, grids = zip(*read_run(tmp_path / "runs" / plain.key())["train"][IMAGE_TAG])
    assert steps == (0, 1) and grids[0].shape == (TENSORBOARD_SAMPLES // 8 * 8, 64, 1)
    loaded = train_vae(plain, cache_dir=tmp_path / "cache", verbose=0, tensorboard_dir=tmp_path / "again")
    steps_again, grids_again = zip(*read_run(tmp_path / "again" / plain.key())["train"][IMAGE_TAG])
    assert loaded.from_cache and steps_again == (1,)            # the final model's samples only
    np.testing.assert_array_equal(grids_again[0], grids[1])    # the same prior samples, the same model
    ae = dataclasses.replace(plain, model="autoencoder")
    train_vae(ae, cache_dir=tmp_path / "cache", verbose=0, tensorboard_dir=tmp_path / "runs")
    run = read_run(tmp_path / "runs" / ae.key())
    assert set(run["train"]) == {"loss"} and set(run["validation"]) == {"loss"}


def test_bad_tensorboard_dir_and_strategy_are_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="tensorboard_dir"):
        train_vae(SNAPSHOTTED, cache_dir=tmp_path / "cache", tensorboard_dir=blocker / "runs")
    with pytest.raises(ValueError, match=r"`strategy` must be a tf.distribute.Strategy.*Received: strategy='mirrored'"):
        train_vae(SNAPSHOTTED, cache_dir=tmp_path / "cache", strategy="mirrored")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_write_history_and_tile_check_their_input(tmp_path):
    with pytest.raises(ValueError, match=r"`images` must have shape \(n, height, width, channels\)"):
        tile(np.zeros((4, 4)))
    grid = tile(np.ones((3, 2, 2, 1), dtype="uint8"), n_cols=2)
    assert grid.shape == (4, 4, 1) and grid[2:, 2:].sum() == 0 and grid[:2].all()
    assert write_history(tmp_path / "r", {"loss": [3.0, 2.0], "val_loss": [4.0], "epoch_seconds": [1, 1]}) is None
    run = read_run(tmp_path / "r")
    assert run["train"] == {"loss": [(1, 3.0), (2, 2.0)]} and run["validation"] == {"loss": [(1, 4.0)]}


# Logical devices must be configured before TensorFlow starts its runtime: a fresh process. One process
# covers the README's laptop recipe end to end (the command line with --strategy mirrored --logical-cpus 2
# and a TensorBoard run) and compares it with one device.
DISTRIBUTED = textwrap.dedent("""
    import json, sys, pathlib
    import numpy as np
    from vae_helpers import cli
    from vae_helpers.viz.figures import plots_config
    from vae_helpers.core.settings import get_settings
    from vae_helpers.core.tf_startup import tf
    from vae_helpers.training.trainer import train_vae
    folder = pathlib.Path(sys.argv[1])
    code = cli.main(["plots", "--mode", "smoke", "--dataset", "digits", "--latent-dim", "2", "--epochs", "2",
                     "--seed", "11", "--strategy", "mirrored", "--logical-cpus", "2",
                     "--tensorboard", str(folder / "runs"), "--out", str(folder / "out")])
    config = plots_config(get_settings("smoke"), dataset="digits", latent_dim=2, epochs=2, seed=11)
    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    two = train_vae(config, verbose=0, strategy=strategy)          # the command line's run, from the cache
    one = train_vae(config, cache_dir=folder / "one", verbose=0)    # the same config on one device
    print(json.dumps({
        "exit": code, "replicas": strategy.num_replicas_in_sync, "figures": sorted(p.name for p in (folder / "out").iterdir()),
        "one": {k: v for k, v in one.history.items() if k != "epoch_seconds"},
        "two": {k: v for k, v in two.history.items() if k != "epoch_seconds"},
        "two_cached": [two.from_cache, two.path is not None],
        "snapshots": [list(two.snapshots["z"].shape[:1]), list(two.snapshots["images"].shape[:1])],
        "runs": [p.name for p in (folder / "runs").iterdir()],
    }))
""")


def test_mirrored_strategy_on_two_logical_cpus_from_the_command_line_matches_one_device(tmp_path):
    from vae_helpers.viz.figures import FIGURES
    from vae_helpers.training.tensorboard import read_run

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training with MirroredStrategy on 2 replicas" in proc.stdout
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["exit"] == 0 and out["replicas"] == 2 and out["figures"] == sorted(FIGURES.values())
    assert out["one"].keys() == out["two"].keys() and len(out["two"]["loss"]) == 2
    # The same curve within 3% (the KL term within 0.05 nats). Not closer: the replicas draw other
    # noise for z and see the batches in another order.
    for name, values in out["one"].items():
        np.testing.assert_allclose(out["two"][name], values, rtol=0.03, atol=0.05, err_msg=name)
    assert out["two"]["loss"][-1] < out["two"]["loss"][0]
    assert out["two_cached"] == [True, True]
    assert out["snapshots"] == [[3], [3]]                 # epoch 0 and after each of the 2 epochs
    (run,) = out["runs"]
    logged = read_run(tmp_path / "runs" / run)
    assert [step for step, _ in logged["validation"]["loss"]] == [1, 2]
    assert [step for step, _ in logged["train"]["prior_samples"]] == [0, 1, 2]


MULTI_WORKER = textwrap.dedent("""
    import json, os, sys
    from vae_helpers import cli
    cli._wait_for_cluster(json.loads(os.environ["TF_CONFIG"]), 120)   # what --strategy multi-worker does first
    from vae_helpers.core.tf_startup import tf
    from vae_helpers.training.trainer import TrainConfig, train_vae
    strategy = tf.distribute.MultiWorkerMirroredStrategy()   # the cluster comes from $TF_CONFIG
    config = TrainConfig(**json.loads(sys.argv[2]))
    result = train_vae(config, cache_dir=sys.argv[1], verbose=0, strategy=strategy)
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "from_cache": result.from_cache,
                      "history": {k: v for k, v in result.history.items() if k != "epoch_seconds"}}))
""")



def test_multi_worker_strategy_with_two_local_workers_matches_one_device(tmp_path):
    """Two processes on this machine, described by $TF_CONFIG, as two machines would be."""
    config = TrainConfig(dataset="digits", latent_dim=2, epochs=3, batch_size=64, n_train=512, n_test=128, seed=11)
    one = train_vae(config, cache_dir=tmp_path / "one", verbose=0)
    workers = [f"localhost:{port}" for port in free_ports(2)]
    procs = []
    for index in range(2):   # the second worker starts later, as on another machine
        time.sleep(3 * index)
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", MULTI_WORKER, str(tmp_path / f"worker{index}"),
             json.dumps(dataclasses.asdict(config))], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [o["replicas"] for o in outs] == [2, 2] and not any(o["from_cache"] for o in outs)
    assert outs[0]["history"] == outs[1]["history"]      # the workers train one model in sync
    for name, values in outs[0]["history"].items():     # within 3%, as for two logical CPUs above
        np.testing.assert_allclose(values, one.history[name], rtol=0.03, atol=0.05, err_msg=name)
