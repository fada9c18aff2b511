/* Shared declarations of the C kernels in native._kernels. Each kernel file exports its
 * PyMethodDef entries through a CUEKIT_*_METHODS macro collected in module.c. */
#ifndef CUEKIT_KERNELS_H
#define CUEKIT_KERNELS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyObject *ck_normalize_u8(PyObject *self, PyObject *args, PyObject *kwargs);

#endif
