"""The one-class split and ROC AUC on cases with known answers."""

import numpy as np
import pytest

from vae_helpers.applications import anomaly
from vae_helpers.data.datasets import load_dataset


def test_one_class_split_keeps_only_the_normal_class_for_training():
    ds = load_dataset("digits")
    split = anomaly.one_class_split(ds, np.int64(3))
    assert len(split.x_train) == int((ds.y_train == 3).sum()) and len(split.x_test) == len(ds.x_test)
    assert np.array_equal(split.is_anomaly, ds.y_test != 3) and split.normal_class == 3
    with pytest.raises(ValueError, match=r"`normal_class` must be an integer in \[0, 9\]. Received: normal_class=10"):
        anomaly.one_class_split(ds, 10)


def test_roc_auc_known_values():
    is_anomaly = np.array([False, False, True, True])
    assert anomaly.roc_auc([0.1, 0.2, 0.8, 0.9], is_anomaly) == 1.0      # perfect
    assert anomaly.roc_auc([0.9, 0.8, 0.2, 0.1], is_anomaly) == 0.0      # perfectly backwards: the paradox
    assert anomaly.roc_auc([0.1, 0.8, 0.2, 0.9], is_anomaly) == 0.75     # 3 of 4 (anomaly, normal) pairs ordered
    fpr, tpr = anomaly.roc_curve([0.1, 0.2, 0.8, 0.9], is_anomaly)
    assert fpr[0] == 0 and tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)


def test_roc_auc_of_random_scores_is_near_one_half():
    rng = np.random.default_rng(0)
    assert abs(anomaly.roc_auc(rng.random(4000), rng.random(4000) < 0.3) - 0.5) < 0.03


@pytest.mark.parametrize("scores, labels, match", [
    ([0.1, np.nan], [False, True], r"`scores` must be finite"),
    ([0.1, 0.2], [True, True], r"must contain both anomalies and normal images"),
    ([0.1, 0.2], [0, 1], r"`is_anomaly` \(n,\) booleans must match"),
    ([0.1, 0.2, 0.3], [False, True], r"must match"),
])
def test_bad_inputs(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        anomaly.roc_auc(scores, np.asarray(labels))
