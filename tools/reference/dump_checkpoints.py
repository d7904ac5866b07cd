"""PyTorch checkpoints for the C++ checkpoint reader (io/torch_checkpoint.h).

Writes into OUT, with the real packages, random-valued state dicts (no
downloads) and the values they must read back as, in safetensors files:

  lukemelas_b0_zip.pth, lukemelas_b0_legacy.pth   EfficientNet.from_name('efficientnet-b0'),
                                                  zip and legacy (pre-1.6) formats
  lukemelas_b0.safetensors                        their expected tensors
  torchvision_b0.pth/.safetensors                 torchvision efficientnet_b0
  timm_b0.pth/.safetensors                        timm efficientnet_b0
  views_zip.pth, views_legacy.pth, views.safetensors
        tensors sharing one storage, non-contiguous views (transpose, strided
        slice, stride-0 expand), 0-d and empty tensors, a Parameter, and every
        storage type (expected values widened like the reader: half -> f32,
        int8/int16 -> i32, bool -> u8)
  cuda0_zip.pth, cuda0_legacy.pth                 the views dict with storages tagged 'cuda:0'
  wrapped.pth, wrapped.safetensors                {'epoch', 'state_dict', 'optimizer', ...}
  hostile_os_system_zip.pth, hostile_os_system_legacy.pth
        pickles whose GLOBAL is os.system (never loaded here; the reader must refuse them)
  manifest.json                                   what each file is

The C++ tests find them under $SONO_REF_FIXTURES/checkpoints.
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import torch
import torchvision
import timm
from efficientnet_pytorch import EfficientNet
from safetensors.torch import save_file


def randomized(state_dict, seed):
    """Every value random (BN statistics included) so that a wrong mapping cannot pass."""
    g = torch.Generator().manual_seed(seed)
    out = collections.OrderedDict()
    for k, v in state_dict.items():
        if v.is_floating_point():
            out[k] = torch.randn(v.shape, generator=g, dtype=v.dtype)
        else:
            out[k] = torch.randint(0, 1000, v.shape, generator=g, dtype=v.dtype)
    return out


def expected(state_dict):
    """Contiguous, unshared copies with the dtypes the C++ reader produces."""
    widen = {torch.float16: torch.float32, torch.int8: torch.int32, torch.int16: torch.int32,
             torch.bool: torch.uint8}
    return {k: v.detach().to(widen.get(v.dtype, v.dtype)).contiguous().clone() for k, v in state_dict.items()}


def save(obj, path, legacy):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    back = torch.load(path, map_location="cpu")
    assert type(back) is type(obj), path


def views_state_dict(seed):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(4, 6, generator=g)
    sd = collections.OrderedDict()
    sd["base"] = base
    sd["transposed"] = base.t()                      # same storage, strides (1, 6)
    sd["strided_slice"] = base[1:, ::2]               # offset 6, strides (6, 2)
    sd["row"] = base[2]                               # offset 12
    sd["expanded"] = base[0, :1].expand(3, 5)         # stride 0
    sd["scalar"] = torch.tensor(3.25, dtype=torch.float64)
    sd["empty"] = torch.empty(0, 3)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 3, generator=g))
    sd["f64"] = torch.randn(3, 2, generator=g, dtype=torch.float64).t()
    sd["f16"] = torch.randn(5, generator=g).half()
    sd["bf16"] = torch.randn(2, 2, generator=g).bfloat16()
    sd["i64"] = torch.randint(-2**40, 2**40, (3,), generator=g)
    sd["i32"] = torch.randint(-2**30, 2**30, (2, 2), generator=g, dtype=torch.int32)
    sd["i16"] = torch.randint(-2**15, 2**15, (4,), generator=g, dtype=torch.int16)
    sd["i8"] = torch.randint(-128, 128, (4,), generator=g, dtype=torch.int8)
    sd["u8"] = torch.randint(0, 256, (2, 3), generator=g, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["num_batches_tracked"] = torch.tensor(7)
    sd._metadata = {"": {"version": 1}}  # what Module.state_dict() attaches
    return sd


def save_with_location(obj, path, legacy, location):
    """torch.save as if the storages lived on `location` (map_location semantics on load)."""
    import torch.serialization as ts
    original = ts.location_tag
    ts.location_tag = lambda storage: location
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    finally:
        ts.location_tag = original
    with open(path, "rb") as f:
        assert location.encode() in f.read(), path


HOSTILE_PICKLE = (b"\x80\x02cos\nsystem\nq\x00X\x1c\x00\x00\x00echo sono-hostile-checkpointq\x01"
                  b"\x85q\x02Rq\x03.")


def write_hostile(out):
    with zipfile.ZipFile(os.path.join(out, "hostile_os_system_zip.pth"), "w", zipfile.ZIP_STORED) as z:
        z.writestr("hostile/data.pkl", HOSTILE_PICKLE)
        z.writestr("hostile/version", "3\n")
    magic = 0x1950a86a20f9469cfc6c
    sys_info = dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    with open(os.path.join(out, "hostile_os_system_legacy.pth"), "wb") as f:
        for header in (magic, 1001, sys_info):
            f.write(pickle.dumps(header, protocol=2))
        f.write(HOSTILE_PICKLE)
        f.write(pickle.dumps([], protocol=2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
                "files": {}}

    def record(name, what, **extra):
        manifest["files"][name] = dict(what=what, **extra)

    torch.manual_seed(0)
    models = [
        ("lukemelas_b0", lambda: EfficientNet.from_name("efficientnet-b0"), "lukemelas EfficientNet-PyTorch"),
        ("torchvision_b0", lambda: torchvision.models.efficientnet_b0(), "torchvision efficientnet_b0"),
        ("timm_b0", lambda: timm.create_model("efficientnet_b0", pretrained=False), "timm efficientnet_b0"),
    ]
    for seed, (name, make, what) in enumerate(models):
        sd = randomized(make().state_dict(), seed + 1)
        save_file(expected(sd), os.path.join(out, name + ".safetensors"))
        formats = [("zip", False), ("legacy", True)] if name == "lukemelas_b0" else [(None, False)]
        for fmt, legacy in formats:
            file = f"{name}_{fmt}.pth" if fmt else f"{name}.pth"
            save(sd, os.path.join(out, file), legacy)
            record(file, what, format="legacy" if legacy else "zip", expected=name + ".safetensors",
                   keys=list(sd.keys()), shapes=[list(v.shape) for v in sd.values()])

    views = views_state_dict(10)
    save_file(expected(views), os.path.join(out, "views.safetensors"))
    for fmt, legacy in (("zip", False), ("legacy", True)):
        save(views, os.path.join(out, f"views_{fmt}.pth"), legacy)
        record(f"views_{fmt}.pth", "shared storages, views, every storage type", format=fmt,
               expected="views.safetensors")
        save_with_location(views, os.path.join(out, f"cuda0_{fmt}.pth"), legacy, "cuda:0")
        record(f"cuda0_{fmt}.pth", "the views dict, storages tagged cuda:0", format=fmt, expected="views.safetensors")

    inner = randomized(collections.OrderedDict(
        (k, v) for k, v in torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).state_dict().items()), 20)
    params = [torch.nn.Parameter(v.clone()) for v in inner.values() if v.is_floating_point()]
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999))
    sum((p * p).sum() for p in params).backward()
    opt.step()
    wrapped = {"epoch": 3, "state_dict": inner, "optimizer": opt.state_dict(), "best_score": 0.5, "arch": "tiny",
               "flags": [True, None, (1, 2.5)]}
    save_file(expected(inner), os.path.join(out, "wrapped.safetensors"))
    save(wrapped, os.path.join(out, "wrapped.pth"), False)
    record("wrapped.pth", "a training checkpoint: the state dict under 'state_dict'", format="zip",
           expected="wrapped.safetensors")

    write_hostile(out)
    record("hostile_os_system_zip.pth", "data.pkl calls os.system", format="zip")
    record("hostile_os_system_legacy.pth", "main pickle calls os.system", format="legacy")

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"dump_checkpoints: wrote {len(manifest['files'])} checkpoints to {out}")


if __name__ == "__main__":
    main()
