"""CueKit's C kernels (compiled by the package build as `native._kernels`) and their Python faces."""
from native._kernels import normalize_u8

__all__ = ["normalize_u8"]
