"""The official FMC_UIA 2026 multi-task baseline, rebuilt from docs/reference-model.md.

EfficientNet encoder (SMP 0.5.0) + SMP FPN decoder + 27 task heads, the task
losses (docs/reference-model.md 5) and the AdamW parameter groups (docs/reference-model.md 6.1). Written
from the spec, not copied from the baseline repository. Module attribute names
are chosen so that state_dict keys equal the baseline's (best_model.pth).

    python mhmtl.py --check [--encoder efficientnet-b4] [--tsv PATH]

verifies the B4 state_dict against shared/reference/mhmtl_b4_state_dict.tsv
(keys, order, shapes, dtypes, optimizer membership) and the parameter counts of
docs/reference-model.md 8, plus the output shape of every task type.
"""
import argparse
import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine
# spinning makes torch 5-10x slower. Only timing changes, not results.
# Must be set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
import torch.nn as nn
import torch.nn.functional as F
import segmentation_models_pytorch as smp
from segmentation_models_pytorch.base import ClassificationHead, SegmentationHead
from segmentation_models_pytorch.encoders import get_encoder

SEGMENTATION = "segmentation"
CLASSIFICATION = "classification"
REGRESSION = "Regression"  # capitalised as in the baseline's configuration
DETECTION = "detection"

# (task_id, task type, num_classes); for Regression num_classes is the number
# of points (2 outputs each). The order defines the head order in the
# state_dict and the optimizer's param groups.
TASK_CONFIGURATIONS = [
    ("FUGC", REGRESSION, 2),
    ("IUGC", REGRESSION, 3),
    ("fetal_femur", REGRESSION, 2),
    ("breast_2cls", CLASSIFICATION, 2),
    ("breast_3cls", CLASSIFICATION, 3),
    ("fetal_head_pos_cls", CLASSIFICATION, 8),
    ("fetal_plane_cls", CLASSIFICATION, 6),
    ("fetal_sacral_pos_cls", CLASSIFICATION, 8),
    ("liver_lesion_2cls", CLASSIFICATION, 2),
    ("lung_2cls", CLASSIFICATION, 2),
    ("lung_disease_3cls", CLASSIFICATION, 3),
    ("organ_cls", CLASSIFICATION, 6),
    ("spinal_cord_injury_loc", DETECTION, 1),
    ("thyroid_nodule_det", DETECTION, 1),
    ("uterine_fibroid_det", DETECTION, 1),
    ("breast_lesion", SEGMENTATION, 2),
    ("cardiac_multi", SEGMENTATION, 4),
    ("carotid_artery", SEGMENTATION, 2),
    ("cervix", SEGMENTATION, 2),
    ("cervix_multi", SEGMENTATION, 3),
    ("fetal_abdomen_multi", SEGMENTATION, 5),
    ("fetal_head", SEGMENTATION, 2),
    ("fetal_heart", SEGMENTATION, 2),
    ("head_symphysis_multi", SEGMENTATION, 3),
    ("lung", SEGMENTATION, 2),
    ("ovary_tumor", SEGMENTATION, 2),
    ("thyroid_nodule", SEGMENTATION, 2),
]
TASKS = {task_id: (task_type, n) for task_id, task_type, n in TASK_CONFIGURATIONS}
ENCODERS = [f"efficientnet-b{i}" for i in range(8)]

# docs/reference-model.md 6.1
LR_ENCODER = 1e-4
LR_HEADS = 1e-3
LR_DECODER = 1e-3  # only with include_decoder (Sono's default recipe)
WEIGHT_DECAY = 0.01
DETECTION_CLS_WEIGHT = 1.0
DETECTION_BOX_WEIGHT = 8.0


class RegressionHead(nn.Module):
    """features[-1] -> global average pool -> Linear(C_enc -> 2 * num_points)."""

    def __init__(self, in_channels, num_points):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(in_channels, 2 * num_points)

    def forward(self, features):
        return self.linear(torch.flatten(self.pool(features[-1]), 1))


class ClassificationHeadOnLastFeature(nn.Module):
    """SMP ClassificationHead (avg pool, Dropout 0.2, Linear) fed with features[-1].

    The attribute is named `head` so that the Linear's keys are `head.3.*`.
    """

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.head = ClassificationHead(in_channels, num_classes, pooling="avg", dropout=0.2)

    def forward(self, features):
        return self.head(features[-1])


class FPNGridDetectionHead(nn.Module):
    """Decoder output -> 2x (conv3x3, BN, ReLU) -> conv1x1 to 5 channels.

    Channels 0-3 (x_min, y_min, x_max, y_max in [0, 1]) are replaced in place by
    their sigmoid; channel 4 stays the objectness logit.
    """

    def __init__(self, in_channels):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, 5, 1),
        )

    def forward(self, x):
        out = self.conv_block(x)
        out[:, 0:4] = torch.sigmoid(out[:, 0:4])
        return out


def make_head(task_type, num_classes, encoder_channels, decoder_channels):
    if task_type == SEGMENTATION:
        return SegmentationHead(decoder_channels, num_classes, kernel_size=1, upsampling=4)
    if task_type == CLASSIFICATION:
        return ClassificationHeadOnLastFeature(encoder_channels, num_classes)
    if task_type == REGRESSION:
        return RegressionHead(encoder_channels, num_classes)
    if task_type == DETECTION:
        return FPNGridDetectionHead(decoder_channels)
    raise ValueError(f"unknown task type {task_type}")


class MultiTaskModel(nn.Module):
    def __init__(self, encoder_name="efficientnet-b4", tasks=TASK_CONFIGURATIONS):
        super().__init__()
        self.encoder = get_encoder(encoder_name, in_channels=3, depth=5, weights=None)
        # The decoder of a throw-away smp.FPN, so that it carries SMP's
        # decoder initialisation (docs/reference-model.md 7.4); the rest of it is dropped.
        self.fpn_decoder = smp.FPN(
            encoder_name=encoder_name, encoder_weights=None, in_channels=3, classes=1
        ).decoder
        encoder_channels = self.encoder.out_channels[-1]
        decoder_channels = self.fpn_decoder.out_channels
        self.heads = nn.ModuleDict(
            {
                task_id: make_head(task_type, n, encoder_channels, decoder_channels)
                for task_id, task_type, n in tasks
            }
        )

    def forward(self, x, task_id, trace=None):
        """trace: optional dict that receives "features" (list) and "decoder"."""
        features = self.encoder(x)
        if trace is not None:
            trace["features"] = features
        task_type = TASKS[task_id][0]
        if task_type in (SEGMENTATION, DETECTION):
            decoded = self.fpn_decoder(features)
            if trace is not None:
                trace["decoder"] = decoded
            return self.heads[task_id](decoded)
        return self.heads[task_id](features)


def disable_stochastic_layers(model):
    """Makes model.train() deterministic while keeping BN in batch-stat mode.

    Every nn.Dropout / nn.Dropout2d (decoder Dropout2d 0.2, classification
    Dropout 0.2) gets p = 0, which survives later model.train() calls. The
    encoder's drop-connect probability of block i is computed in its forward as
    encoder._drop_connect_rate * i / num_blocks; SMP copies that rate from the
    global params into this attribute at construction, and a block skips
    drop-connect (draws no random numbers) when its rate is 0.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0
    model.encoder._drop_connect_rate = 0.0


# ---- losses (docs/reference-model.md 5) --------------------------------------------------

def detection_cell_predictions(output, boxes):
    """Gathers output[b, :, row, col] at each target box's centre cell.

    Returns (pred (B, 5), cells (B, 2) int64 [row, col]). Centre coordinates are
    truncated towards zero then clamped, so invalid (-1) boxes land in cell 0.
    """
    b, _, h, w = output.shape
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    row = (cy * h).long().clamp(0, h - 1)
    col = (cx * w).long().clamp(0, w - 1)
    pred = output[torch.arange(b, device=output.device), :, row, col]
    return pred, torch.stack([row, col], dim=1)


def detection_loss(pred, boxes):
    """1.0 * BCEWithLogits(objectness, 1) + 8.0 * L1(box), over rows with a box."""
    valid = boxes[:, 0] >= 0
    if not bool(valid.any()):
        # Constant without a graph: backward produces no gradients at all.
        return torch.tensor(0.0, device=pred.device, requires_grad=True)
    logits = pred[valid, 4]
    cls = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    box = F.l1_loss(pred[valid, 0:4], boxes[valid])
    return DETECTION_CLS_WEIGHT * cls + DETECTION_BOX_WEIGHT * box


_dice = smp.losses.DiceLoss(mode="multiclass")


def task_loss(task_id, output, target):
    task_type = TASKS[task_id][0]
    if task_type == SEGMENTATION:
        return _dice(output, target)
    if task_type == CLASSIFICATION:
        return F.cross_entropy(output, target)
    if task_type == REGRESSION:
        return F.mse_loss(output, target)
    pred, _ = detection_cell_predictions(output, target)
    return detection_loss(pred, target)


# ---- optimizer (docs/reference-model.md 6.1) ---------------------------------------------

def build_optimizer(model, include_decoder=False):
    """AdamW: encoder at 1e-4, one group per head at 1e-3, weight decay 0.01.

    The baseline gives the FPN decoder to no group (it never trains);
    include_decoder=True adds it as a group at 1e-3 (Sono's default recipe).
    Call zero_grad(set_to_none=True): torch 1.13 defaults to zeroing, which
    would make AdamW decay and update every head on every step, unlike the
    baseline's torch 2.2.2.
    """
    groups = [{"params": list(model.encoder.parameters()), "lr": LR_ENCODER}]
    if include_decoder:
        groups.append({"params": list(model.fpn_decoder.parameters()), "lr": LR_DECODER})
    for head in model.heads.values():
        groups.append({"params": list(head.parameters()), "lr": LR_HEADS})
    return torch.optim.AdamW(
        groups, lr=LR_HEADS, betas=(0.9, 0.999), eps=1e-8, weight_decay=WEIGHT_DECAY
    )


# ---- --check ----------------------------------------------------------------

def default_tsv_path():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(os.path.dirname(repo), "shared", "reference", "mhmtl_b4_state_dict.tsv")


def numel(params):
    return sum(p.numel() for p in params)


def check_against_tsv(model, optimizer, tsv_path):
    errors = []
    state = model.state_dict()
    names = {id(p): n for n, p in model.named_parameters()}
    group_lr = {}
    for g in optimizer.param_groups:
        for p in g["params"]:
            group_lr[names[id(p)]] = g["lr"]
    with open(tsv_path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    if len(rows) != len(state):
        errors.append(f"TSV has {len(rows)} keys, model {len(state)}")
    params = dict(model.named_parameters())
    for row, (key, tensor) in zip(rows, state.items()):
        if row["key"] != key:
            errors.append(f"#{row['index']}: key {key}, TSV {row['key']}")
            continue
        shape = "[" + ",".join(str(s) for s in tensor.shape) + "]"
        dtype = str(tensor.dtype).replace("torch.", "")
        kind = "param" if key in params else "buffer"
        in_opt = "yes" if key in group_lr else ("NO" if kind == "param" else "-")
        lr = f"{group_lr[key]:.0e}".replace("e-0", "e-") if key in group_lr else "-"
        got = (shape, dtype, kind, in_opt, lr)
        want = (row["shape"], row["dtype"], row["kind"], row["in_baseline_optimizer"], row["base_lr"])
        if got != want:
            errors.append(f"{key}: model {got}, TSV {want}")
    return errors


def check(encoder_name, tsv_path):
    torch.manual_seed(0)
    model = MultiTaskModel(encoder_name)
    optimizer = build_optimizer(model)
    errors = []

    def expect(what, got, want):
        status = "ok" if got == want else "MISMATCH"
        print(f"  {what:44s} {got:>12,}  (spec {want:,}) {status}")
        if got != want:
            errors.append(f"{what}: {got} != {want}")

    state = model.state_dict()
    enc = model.encoder
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    buffers = dict(model.named_buffers())
    print(f"{encoder_name}: {len(state)} state_dict entries, {len(optimizer.param_groups)} param groups")
    print(f"  encoder out_channels {tuple(enc.out_channels)}")
    if encoder_name == "efficientnet-b4":
        expect("state_dict entries", len(state), 823)
        expect("total parameters", numel(model.parameters()), 20_268_076)
        expect("encoder parameters", numel(enc.parameters()), 17_548_616)
        expect("encoder unused _conv_head + _bn1", numel(enc._conv_head.parameters()) + numel(enc._bn1.parameters()), 806_400)
        expect("FPN decoder parameters", numel(model.fpn_decoder.parameters()), 1_803_008)
        expect("all 27 heads", numel(model.heads.parameters()), 916_452)
        expect("detection head", numel(model.heads["thyroid_nodule_det"].parameters()), 296_069)
        expect("parameters in no optimizer group", numel(p for p in model.parameters() if id(p) not in in_optimizer), 1_803_008)
        expect("running-stat buffer elements", sum(b.numel() for n, b in buffers.items() if "running" in n), 126_736)
        expect("num_batches_tracked counters", sum(1 for n in buffers if n.endswith("num_batches_tracked")), 102)
        expect("param groups (encoder + 27 heads)", len(optimizer.param_groups), 28)
        for task_id, task_type, n in TASK_CONFIGURATIONS:
            per = {SEGMENTATION: 129 * n, CLASSIFICATION: 449 * n, REGRESSION: 449 * 2 * n, DETECTION: 296_069}[task_type]
            if numel(model.heads[task_id].parameters()) != per:
                errors.append(f"head {task_id}: {numel(model.heads[task_id].parameters())} params, spec {per}")
        if tsv_path and os.path.exists(tsv_path):
            tsv_errors = check_against_tsv(model, optimizer, tsv_path)
            print(f"  TSV {os.path.basename(tsv_path)}: {'ok' if not tsv_errors else f'{len(tsv_errors)} mismatches'}")
            errors += tsv_errors
        else:
            print(f"  TSV not found ({tsv_path}): key/shape/dtype table not checked")
    else:
        print(f"  total parameters {numel(model.parameters()):,}, encoder {numel(enc.parameters()):,}, "
              f"decoder {numel(model.fpn_decoder.parameters()):,}, heads {numel(model.heads.parameters()):,}")

    # Output shapes and finite losses, one task per type (eval: no batch-stat noise).
    model.eval()
    size, batch = 256, 2
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        for task_id in ("cardiac_multi", "organ_cls", "IUGC", "thyroid_nodule_det"):
            task_type, n = TASKS[task_id]
            out = model(x, task_id)
            want = {SEGMENTATION: (batch, n, size, size), CLASSIFICATION: (batch, n),
                    REGRESSION: (batch, 2 * n), DETECTION: (batch, 5, size // 4, size // 4)}[task_type]
            ok = tuple(out.shape) == want
            print(f"  output {task_id:20s} {tuple(out.shape)} {'ok' if ok else 'MISMATCH want ' + str(want)}")
            if not ok:
                errors.append(f"output shape {task_id}")
            if task_type == DETECTION and not (0 <= out[:, 0:4].min() and out[:, 0:4].max() <= 1):
                errors.append("detection box channels not in [0, 1]")

    for e in errors:
        print("ERROR:", e)
    print("check:", "FAILED" if errors else "passed")
    return not errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="verify structure, counts and shapes")
    ap.add_argument("--encoder", default="efficientnet-b4", choices=ENCODERS)
    ap.add_argument("--tsv", default=default_tsv_path(), help="mhmtl_b4_state_dict.tsv (B4 only)")
    args = ap.parse_args()
    if not args.check:
        ap.print_help()
        return 0
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return 0 if check(args.encoder, args.tsv) else 1


if __name__ == "__main__":
    sys.exit(main())
