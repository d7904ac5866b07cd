"""Writes the libFuzzer seed corpus for torch_checkpoint_fuzz (fuzz/corpus/torch_checkpoint/).

Small checkpoints written by the real torch.save, in both formats: plain and
wrapped state dicts, shared storages and views, every storage type, cuda-tagged
storages, pickle protocols 2 and 4, and a hostile os.system pickle. Run with the
reference environment (tools/setup_reference.sh):
  .venv-ref/bin/python fuzz/make_corpus.py fuzz/corpus/torch_checkpoint
"""
import collections
import os
import pickle
import sys
import zipfile

import torch


def views():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(3, 4, generator=g)
    sd = collections.OrderedDict()
    sd["w"] = base
    sd["w_t"] = base.t()
    sd["slice"] = base[1:, ::2]
    sd["expand"] = base[0, :1].expand(2, 3)
    sd["scalar"] = torch.tensor(1.5)
    sd["empty"] = torch.empty(0, 2)
    sd._metadata = {"": {"version": 1}}
    return sd


def dtypes():
    sd = collections.OrderedDict()
    for dt in (torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16, torch.int8,
               torch.uint8, torch.bool):
        sd[str(dt)] = (torch.arange(4) % 3).to(dt)
    return sd


def wrapped():
    p = torch.nn.Parameter(torch.ones(2, 2))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    p.sum().backward()
    opt.step()
    return {"epoch": 1, "state_dict": collections.OrderedDict(p=p.detach()), "optimizer": opt.state_dict(),
            "extra": [None, True, 2.5, (1, "x")]}


def save(obj, path, legacy=False, protocol=2, location=None):
    import torch.serialization as ts
    original = ts.location_tag
    if location:
        ts.location_tag = lambda storage: location
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)
    finally:
        ts.location_tag = original


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    small = collections.OrderedDict(w=torch.randn(2, 3, generator=torch.Generator().manual_seed(0)), b=torch.zeros(3))
    for fmt, legacy in (("zip", False), ("legacy", True)):
        save(small, f"{out}/small_{fmt}.pth", legacy)
        save(views(), f"{out}/views_{fmt}.pth", legacy)
        save(dtypes(), f"{out}/dtypes_{fmt}.pth", legacy)
        save(views(), f"{out}/cuda_{fmt}.pth", legacy, location="cuda:0")
        save(small, f"{out}/protocol4_{fmt}.pth", legacy, protocol=4)
        save(wrapped(), f"{out}/wrapped_{fmt}.pth", legacy)
        save({"p": torch.nn.Parameter(torch.ones(2))}, f"{out}/parameter_{fmt}.pth", legacy)
    evil = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
    with zipfile.ZipFile(f"{out}/hostile_zip.pth", "w", zipfile.ZIP_STORED) as z:
        z.writestr("x/data.pkl", evil)
    with open(f"{out}/hostile_legacy.pth", "wb") as f:
        for header in (0x1950a86a20f9469cfc6c, 1001, dict(protocol_version=1001, little_endian=True)):
            f.write(pickle.dumps(header, protocol=2))
        f.write(evil + pickle.dumps([], protocol=2))
    print(f"make_corpus: {len(os.listdir(out))} files, {sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))} bytes")


if __name__ == "__main__":
    main()
