"""The official inference (the baseline's model.py) on a tiny generated dataset,
for the test that `sono predict --weights best_model.pth` gives the same
submission.

    python dump_official_predictions.py --out DIR [--encoder efficientnet-b0] [--seed 0] [--threads 2]

Writes into DIR:

  data/             a dataset in the FMC_UIA CSV format: csv_files/<task>.csv,
                    images/<task>/<k>.png, masks/<task>/<k>.png (ground truth,
                    random), 3 rows per task for cardiac_multi (segmentation,
                    4 classes), fetal_head (segmentation, 2), organ_cls
                    (classification, 6), lung_2cls (classification, 2), IUGC
                    (Regression, 3 points), thyroid_nodule_det (detection).
                    Images of odd, non-square sizes (larger and smaller than
                    256), RGB colour PNGs and one grayscale PNG.
  best_model.pth    torch.save(model.state_dict()) of the official model
                    (mhmtl.py) with a head for each task of data/, zip format,
                    every storage tagged 'cuda:0' as when saved from a GPU
  pred_official/    the submission model.py writes for data/ with that file:
                    masks/<task>/<k>.png, classification_predictions.json,
                    detection_predictions.json, regression_predictions.json
  official_aux.safetensors   what a comparison needs to judge argmax ties
                    (f32; <p> is the mask path without "../", <i> the image path
                    as in the CSV):
        seg.margin:<p>   [h, w] top-1 minus top-2 class logit at the 256x256
                         output, resized to the original size like the mask
                         (INTER_NEAREST), so each mask pixel has its margin
        seg.scale:<p>    [] max |logit| of that image
        det.gap:<i>      [] top-1 minus top-2 objectness logit over the grid
        det.scale:<i>    [] max |objectness logit| over the grid
  manifest.json     tasks (first-appearance order), rows, encoder, seed, versions

The model: MultiTaskModel(encoder) of mhmtl.py with the dataset's tasks in
first-appearance order of the concatenated CSVs (as model.py builds it; the
head order does not matter for loading), random weights (torch.manual_seed),
every BatchNorm with random affine parameters and calibrated, perturbed running
statistics (dump_encoder_parity.calibrate_batchnorm) so that eval mode is
exercised with activations of order 1; the detection heads' BN too.

The inference is written from docs/reference-model.md 6.3 and the submission format, as
model.py does it: reload best_model.pth with torch.load(map_location='cpu')
into a freshly built model (load_state_dict strict), eval(), no_grad;
cv2.imread (BGR) -> RGB -> albumentations Resize(256, 256) (INTER_LINEAR) ->
Normalize(ImageNet mean/std) -> ToTensorV2; then per task type:
  segmentation    argmax over classes (numpy, float32 logits) at 256x256 ->
                  uint8 -> cv2.resize to the original (w, h) INTER_NEAREST ->
                  cv2.imwrite to pred_official/<mask_path with every "../" removed>
  classification  predicted_class = argmax; predicted_probs = numpy softmax of
                  the float32 logits (exp(l - max) / sum)
  Regression      predicted_points_normalized = the outputs; pixels = x * w, y * h
  detection       the cell with the largest objectness logit (channel 4,
                  row-major argmax); bbox_normalized = channels 0-3 there
                  (already sigmoided), bbox_pixels = x * w, y * h
model.py batches 8 rows of mixed tasks; here each task is one batch. With BN
in eval mode the rows do not interact, so only the convolution algorithm's
rounding could differ.
"""
import argparse
import collections
import glob
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see mhmtl.py

import albumentations as A
import cv2
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2
from safetensors.torch import save_file

import mhmtl
from dump_encoder_parity import calibrate_batchnorm

SIZE = 256
ROWS_PER_TASK = 3
# (task_id, task_name as in the CSVs, num_classes); official ids so that
# mhmtl's forward routes them like the baseline.
DATA_TASKS = [
    ("cardiac_multi", mhmtl.SEGMENTATION, 4),
    ("fetal_head", mhmtl.SEGMENTATION, 2),
    ("organ_cls", mhmtl.CLASSIFICATION, 6),
    ("lung_2cls", mhmtl.CLASSIFICATION, 2),
    ("IUGC", mhmtl.REGRESSION, 3),
    ("thyroid_nodule_det", mhmtl.DETECTION, 1),
]
# (height, width): larger and smaller than 256, odd, one exactly 256 tall
SIZES = [(97, 131), (300, 271), (61, 83), (256, 190), (143, 333), (201, 77)]


# ---- the dataset -------------------------------------------------------------

def smooth_image(rng, h, w, channels):
    """Low-frequency blobs plus speckle, uint8 (something for the network to see)."""
    small = rng.uniform(0, 255, size=(max(h // 16, 2), max(w // 16, 2), channels)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, channels)
    noisy = big + rng.normal(0, 25, size=big.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def csv_line(values):
    return ",".join('"' + v + '"' if "," in v else v for v in map(str, values))


def write_dataset(root, rng):
    """Writes data/ and returns its rows: dicts with the CSV fields and the image size."""
    csv_dir = os.path.join(root, "csv_files")
    os.makedirs(csv_dir, exist_ok=True)
    rows = []
    n = 0
    for task_id, task_name, num_classes in DATA_TASKS:
        header = ["image_path"]
        if task_name == mhmtl.SEGMENTATION:
            header.append("mask_path")
        elif task_name == mhmtl.CLASSIFICATION:
            header.append("mask")  # the label column is called "mask" in the official CSVs
        elif task_name == mhmtl.DETECTION:
            header += ["x_min", "y_min", "x_max", "y_max"]
        else:
            header += [f"point_{k + 1}_xy" for k in range(num_classes)]
        header += ["task_id", "task_name", "num_classes"]
        lines = [",".join(header)]
        for k in range(ROWS_PER_TASK):
            h, w = SIZES[n % len(SIZES)]
            gray = n == 4  # one grayscale PNG: cv2.imread replicates it to 3 channels
            n += 1
            img = smooth_image(rng, h, w, 1 if gray else 3)
            rel = f"../images/{task_id}/{k}.png"
            path = os.path.normpath(os.path.join(csv_dir, rel))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            cv2.imwrite(path, img[:, :, 0] if gray else img)
            row = dict(image_path=rel, task_id=task_id, task_name=task_name, num_classes=num_classes, h=h, w=w)
            fields = [rel]
            if task_name == mhmtl.SEGMENTATION:
                mrel = f"../masks/{task_id}/{k}.png"
                mpath = os.path.normpath(os.path.join(csv_dir, mrel))
                os.makedirs(os.path.dirname(mpath), exist_ok=True)
                cv2.imwrite(mpath, rng.integers(0, num_classes, size=(h, w)).astype(np.uint8))
                row["mask_path"] = mrel
                fields.append(mrel)
            elif task_name == mhmtl.CLASSIFICATION:
                fields.append(int(rng.integers(0, num_classes)))
            elif task_name == mhmtl.DETECTION:
                x0, x1 = sorted(rng.choice(w, size=2, replace=False))
                y0, y1 = sorted(rng.choice(h, size=2, replace=False))
                fields += [x0, y0, x1, y1]
            else:
                fields += [f"[{rng.uniform(0, w):.2f}, {rng.uniform(0, h):.2f}]" for _ in range(num_classes)]
            fields += [task_id, task_name, num_classes]
            lines.append(csv_line(fields))
            rows.append(row)
        with open(os.path.join(csv_dir, task_id + ".csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return rows


def tasks_from_csvs(root):
    """(task_id, task_name, num_classes) in first-appearance order, as model.py builds them.

    model.py concatenates glob() results (directory order); sorted here so the
    run is reproducible. The order only affects the order of the heads, which
    does not matter for loading a state dict.
    """
    import csv
    tasks = collections.OrderedDict()
    for file in sorted(glob.glob(os.path.join(root, "csv_files", "*.csv"))):
        with open(file, newline="") as f:
            for r in csv.DictReader(f):
                tasks.setdefault(r["task_id"], (r["task_id"], r["task_name"], int(r["num_classes"])))
    return list(tasks.values())


# ---- the model ------------------------------------------------------------------

def save_as_from_cuda(state_dict, path):
    """torch.save with every storage tagged 'cuda:0', as a state dict saved from a GPU."""
    import torch.serialization as ts
    original = ts.location_tag
    ts.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(state_dict, path)
    finally:
        ts.location_tag = original
    with open(path, "rb") as f:
        assert b"cuda:0" in f.read(), path


def make_weights(encoder, tasks, seed, path):
    torch.manual_seed(seed)
    model = mhmtl.MultiTaskModel(encoder, tasks=tasks)
    gen = torch.Generator().manual_seed(seed + 1)
    calib = torch.randn(2, 3, SIZE, SIZE, generator=gen)

    def run(m):  # every task once: the encoder's BN on the first, each detection head's on its own
        for task_id, _, _ in tasks:
            m(calib, task_id)

    calibrate_batchnorm(model, gen, run)
    save_as_from_cuda(model.state_dict(), path)


# ---- the official inference -----------------------------------------------------

def preprocess():
    return A.Compose([
        A.Resize(SIZE, SIZE),
        A.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
        ToTensorV2(),
    ])


def top2_gap(values, axis):
    s = np.sort(values, axis=axis)
    return np.take(s, -1, axis=axis) - np.take(s, -2, axis=axis)


def predict(model, root, rows, out, aux):
    transform = preprocess()
    csv_dir = os.path.join(root, "csv_files")
    cls, det, reg = [], [], []
    by_task = collections.OrderedDict()
    for r in rows:
        by_task.setdefault(r["task_id"], []).append(r)
    with torch.no_grad():
        for task_id, task_rows in by_task.items():
            images, sizes = [], []
            for r in task_rows:
                bgr = cv2.imread(os.path.normpath(os.path.join(csv_dir, r["image_path"])))
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                sizes.append(rgb.shape[:2])
                images.append(transform(image=rgb)["image"])
            outputs = model(torch.stack(images), task_id).numpy()
            task_name = task_rows[0]["task_name"]
            for r, pred, (h, w) in zip(task_rows, outputs, sizes):
                if task_name == mhmtl.SEGMENTATION:
                    mask = np.argmax(pred, axis=0).astype(np.uint8)
                    mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
                    rel = r["mask_path"].replace("../", "")
                    dst = os.path.join(out, rel)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    cv2.imwrite(dst, mask)
                    margin = cv2.resize(top2_gap(pred, 0).astype(np.float32), (w, h),
                                        interpolation=cv2.INTER_NEAREST)
                    aux["seg.margin:" + rel] = torch.from_numpy(np.ascontiguousarray(margin))
                    aux["seg.scale:" + rel] = torch.tensor(float(np.abs(pred).max()))
                elif task_name == mhmtl.CLASSIFICATION:
                    e = np.exp(pred - np.max(pred))
                    cls.append(dict(image_path=r["image_path"], task_id=task_id,
                                    predicted_class=int(np.argmax(pred)), predicted_probs=(e / np.sum(e)).tolist()))
                elif task_name == mhmtl.REGRESSION:
                    coords = pred.flatten().tolist()
                    pixels = [c * (w if j % 2 == 0 else h) for j, c in enumerate(coords)]
                    reg.append(dict(image_path=r["image_path"], task_id=task_id,
                                    predicted_points_normalized=coords, predicted_points_pixels=pixels))
                else:
                    gh, gw = pred.shape[1:]
                    scores = pred[4].flatten()
                    best = int(np.argmax(scores))
                    box = pred[:4, best // gw, best % gw].tolist()
                    det.append(dict(image_path=r["image_path"], task_id=task_id, bbox_normalized=box,
                                    bbox_pixels=[box[0] * w, box[1] * h, box[2] * w, box[3] * h]))
                    aux["det.gap:" + r["image_path"]] = torch.tensor(float(top2_gap(scores, 0)))
                    aux["det.scale:" + r["image_path"]] = torch.tensor(float(np.abs(scores).max()))
    for name, items in (("classification", cls), ("detection", det), ("regression", reg)):
        if items:
            with open(os.path.join(out, f"{name}_predictions.json"), "w") as f:
                json.dump(items, f, indent=2)
    return dict(classification=len(cls), detection=len(det), regression=len(reg))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--encoder", default="efficientnet-b0", choices=mhmtl.ENCODERS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    data, pred = os.path.join(out, "data"), os.path.join(out, "pred_official")
    for d in (data, pred):
        if os.path.isdir(d):
            import shutil
            shutil.rmtree(d)  # stale files from another run would pass for fresh ones
    rows = write_dataset(data, np.random.default_rng(args.seed))
    tasks = tasks_from_csvs(data)
    weights = os.path.join(out, "best_model.pth")
    make_weights(args.encoder, tasks, args.seed, weights)

    # From here on, model.py: rebuild from the CSVs' tasks, load strictly, eval.
    model = mhmtl.MultiTaskModel(args.encoder, tasks=tasks_from_csvs(data))
    model.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
    model.eval()
    aux = {}
    counts = predict(model, data, rows, pred, aux)
    save_file(aux, os.path.join(out, "official_aux.safetensors"), metadata={"format": "sono-official-pred-1"})
    manifest = dict(encoder=args.encoder, seed=args.seed, image_size=SIZE, tasks=tasks, rows=rows,
                    torch=torch.__version__, opencv=cv2.__version__, albumentations=A.__version__,
                    numpy=np.__version__, state_dict_keys=len(model.state_dict()))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"dump_official_predictions: {len(rows)} rows of {len(tasks)} tasks, {args.encoder}, "
          f"{len(model.state_dict())} tensors in best_model.pth; predictions {counts} -> {out}")


if __name__ == "__main__":
    main()
