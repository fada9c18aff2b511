/* uint8 image -> float32 tensor with a value-range mapping, optionally NHWC -> NCHW.
 * The first kernel of the package: the tail of every vision model's preprocessing. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>

PyObject *ck_normalize_u8(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"image", "lo", "hi", "nchw", NULL};
    PyObject *obj;
    float lo = 0.0f, hi = 1.0f;
    int nchw = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|ffp", kwlist, &obj, &lo, &hi, &nchw))
        return NULL;
    if (!isfinite(lo) || !isfinite(hi)) {
        PyErr_SetString(PyExc_ValueError, "normalize_u8: lo and hi must be finite");
        return NULL;
    }
    if (!PyArray_Check(obj)) {
        PyErr_SetString(PyExc_TypeError, "normalize_u8: image must be a numpy array");
        return NULL;
    }
    PyArrayObject *img = (PyArrayObject *)obj;
    if (PyArray_TYPE(img) != NPY_UINT8) {
        PyErr_SetString(PyExc_TypeError, "normalize_u8: image dtype must be uint8");
        return NULL;
    }
    if (PyArray_NDIM(img) != 3 && PyArray_NDIM(img) != 2) {
        PyErr_Format(PyExc_ValueError, "normalize_u8: image must be HxW or HxWxC, got %d dims",
                     PyArray_NDIM(img));
        return NULL;
    }
    if (!PyArray_IS_C_CONTIGUOUS(img)) {
        PyErr_SetString(PyExc_ValueError, "normalize_u8: image must be C-contiguous");
        return NULL;
    }
    npy_intp h = PyArray_DIM(img, 0), w = PyArray_DIM(img, 1);
    npy_intp c = PyArray_NDIM(img) == 3 ? PyArray_DIM(img, 2) : 1;
    if (h <= 0 || w <= 0 || c <= 0) {
        PyErr_SetString(PyExc_ValueError, "normalize_u8: image has a zero-sized dimension");
        return NULL;
    }
    npy_intp dims[3];
    int nd = PyArray_NDIM(img);
    if (nd == 3 && nchw) { dims[0] = c; dims[1] = h; dims[2] = w; }
    else { dims[0] = h; dims[1] = w; dims[2] = c; }
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(nd, dims, NPY_FLOAT32);
    if (!out) return NULL;
    const unsigned char *src = (const unsigned char *)PyArray_DATA(img);
    float *dst = (float *)PyArray_DATA(out);
    float table[256];
    float scale = (hi - lo) / 255.0f;
    for (int v = 0; v < 256; v++) table[v] = lo + scale * (float)v;
    Py_BEGIN_ALLOW_THREADS
    npy_intp n = h * w;
    if (nd == 3 && nchw) {
        for (npy_intp ch = 0; ch < c; ch++) {
            float *plane = dst + ch * n;
            for (npy_intp i = 0; i < n; i++) plane[i] = table[src[i * c + ch]];
        }
    } else {
        for (npy_intp i = 0; i < n * c; i++) dst[i] = table[src[i]];
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
