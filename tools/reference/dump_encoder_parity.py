"""EfficientNet-B0 encoder checkpoints in every supported layout, and the
features SMP's encoder computes with their weights: what Sono must reproduce
after reading and converting them (io/torch_checkpoint.h, model/key_maps.h,
`sono convert`).

    python dump_encoder_parity.py --out DIR [--seed 0] [--threads 2]

Writes into DIR, with the real packages and random weights (no downloads):

  lukemelas_b0_legacy.pth, lukemelas_b0_zip.pth
        EfficientNet.from_name('efficientnet-b0') (efficientnet_pytorch 0.7.1),
        torch.save in the legacy (pre-1.6) and the zip format, same weights
  smp_b0.safetensors    SMP get_encoder('efficientnet-b0') state dict (the
                        smp-hub model.safetensors layout: lukemelas keys, no _fc)
  torchvision_b0.pth    torchvision efficientnet_b0
  timm_b0.pth           timm efficientnet_b0
  tf_efficientnet_b0.pth  timm tf_efficientnet_b0
  features.safetensors
        x                         f32 [2, 3, 128, 128], standard normal
        <layout>.feature.<i>      i = 0..5: SMP's encoder (eval mode) on x after
                                  loading that checkpoint's weights renamed to
                                  lukemelas keys (positionally, docs/reference-model.md 7.3;
                                  classifier dropped)
        <layout>.own.feature.<i>  i = 1..5, torchvision, timm, tf_efficientnet
                                  only: the library's own model on x (its own
                                  padding and BN eps), read at the same blocks
  manifest.json         per checkpoint: file, format, layout, feature prefix, key count

Layouts: lukemelas (both .pth files), smp, torchvision, timm, tf_efficientnet.
Each layout has its own random weights, so a checkpoint loaded under the wrong
name cannot match.

What the `own` features show (docs/reference-model.md 7.3): torchvision and timm
efficientnet_b0 use BN eps 1e-5 and symmetric padding, so their own outputs
differ from the SMP encoder's with the same weights; converting their weights
into Sono gives SMP's numerics, not theirs. tf_efficientnet_b0 (BN eps 1e-3,
dynamic TF-same padding on the stride-2 convs) differs from SMP's static
padding only where the static padding (computed for the variant's image size:
224 for b0, 380 for b4) differs from the dynamic one for the actual input: for
b0 at 128x128 every stride-2 conv sees an even size on both sides, so the pads
agree and its own features equal SMP's up to rounding (for B4 at 256 they part
at blk6, docs/reference-model.md 7.3).

Weights: the libraries' default random init; then every BatchNorm gets random
affine parameters and running statistics measured on a separate random batch
(calibrate_batchnorm), so that eval-mode BN is exercised with input-dependent
activations of order 1 through the whole network (with the default 0/1
statistics the deep features would shrink to their BN biases and say little
about the convolutions).
"""
import argparse
import collections
import json
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see mhmtl.py

import torch
import torch.nn as nn
import torchvision
import timm
from efficientnet_pytorch import EfficientNet
from safetensors.torch import save_file
from segmentation_models_pytorch.encoders import get_encoder

VARIANT = "efficientnet-b0"
INPUT_SHAPE = (2, 3, 128, 128)


def calibrate_batchnorm(model, gen, run):
    """Random BN affine parameters, then eval-mode running statistics of order 1, perturbed.

    Each BatchNorm's running stats are set, just before it first runs in one
    eval-mode pass `run(model)`, to the mean/variance of its actual input
    (upstream layers already calibrated), then perturbed: mean + 0.1 std * N(0, 1),
    var * U(0.7, 1.4). One pass in eval mode, so no batch statistics, dropout or
    drop-connect are involved; BN layers that `run` does not reach keep random
    statistics. Activations stay of order 1 and input dependent through the
    whole network.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def pre_hook(m, inputs):
        if m.calibrated:
            return
        x = inputs[0].double()
        dims = [d for d in range(x.dim()) if d != 1]
        var = x.var(dim=dims, unbiased=True) + 1e-4
        c = m.num_features
        m.running_mean.copy_(x.mean(dim=dims) + 0.1 * var.sqrt() * torch.randn(c, generator=gen, dtype=torch.float64))
        m.running_var.copy_(var * torch.empty(c, dtype=torch.float64).uniform_(0.7, 1.4, generator=gen))
        m.calibrated = True

    handles = []
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            m.weight.copy_(torch.empty(c).uniform_(0.5, 1.5, generator=gen))
            m.bias.copy_(0.2 * torch.randn(c, generator=gen))
            m.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
            m.running_var.copy_(torch.empty(c).uniform_(0.5, 2.0, generator=gen))
            m.num_batches_tracked.fill_(int(torch.randint(1, 10000, (1,), generator=gen)))
            m.calibrated = False
            handles.append(m.register_forward_pre_hook(pre_hook))
        model.eval()
        run(model)
    for h in handles:
        h.remove()
    for m in bns:
        del m.calibrated


def lukemelas_keys():
    """Key -> shape, in state_dict order."""
    return collections.OrderedDict((k, v.shape) for k, v in EfficientNet.from_name(VARIANT).state_dict().items())


def to_lukemelas(state_dict, target_keys):
    """Positional renaming (docs/reference-model.md 7.3: same tensors, same shapes, same order)."""
    shapes = target_keys
    src = list(state_dict.items())
    assert len(src) == len(target_keys), (len(src), len(target_keys))
    out = collections.OrderedDict()
    for (k, v), t in zip(src, target_keys):
        assert v.shape == shapes[t], (k, t, v.shape, shapes[t])
        out[t] = v
    return out


def smp_encoder(lukemelas_state_dict):
    enc = get_encoder(VARIANT, in_channels=3, depth=5, weights=None)
    sd = collections.OrderedDict((k, v) for k, v in lukemelas_state_dict.items() if not k.startswith("_fc."))
    enc.load_state_dict(sd, strict=True)
    return enc.eval()


def smp_features(lukemelas_state_dict, x):
    with torch.no_grad():
        # feature 0 is x itself: unshared so that safetensors stores each key
        return [f.contiguous().clone() for f in smp_encoder(lukemelas_state_dict)(x)]


def calibrate_through_smp(model, to_lukemelas_keys, gen, calib):
    """calibrate_batchnorm on the SMP encoder that gets this model's weights, written back.

    The BN statistics must fit the forward that is compared (SMP's), not the
    library's own (other padding and eps): otherwise the deep features drift
    to their BN biases.
    """
    sd_l = to_lukemelas_keys(model.state_dict())  # tensors share the model's storage
    enc = smp_encoder(sd_l)
    calibrate_batchnorm(enc, gen, lambda m: m(calib))
    with torch.no_grad():
        for k, v in enc.state_dict().items():
            sd_l[k].copy_(v)


def out_indexes():
    return get_encoder(VARIANT, weights=None)._out_indexes


def stem_and_block_features(stem, blocks, x):
    """stem(x), then the outputs of the SMP feature blocks among `blocks` run in turn."""
    idx = out_indexes()
    feats = []
    with torch.no_grad():
        h = stem(x)
        feats.append(h)
        for i, b in enumerate(blocks):
            h = b(h)
            if i in idx:
                feats.append(h)
    return [f.contiguous() for f in feats]


def own_features_torchvision(model, x):
    """Stem output and the outputs of the SMP feature blocks, in torchvision's own forward."""
    return stem_and_block_features(model.features[0], [b for stage in model.features[1:8] for b in stage], x)


def own_features_timm(model, x):
    return stem_and_block_features(lambda t: model.bn1(model.conv_stem(t)),  # BatchNormAct2d: BN + SiLU
                                   [b for stage in model.blocks for b in stage], x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    os.makedirs(out, exist_ok=True)

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(INPUT_SHAPE, generator=gen)
    calib = torch.randn(INPUT_SHAPE, generator=gen)
    target_keys = lukemelas_keys()
    tensors = {"x": x}
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
                "variant": VARIANT, "input_shape": list(INPUT_SHAPE), "seed": args.seed, "checkpoints": []}

    def record(file, fmt, layout, sd):
        manifest["checkpoints"].append(dict(file=file, format=fmt, layout=layout, features=layout + ".feature",
                                            keys=len(sd)))

    def add_features(prefix, feats, first=0):
        for i, f in enumerate(feats):
            tensors[f"{prefix}.{i + first}"] = f

    # (layout, builder, own-forward function or None)
    layouts = [
        ("lukemelas", lambda: EfficientNet.from_name(VARIANT), None),
        ("smp", lambda: get_encoder(VARIANT, in_channels=3, depth=5, weights=None), None),
        ("torchvision", lambda: torchvision.models.efficientnet_b0(), own_features_torchvision),
        ("timm", lambda: timm.create_model("efficientnet_b0", pretrained=False), own_features_timm),
        ("tf_efficientnet", lambda: timm.create_model("tf_efficientnet_b0", pretrained=False), own_features_timm),
    ]
    for k, (layout, build, own) in enumerate(layouts):
        torch.manual_seed(args.seed * 100 + k + 1)  # each layout its own weights
        model = build()
        keys_of = (lambda sd: sd) if layout in ("lukemelas", "smp") else (lambda sd: to_lukemelas(sd, target_keys))
        calibrate_through_smp(model, keys_of, gen, calib)
        sd = model.state_dict()
        sd_l = keys_of(sd)
        if layout == "smp":
            save_file({n: v.contiguous() for n, v in sd.items()}, os.path.join(out, "smp_b0.safetensors"))
            record("smp_b0.safetensors", "safetensors", layout, sd)
        elif layout == "lukemelas":
            for fmt, legacy in (("legacy", True), ("zip", False)):
                file = f"lukemelas_b0_{fmt}.pth"
                torch.save(sd, os.path.join(out, file), _use_new_zipfile_serialization=not legacy)
                record(file, fmt, layout, sd)
        else:
            file = f"{layout}_b0.pth"
            torch.save(sd, os.path.join(out, file))
            record(file, "zip", layout, sd)
        add_features(layout + ".feature", smp_features(sd_l, x))
        if own is not None:
            model.eval()
            add_features(layout + ".own.feature", own(model, x), first=1)

    summary = {}
    for layout in ("torchvision", "timm", "tf_efficientnet"):
        errs = []
        for i in range(1, 6):
            a, b = tensors[f"{layout}.own.feature.{i}"], tensors[f"{layout}.feature.{i}"]
            errs.append(float((a - b).abs().max() / b.abs().max()))
        summary[layout] = errs
        print(f"dump_encoder_parity: {layout}: own forward vs SMP encoder, max rel error per feature 1..5: "
              + ", ".join(f"{e:.2e}" for e in errs))
    manifest["own_vs_smp_max_rel_error"] = summary
    save_file(tensors, os.path.join(out, "features.safetensors"),
              metadata={"format": "sono-encoder-parity-1", "variant": VARIANT})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"dump_encoder_parity: wrote {len(manifest['checkpoints'])} checkpoints and {len(tensors)} tensors to {out}")


if __name__ == "__main__":
    main()
