import dataclasses
import json

import keras
import numpy as np
import pytest

from vae_helpers.data.datasets import load_dataset
from vae_helpers.training.trainer import (
    TrainConfig, train_vae,
)
from vae_helpers.training.cache import META_FILE, WEIGHTS_FILE
from vae_helpers.training.callbacks import NaNLossError, StopOnNaN
from vae_helpers.models.vae import build_vae

SMALL = TrainConfig(dataset="digits", latent_dim=2, epochs=2, batch_size=64, n_train=256, n_test=64, seed=3)


def same_weights(a, b):
    return all(np.array_equal(wa, wb) for wa, wb in zip(a.get_weights(), b.get_weights()))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return cache, train_vae(SMALL, cache_dir=cache, verbose=0)


def test_miss_trains_and_saves_history_beside_the_weights(trained):
    cache, result = trained
    assert not result.from_cache and result.path == cache / SMALL.key()
    assert (result.path / WEIGHTS_FILE).is_file()
    assert len(result.history["loss"]) == 2 and len(result.history["val_kl_loss"]) == 2
    assert json.loads((result.path / "history.json").read_text()) == result.history


def test_hit_loads_the_same_model(trained):
    cache, first = trained
    again = train_vae(SMALL, cache_dir=cache, verbose=0)
    assert again.from_cache and again.history == first.history and same_weights(again.vae, first.vae)


def test_same_seed_same_data_gives_the_same_weights(trained, tmp_path):
    _, first = trained
    second = train_vae(SMALL, cache_dir=tmp_path, verbose=0)
    assert not second.from_cache and same_weights(first.vae, second.vae)


def test_corrupt_entry_is_retrained(trained, tmp_path, capsys):
    train_vae(SMALL, cache_dir=tmp_path, verbose=0)
    weights = tmp_path / SMALL.key() / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = train_vae(SMALL, cache_dir=tmp_path, verbose=0)
    out = capsys.readouterr().out
    assert not result.from_cache and "fails the checksum" in out and "retraining" in out
    assert same_weights(result.vae, trained[1].vae)
    assert train_vae(SMALL, cache_dir=tmp_path, verbose=0).from_cache  # repaired


def test_mismatched_entry_is_retrained(tmp_path, capsys):
    train_vae(SMALL, cache_dir=tmp_path, verbose=0)
    meta_path = tmp_path / SMALL.key() / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["key_material"]["versions"]["keras"] = "0.0.1"
    meta_path.write_text(json.dumps(meta))
    assert not train_vae(SMALL, cache_dir=tmp_path, verbose=0).from_cache
    assert "configuration or library versions differ" in capsys.readouterr().out


def test_missing_file_in_entry_is_retrained(tmp_path, capsys):
    train_vae(SMALL, cache_dir=tmp_path, verbose=0)
    (tmp_path / SMALL.key() / "history.json").unlink()
    assert not train_vae(SMALL, cache_dir=tmp_path, verbose=0).from_cache
    assert "retraining" in capsys.readouterr().out


def test_key_depends_on_every_setting():
    spatial = dataclasses.replace(SMALL, dense_units=0)
    mlp = dataclasses.replace(SMALL, model="mlp_vae", filters=(32, 64))
    changes = [  # (base, change): one per field of TrainConfig, each a valid config
        (SMALL, {"dataset": "mnist"}), (SMALL, {"latent_dim": 3}), (SMALL, {"beta": 2.0}), (SMALL, {"epochs": 3}),
        (SMALL, {"batch_size": 32}), (SMALL, {"seed": 4}), (SMALL, {"n_train": 128}), (SMALL, {"n_test": 32}),
        (SMALL, {"learning_rate": 1e-3}), (SMALL, {"lr_schedule": "constant"}), (SMALL, {"filters": (8, 16)}),
        (SMALL, {"dense_units": 32}), (SMALL, {"kl_warmup_epochs": 1}), (SMALL, {"free_bits": 0.5}),
        (SMALL, {"jit_compile": True}), (SMALL, {"steps_per_execution": 2}), (SMALL, {"snapshot_images": 4}),
        (SMALL, {"snapshot_samples": 4}), (SMALL, {"model": "discrete_vae"}), (SMALL, {"normal_class": 3}),
        (SMALL, {"validation_images": 16}),
        (SMALL, {"denoising": True}), (mlp, {"objective": "beta_tcvae"}),
        (mlp, {"objective": "capacity", "capacity_nats": 5.0}), (spatial, {"convs_per_stage": 2}),
        (SMALL, {"init_from": dataclasses.replace(SMALL, epochs=1)}),
        (dataclasses.replace(SMALL, model="iwae_vae"), {"iwae_samples": 2}),
    ]
    assert {name for _, change in changes for name in change} == {f.name for f in dataclasses.fields(TrainConfig)}
    for base, change in changes:
        assert dataclasses.replace(base, **change).key() != base.key(), change
    # and equal settings give equal keys
    assert dataclasses.replace(SMALL, beta=1.0).key() == SMALL.key()


def test_nan_loss_stops_training_with_a_clear_message():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((64, 8, 8, 1), dtype=np.float32)
    x[5, 3, 3, 0] = np.nan
    vae = build_vae((8, 8, 1), latent_dim=2, seed=0)
    vae.compile(optimizer="adam")
    with pytest.raises(NaNLossError, match=r"The training loss became nan at epoch 1, batch \d+; training stopped"):
        vae.fit(x, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[StopOnNaN()])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dataset="cifar"), r"`dataset` must be one of mnist, fashion_mnist, digits, binarized_mnist, shapes, shapes_grid. Received: dataset='cifar'"),
        (dict(latent_dim=0), r"`latent_dim` must be an integer in \[1, 1024\]. Received: latent_dim=0"),
        (dict(epochs=1.5), r"`epochs` must be an integer in \[1, 10000\]"),
        (dict(beta=-0.1), r"`beta` must be a finite non-negative number. Received: beta=-0.1"),
        (dict(beta=float("inf")), r"`beta` must be a finite non-negative number. Received: beta=inf"),
        (dict(free_bits=-1.0), r"`free_bits` must be a finite non-negative number. Received: free_bits=-1.0"),
        (dict(kl_warmup_epochs=-1), r"`kl_warmup_epochs` must be a non-negative integer. Received: kl_warmup_epochs=-1"),
        (dict(learning_rate=0.0), r"`learning_rate` must be a finite positive number"),
        (dict(n_train=0), r"`n_train` must be a positive integer or None"),
    ],
)
def test_config_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_train_vae_needs_a_config():
    with pytest.raises(TypeError, match=r"`config` must be a TrainConfig"):
        train_vae({"dataset": "digits"})


def test_snapshots_are_recorded_cached_and_reloaded(tmp_path):
    config = TrainConfig(**{**SMALL.__dict__, "snapshot_images": 20, "snapshot_samples": 4})
    first = train_vae(config, cache_dir=tmp_path, verbose=0)
    snaps = first.snapshots
    assert snaps["z"].shape == (3, 20, 2) and snaps["images"].shape == (3, 4, 8, 8, 1)
    assert snaps["images"].dtype == np.uint8 and list(snaps["epochs"]) == [0, 1, 2]
    assert snaps["labels"].shape == (20,) and snaps["z_fixed"].shape == (4, 2)
    again = train_vae(config, cache_dir=tmp_path, verbose=0)
    assert again.from_cache
    for key, value in snaps.items():
        np.testing.assert_array_equal(again.snapshots[key], value)
    assert SMALL.key() != config.key() and train_vae(SMALL, cache_dir=tmp_path, verbose=0).snapshots is None


def test_warm_up_epochs_become_steps_and_free_bits_reach_the_model():
    from vae_helpers.training.trainer import build_for

    config = TrainConfig(dataset="digits", latent_dim=2, epochs=3, batch_size=64, kl_warmup_epochs=2, free_bits=0.5)
    ds = load_dataset("digits", n_train=200, n_test=64, seed=0)
    vae = build_for(config, ds)   # 4 steps per epoch
    assert vae.kl_warmup_steps == 8 and vae.free_bits == 0.5


def test_epoch_logger_prints_one_line_per_epoch(tmp_path, capsys):
    train_vae(SMALL, cache_dir=tmp_path, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert [line.split(" - ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("val_loss" in line and "\x1b" not in line for line in lines)


def test_a_convolutional_kind_is_refused_images_it_cannot_halve_before_any_data_is_loaded(monkeypatch):
    from vae_helpers.training import trainer

    monkeypatch.setattr(trainer, "load_dataset", lambda *a, **k: pytest.fail("data was loaded"))
    with pytest.raises(ValueError, match=r"`dataset='shapes'` has 32 x 32 images, which `model='vae'` with filters=\(8, 8, 8, 8, 8, 8\) "
                                         r"cannot take: its sides must be multiples of 64"):
        TrainConfig(dataset="shapes", filters=(8,) * 6)
    with pytest.raises(ValueError, match=r"`dataset='mnist'` has 28 x 28 images, which `model='vae'` with filters=\(8, 8, 8\) "
                                         r"cannot take: its sides must be multiples of 8"):
        TrainConfig(dataset="mnist", filters=(8, 8, 8))
    assert TrainConfig(dataset="shapes", model="mlp_vae").dataset == "shapes"   # the MLP takes any size
    assert TrainConfig(dataset="digits", filters=(8, 16, 32)).filters == (8, 16, 32)   # 8 x 8 halves three times
