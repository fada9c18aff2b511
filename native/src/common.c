/* Argument checks shared by every entry point: a bad array becomes a Python exception naming the
 * function and the argument, never an out-of-bounds read in a kernel. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>

PyArrayObject *ck_array(PyObject *obj, const char *fn, const char *name, int typenum, int min_nd,
                        int max_nd) {
    if (!PyArray_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be a numpy array, got %s", fn, name,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)obj;
    if (PyArray_TYPE(a) != typenum) {
        PyArray_Descr *want = PyArray_DescrFromType(typenum);
        PyErr_Format(PyExc_TypeError, "%s: %s must have dtype %c%d, got %c%d", fn, name,
                     want->kind, (int)PyDataType_ELSIZE(want), PyArray_DESCR(a)->kind,
                     (int)PyDataType_ELSIZE(PyArray_DESCR(a)));
        Py_DECREF(want);
        return NULL;
    }
    if (!PyArray_ISNOTSWAPPED(a)) {
        PyErr_Format(PyExc_TypeError, "%s: %s must be in native byte order", fn, name);
        return NULL;
    }
    int nd = PyArray_NDIM(a);
    if (nd < min_nd || nd > max_nd) {
        if (min_nd == max_nd)
            PyErr_Format(PyExc_ValueError, "%s: %s must have %d dimensions, got %d", fn, name,
                         min_nd, nd);
        else
            PyErr_Format(PyExc_ValueError, "%s: %s must have %d to %d dimensions, got %d", fn,
                         name, min_nd, max_nd, nd);
        return NULL;
    }
    for (int i = 0; i < nd; i++) {
        if (PyArray_DIM(a, i) <= 0) {
            PyErr_Format(PyExc_ValueError, "%s: %s has an empty dimension (shape[%d] = %zd)", fn,
                         name, i, (Py_ssize_t)PyArray_DIM(a, i));
            return NULL;
        }
    }
    return a;
}

int ck_require_contiguous(PyArrayObject *a, const char *fn, const char *name) {
    if (!PyArray_IS_C_CONTIGUOUS(a)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %s must be C-contiguous (pass np.ascontiguousarray(%s))", fn, name,
                     name);
        return -1;
    }
    return 0;
}

int ck_require_writeable(PyArrayObject *a, const char *fn, const char *name) {
    if (!PyArray_ISWRITEABLE(a)) {
        PyErr_Format(PyExc_ValueError, "%s: %s must be writeable", fn, name);
        return -1;
    }
    return 0;
}

int ck_all_finite_f64(const double *x, npy_intp n) {
    for (npy_intp i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

int ck_all_finite_f32(const float *x, npy_intp n) {
    for (npy_intp i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}
