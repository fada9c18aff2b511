"""Static gestures: the trained ONNX classifier and the rule baseline on held-out synthetic poses."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from perception.hands import rules, synth, train_gestures
from perception.hands.classifier import DEFAULT_MODEL, GestureClassifier, GestureClassifierOptions
from perception.hands.landmarks import N_FEATURES, distance_features, features

# a seed the shipped model never saw (training used 7, its held-out set 1007)
HELDOUT_SEED = 424242


@pytest.fixture(scope="module")
def heldout():
    return synth.dataset(120, HELDOUT_SEED)


def test_classifier_accuracy_on_heldout_synthetic(heldout):
    X, y = heldout
    clf = GestureClassifier()
    pred = np.array([clf.classes.index(r.gesture) for r in clf.classify_batch(X)])
    acc = float(np.mean(pred == y))
    per_class = {c: float(np.mean(pred[y == k] == k)) for k, c in enumerate(synth.CLASSES)}
    # measured 0.972 with the model trained on real + synthetic hands (0.988 when it saw only synthetic);
    # real hands pulled the synthetic "none" (half-curled fingers) down to 0.77, all others >= 0.95
    assert acc >= 0.95, (acc, per_class)
    assert min(per_class.values()) >= 0.7, per_class


def test_rule_baseline_accuracy_and_is_worse_than_model(heldout):
    X, y = heldout
    pred = np.array([synth.CLASSES.index(rules.classify(x).gesture) for x in X])
    acc = float(np.mean(pred == y))
    assert 0.68 <= acc <= 0.9, acc  # measured 0.754: a real baseline, clearly below the model


def test_classifier_via_rules_method_matches_rules(heldout):
    X, _ = heldout
    clf = GestureClassifier(GestureClassifierOptions(method="rules"))
    for x in X[:50]:
        assert clf.classify(x).gesture == rules.classify(x).gesture


def test_thumb_direction_decides_up_and_down():
    rng = np.random.default_rng(1)
    clf = GestureClassifier()
    up = synth.sample("thumbs_up", rng)
    # turning the whole hand upside down in the image turns thumbs up into thumbs down
    down = up.copy()
    down[:, 1] = 2 * up[:, 1].mean() - up[:, 1]
    assert clf.classify(up).gesture == "thumbs_up"
    assert clf.classify(down).gesture == "thumbs_down"
    assert rules.classify(up).gesture == "thumbs_up"
    assert rules.classify(down).gesture == "thumbs_down"


def test_features_are_invariant_to_shift_scale_and_mirror():
    rng = np.random.default_rng(2)
    lm = synth.sample("victory", rng)
    moved = lm * 1.7 + np.array([40.0, -25.0, 0.0])
    mirrored = lm.copy()
    mirrored[:, 0] = -mirrored[:, 0]
    f = features(lm)
    assert f.shape == (N_FEATURES,)
    np.testing.assert_allclose(features(moved)[:-4], f[:-4], atol=1e-4)
    np.testing.assert_allclose(features(mirrored)[:-4], f[:-4], atol=1e-4)
    np.testing.assert_allclose(distance_features(mirrored), distance_features(lm), atol=1e-5)


def test_bad_landmarks_raise_clear_errors():
    clf = GestureClassifier()
    with pytest.raises(ValueError, match=r"\(21, 2\) or \(21, 3\)"):
        clf.classify(np.zeros((20, 3)))
    bad = np.ones((21, 3))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.classify(bad)
    with pytest.raises(ValueError, match="unknown pose class"):
        synth.sample("wave", np.random.default_rng(0))


def test_shipped_model_provenance():
    meta = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert meta["classes"] == list(synth.CLASSES)
    assert meta["n_features"] == N_FEATURES
    assert meta["provenance"]["onnx_sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    assert meta["heldout_synthetic"]["accuracy"] >= 0.95
    assert "HaGRID developer-half" in meta["provenance"]["data"]
    assert meta["cross_validation"]["accuracy_goal_mean"] >= 0.95  # measured 0.955 (5 folds)


def test_training_is_reproducible_from_the_seed(tmp_path):
    # synthetic only, to stay fast; the shipped model (real + synthetic) was checked by hand to rebuild
    # byte-identical (docs/hands.md)
    args = ["--seed", "3", "--per-class", "40", "--val-per-class", "10", "--epochs", "2", "--synthetic-only"]
    assert train_gestures.main(args + ["--out", str(tmp_path / "a")]) == 0
    assert train_gestures.main(args + ["--out", str(tmp_path / "b")]) == 0
    a = (tmp_path / "a" / "gesture_classifier.onnx").read_bytes()
    b = (tmp_path / "b" / "gesture_classifier.onnx").read_bytes()
    assert a == b
    c = GestureClassifier(GestureClassifierOptions(model_path=tmp_path / "a" / "gesture_classifier.onnx"))
    assert c.predict_proba(synth.sample("fist", np.random.default_rng(0))).shape == (len(synth.CLASSES),)
