/* Linear interpolation of irregularly timed samples (int64 ns stamps) at given query times.
 * Differences of int64 stamps are exact in double for any realistic span, so the
 * interpolation weight does not lose precision on a monotonic clock read in nanoseconds. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <stdint.h>

/* interp_linear(t (N,) i64 non-decreasing, values (N, C) f64, tq (M,) i64 non-decreasing)
 *   -> (M, C) f64; queries before t[0] / after t[N-1] hold the end values. Where stamps repeat,
 *   the last sample with that stamp wins. */
PyObject *ck_interp_linear(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "interp_linear";
    static char *kwlist[] = {"t", "values", "tq", NULL};
    PyObject *t_o, *v_o, *q_o;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO", kwlist, &t_o, &v_o, &q_o)) return NULL;
    PyArrayObject *t = ck_array(t_o, fn, "t_ns", NPY_INT64, 1, 1);
    if (!t || ck_require_contiguous(t, fn, "t_ns")) return NULL;
    PyArrayObject *v = ck_array(v_o, fn, "values", NPY_FLOAT64, 2, 2);
    if (!v || ck_require_contiguous(v, fn, "values")) return NULL;
    if (!PyArray_Check(q_o) || PyArray_TYPE((PyArrayObject *)q_o) != NPY_INT64 ||
        PyArray_NDIM((PyArrayObject *)q_o) != 1) {
        PyErr_Format(PyExc_TypeError, "%s: query times must be a 1-D int64 array", fn);
        return NULL;
    }
    PyArrayObject *q = (PyArrayObject *)q_o;
    if (ck_require_contiguous(q, fn, "query times")) return NULL;
    npy_intp n = PyArray_DIM(t, 0), c = PyArray_DIM(v, 1), m = PyArray_DIM(q, 0);
    if (PyArray_DIM(v, 0) != n) {
        PyErr_Format(PyExc_ValueError, "%s: values has %zd rows but t_ns has %zd", fn,
                     (Py_ssize_t)PyArray_DIM(v, 0), (Py_ssize_t)n);
        return NULL;
    }
    const int64_t *td = (const int64_t *)PyArray_DATA(t), *qd = (const int64_t *)PyArray_DATA(q);
    for (npy_intp i = 1; i < n; i++) {
        if (td[i] < td[i - 1]) {
            PyErr_Format(PyExc_ValueError, "%s: t_ns must be non-decreasing (t[%zd] < t[%zd])",
                         fn, (Py_ssize_t)i, (Py_ssize_t)(i - 1));
            return NULL;
        }
    }
    for (npy_intp i = 1; i < m; i++) {
        if (qd[i] < qd[i - 1]) {
            PyErr_Format(PyExc_ValueError, "%s: query times must be non-decreasing", fn);
            return NULL;
        }
    }
    if ((double)m * (double)c > (double)CK_MAX_ELEMENTS) {
        PyErr_Format(PyExc_ValueError, "%s: output of %zd x %zd exceeds the element cap", fn,
                     (Py_ssize_t)m, (Py_ssize_t)c);
        return NULL;
    }
    npy_intp dims[2] = {m, c};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT64);
    if (!out) return NULL;
    const double *vd = (const double *)PyArray_DATA(v);
    double *od = (double *)PyArray_DATA(out);
    Py_BEGIN_ALLOW_THREADS
    npy_intp i = 0; /* t[i] <= query < t[i+1] */
    for (npy_intp k = 0; k < m; k++) {
        int64_t tq = qd[k];
        double *o = od + k * c;
        if (tq < td[0]) {
            for (npy_intp j = 0; j < c; j++) o[j] = vd[j];
            continue;
        }
        while (i + 1 < n && td[i + 1] <= tq) i++;
        if (i + 1 >= n) {
            for (npy_intp j = 0; j < c; j++) o[j] = vd[(n - 1) * c + j];
            continue;
        }
        /* t[i] <= tq < t[i+1], so the span is positive */
        double w = (double)(tq - td[i]) / (double)(td[i + 1] - td[i]);
        const double *a = vd + i * c, *b = a + c;
        for (npy_intp j = 0; j < c; j++) o[j] = a[j] + (b[j] - a[j]) * w;
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
