"""Device and precision choice: code is device-agnostic, these pick what the machine has."""

from __future__ import annotations

import contextlib

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel


def pick_device(name: str = "auto") -> torch.device:
    """auto: cuda, then mps, then cpu."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_native(device: torch.device) -> bool:
    """Whether bf16 matmuls are fast here (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def pick_precision(name: str, device: torch.device) -> str:
    """auto: bf16 where it is native, else fp32."""
    if name == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    return name


def autocast(device: torch.device, precision: str):
    """bf16 autocast, or nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def attention_kernels(device: torch.device):
    """For training steps: on a CPU the math attention kernel is about 1.5x faster than flash attention, whose
    backward pass is slow there; elsewhere torch chooses."""
    if device.type == "cpu":
        return sdpa_kernel([SDPBackend.MATH])
    return contextlib.nullcontext()


def _libc_trim():
    """glibc's malloc_trim, or None (another C library, another OS)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _libc_trim()


def trim_host_memory(device: torch.device) -> None:
    """Hand the freed parts of the heap back to the system. Steps of varying shape (contexts, day sizes) leave
    glibc's heap fragmented: without this, a CPU run's resident memory grows epoch by epoch to twice its need."""
    if device.type == "cpu" and _TRIM is not None:
        _TRIM(0)
