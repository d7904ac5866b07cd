"""Dumps OpenCV resize fixtures for Sono's data pipeline (docs/reference-model.md 6.3, step 1).

    python dump_opencv_resize.py --out DIR [--seed 0] [--size 256]

The baseline's albumentations Resize(256, 256) calls cv2.resize with
INTER_LINEAR for images and INTER_NEAREST for masks. This writes random uint8
images and label masks and their resized versions to
DIR/opencv_resize.safetensors, and checks that albumentations' Resize gives the
same bytes as plain cv2.resize. Key names: see README.md next to this file.
"""
import argparse
import os
import sys

import albumentations as A
import cv2
import numpy as np
import torch
from safetensors.torch import save_file

# (height, width): square downscale, a typical ultrasound frame, odd sizes, an
# upscale, and an exact 2x downscale (for which OpenCV's INTER_LINEAR switches to
# INTER_AREA, a 2x2 box mean rounded as (sum + 2) >> 2).
SIZES = [(300, 300), (540, 800), (37, 53), (20, 30), (512, 512)]
CHANNELS = [3, 1]
MASK_CLASSES = 5


def resize(img, size, interpolation):
    out = cv2.resize(img, (size, size), interpolation=interpolation)
    return out.reshape(size, size, *img.shape[2:])  # cv2 drops a trailing 1-channel axis


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    album = A.Resize(args.size, args.size)  # defaults: INTER_LINEAR image, INTER_NEAREST mask
    tensors = {}
    for h, w in SIZES:
        mask = rng.integers(0, MASK_CLASSES, (h, w), dtype=np.uint8)
        mask_out = resize(mask, args.size, cv2.INTER_NEAREST)
        tensors[f"mask.{h}x{w}.src"] = mask
        tensors[f"mask.{h}x{w}.dst"] = mask_out
        for c in CHANNELS:
            img = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
            img_out = resize(img, args.size, cv2.INTER_LINEAR)
            tensors[f"image.{h}x{w}x{c}.src"] = img
            tensors[f"image.{h}x{w}x{c}.dst"] = img_out
            ref = album(image=img, mask=mask)
            if not (np.array_equal(ref["image"].reshape(img_out.shape), img_out)
                    and np.array_equal(ref["mask"], mask_out)):
                sys.exit(f"albumentations Resize differs from cv2.resize at {h}x{w}x{c}")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "opencv_resize.safetensors")
    meta = {
        "format": "sono-resize-1",
        "opencv": cv2.__version__,
        "albumentations": A.__version__,
        "size": str(args.size),
        "seed": str(args.seed),
        "image_interpolation": "cv2.INTER_LINEAR",
        "mask_interpolation": "cv2.INTER_NEAREST",
    }
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}, path, metadata=meta)
    print(f"dump_opencv_resize: {len(tensors)} tensors, {os.path.getsize(path) / 2**20:.2f} MiB -> {path} "
          f"(opencv {cv2.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
