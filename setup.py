"""Build of the C extension `native._kernels`; everything else is in pyproject.toml.

Every .c file in native/src is compiled into the one extension so that a new kernel needs no
build change. Warnings are errors, so a sloppy kernel fails the build, not a user.
"""
import os
from glob import glob

import numpy
from setuptools import Extension, setup

extra = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
         "-Wno-missing-field-initializers", "-fno-strict-aliasing"]
link = []
if os.environ.get("CUEKIT_SANITIZE"):
    # AddressSanitizer + UBSan build for the sanitizer test run (native/sanitize.sh)
    extra += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
              "-fno-sanitize-recover=undefined"]
    link += ["-fsanitize=address,undefined"]

setup(
    ext_modules=[
        Extension(
            "native._kernels",
            sources=sorted(glob("native/src/*.c")),
            include_dirs=[numpy.get_include(), "native/src"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")],
            extra_compile_args=extra,
            extra_link_args=link,
        )
    ]
)
