"""Keep numpy's BLAS on one thread while training the small CNN.

Its matrices are tiny (about 1000 x 100), where a multi-threaded OpenBLAS only pays for thread hand-off;
on a loaded 2-core machine that made single products 30x slower (measured 12-50 ms vs 0.4 ms).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging

log = logging.getLogger(__name__)

_SETTERS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)
_GETTERS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _openblas() -> ctypes.CDLL | None:
    import numpy  # noqa: F401  (loads the BLAS)

    try:
        with open("/proc/self/maps") as fh:
            libs = sorted({ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ".so" in ln})
    except OSError:
        return None
    for path in libs:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


@contextlib.contextmanager
def single_thread_blas():
    """Context manager; a no-op where the BLAS cannot be found (then it simply runs as configured)."""
    lib = _openblas()
    setter = next((getattr(lib, n) for n in _SETTERS if lib is not None and hasattr(lib, n)), None)
    getter = next((getattr(lib, n) for n in _GETTERS if lib is not None and hasattr(lib, n)), None)
    if setter is None or getter is None:
        log.debug("OpenBLAS thread control not found; leaving BLAS threads as they are")
        yield
        return
    before = int(getter())
    setter(1)
    try:
        yield
    finally:
        setter(before)
