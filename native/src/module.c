/* native._kernels: the module object and its method table. Kernels live in their own files. */
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>

static PyMethodDef methods[] = {
    {"normalize_u8", (PyCFunction)(void (*)(void))ck_normalize_u8, METH_VARARGS | METH_KEYWORDS,
     "normalize_u8(image, lo=0.0, hi=1.0, nchw=False) -> float32 array mapping 0..255 to lo..hi"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "native._kernels", "CueKit's C preprocessing kernels.", -1, methods,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    import_array();
    return PyModule_Create(&moduledef);
}
