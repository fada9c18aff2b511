/* Multi-channel biquad (transposed direct form II, double precision). Coefficients come from
 * Python (RBJ cookbook); the (C, 2) state array is the caller's and is updated in place, so a
 * stream filtered in pieces equals the stream filtered at once. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>

/* biquad_process(x (N, C) f64, coefs (5,) f64 [b0, b1, b2, a1, a2], state (C, 2) f64 in/out)
 *   -> (N, C) f64 */
PyObject *ck_biquad_process(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "biquad_process";
    static char *kwlist[] = {"x", "coefs", "state", NULL};
    PyObject *x_o, *c_o, *s_o;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO", kwlist, &x_o, &c_o, &s_o)) return NULL;
    PyArrayObject *x = ck_array(x_o, fn, "x", NPY_FLOAT64, 2, 2);
    if (!x || ck_require_contiguous(x, fn, "x")) return NULL;
    PyArrayObject *c = ck_array(c_o, fn, "coefs", NPY_FLOAT64, 1, 1);
    if (!c || ck_require_contiguous(c, fn, "coefs")) return NULL;
    PyArrayObject *s = ck_array(s_o, fn, "state", NPY_FLOAT64, 2, 2);
    if (!s || ck_require_contiguous(s, fn, "state") || ck_require_writeable(s, fn, "state"))
        return NULL;
    npy_intp n = PyArray_DIM(x, 0), ch = PyArray_DIM(x, 1);
    if (PyArray_DIM(c, 0) != 5 || PyArray_DIM(s, 0) != ch || PyArray_DIM(s, 1) != 2) {
        PyErr_Format(PyExc_ValueError,
                     "%s: need coefs (5,) and state (%zd, 2) for x with %zd channels", fn,
                     (Py_ssize_t)ch, (Py_ssize_t)ch);
        return NULL;
    }
    const double *k = (const double *)PyArray_DATA(c);
    if (!ck_all_finite_f64(k, 5)) {
        PyErr_Format(PyExc_ValueError, "%s: coefficients must be finite", fn);
        return NULL;
    }
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, PyArray_DIMS(x), NPY_FLOAT64);
    if (!out) return NULL;
    const double *xd = (const double *)PyArray_DATA(x);
    double *yd = (double *)PyArray_DATA(out), *st = (double *)PyArray_DATA(s);
    const double b0 = k[0], b1 = k[1], b2 = k[2], a1 = k[3], a2 = k[4];
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp j = 0; j < ch; j++) {
        double z1 = st[2 * j], z2 = st[2 * j + 1];
        for (npy_intp i = 0; i < n; i++) {
            double v = xd[i * ch + j];
            double y = b0 * v + z1;
            z1 = b1 * v - a1 * y + z2;
            z2 = b2 * v - a2 * y;
            yd[i * ch + j] = y;
        }
        st[2 * j] = z1;
        st[2 * j + 1] = z2;
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
