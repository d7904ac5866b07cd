"""Versions of the CUDA libraries the kit's binaries load on this machine, read
from the libraries themselves (no GPU needed), and of the Python packages the
PyTorch side uses, read from their metadata (torch is not imported).

    python3 versions.py --cudart PATH --cublas PATH --cudnn PATH

Prints "libraries: ..." and "torch: ..." lines for tools/gpu/run.sh.
"""
import argparse
import ctypes
import importlib.metadata as metadata


def cudart_versions(path):
    lib = ctypes.CDLL(path)
    runtime, driver = ctypes.c_int(0), ctypes.c_int(0)
    lib.cudaRuntimeGetVersion(ctypes.byref(runtime))
    lib.cudaDriverGetVersion(ctypes.byref(driver))  # 0 where no driver is installed
    fmt = lambda v: f"{v.value // 1000}.{v.value % 1000 // 10}" if v.value else "none"
    return f"CUDA runtime {fmt(runtime)} (driver API {fmt(driver)})"


def cublas_version(path):
    lib = ctypes.CDLL(path)
    parts = []
    for prop in range(3):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
        v = ctypes.c_int(0)
        lib.cublasGetProperty(prop, ctypes.byref(v))
        parts.append(str(v.value))
    return "cuBLAS " + ".".join(parts)


def cudnn_version(path):
    lib = ctypes.CDLL(path)
    lib.cudnnGetVersion.restype = ctypes.c_size_t
    v = lib.cudnnGetVersion()  # cuDNN 9: major * 10000 + minor * 100 + patch
    return f"cuDNN {v // 10000}.{v % 10000 // 100}.{v % 100}"


def package_versions():
    names = ["torch", "torchvision", "timm", "segmentation-models-pytorch", "nvidia-cudnn-cu13", "nvidia-cublas",
             "nvidia-cublas-cu13", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu13"]
    found = []
    for n in names:
        try:
            found.append(f"{n} {metadata.version(n)}")
        except metadata.PackageNotFoundError:
            pass
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cudart", default="")
    ap.add_argument("--cublas", default="")
    ap.add_argument("--cudnn", default="")
    args = ap.parse_args()
    libs = []
    for path, read, what in ((args.cudart, cudart_versions, "CUDA runtime"), (args.cublas, cublas_version, "cuBLAS"),
                             (args.cudnn, cudnn_version, "cuDNN")):
        try:
            libs.append(read(path) if path else f"{what} not loaded")
        except (OSError, AttributeError) as e:
            libs.append(f"{what} unreadable ({e})")
    print("libraries: " + ", ".join(libs))
    packages = package_versions()
    torch = next((p for p in packages if p.startswith("torch ")), "torch not installed")
    print("torch: " + torch.replace("torch ", "", 1) + "; " + ", ".join(p for p in packages if not p.startswith("torch ")))


if __name__ == "__main__":
    main()
