"""Reference values of the challenge metrics from scikit-learn and SimpleITK.

Writes OUT/metrics.json: random classification cases (binary and multiclass,
including ones where sklearn's AUC raises and the official evaluator reports
0) and random mask pairs with SimpleITK's Hausdorff distance. The C++ test
tests/train/test_metrics.cpp recomputes them with sono::metrics.
"""
import argparse
import json
import os

import numpy as np
import SimpleITK as sitk
from sklearn.metrics import f1_score, matthews_corrcoef, roc_auc_score


def auc_like_official(y_true, probs):
    try:
        if probs.shape[1] == 2:
            return float(roc_auc_score(y_true, probs[:, 1]))
        return float(roc_auc_score(y_true, probs, average="macro", multi_class="ovr"))
    except ValueError:
        return 0.0


def classification_case(rng, n, c, accuracy, drop_class=None):
    y_true = rng.integers(0, c, n)
    if drop_class is not None:
        y_true[y_true == drop_class] = (drop_class + 1) % c
    logits = rng.normal(size=(n, c))
    logits[np.arange(n), y_true] += accuracy
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y_pred = probs.argmax(1)
    return {
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "probs": probs.tolist(),
        "accuracy": float(np.mean(y_true == y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "auc": auc_like_official(y_true, probs),
    }


def hausdorff_case(rng, h, w, p):
    a = (rng.random((h, w)) < p).astype(np.uint8)
    b = (rng.random((h, w)) < p).astype(np.uint8)
    a[0, 0] = 1
    b[-1, -1] = 1
    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(sitk.GetImageFromArray(a * 255), sitk.GetImageFromArray(b * 255))
    return {"h": h, "w": w, "a": a.ravel().tolist(), "b": b.ravel().tolist(), "hd": f.GetHausdorffDistance()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cls = []
    for n, c, acc, drop in [(40, 2, 1.0, None), (25, 2, 0.0, None), (60, 3, 1.5, None), (50, 6, 2.0, None),
                            (30, 8, 1.0, None), (30, 3, 1.0, 2), (12, 2, 1.0, 1), (200, 5, 0.5, None)]:
        cls.append(classification_case(rng, n, c, acc, drop))
    hd = [hausdorff_case(rng, h, w, p) for h, w, p in [(32, 48, 0.02), (64, 64, 0.1), (17, 5, 0.3), (100, 80, 0.005)]]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({"classification": cls, "hausdorff": hd}, f)


if __name__ == "__main__":
    main()
