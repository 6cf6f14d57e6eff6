"""What instruction set the PyTorch peer actually runs, for the bench's header.

PyTorch's own kernels report their dispatch level in torch.__config__.show() ("CPU capability usage");
OpenBLAS (which Debian's PyTorch uses for GEMM) names its kernel family through openblas_get_corename();
oneDNN's ISA cap (ONEDNN_MAX_CPU_ISA) is only read by oneDNN itself, so it is reported as set or not.
"""
import ctypes
import os

import torch


def describe():
    capability = next((line.split(":", 1)[1].strip() for line in torch.__config__.show().splitlines()
                       if "CPU capability usage" in line), None)
    if capability is None and hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability"):
        capability = torch.backends.cpu.get_cpu_capability()
    openblas = None
    try:
        # The library PyTorch already loaded: dlopen of the same soname returns it.
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        openblas = lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "capability": capability,
        "openblas_core": openblas,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "aten_cpu_capability": os.environ.get("ATEN_CPU_CAPABILITY"),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
