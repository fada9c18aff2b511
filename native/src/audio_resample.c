/* Polyphase rational resampler core (L/M), float32 samples, double accumulation. The
 * Kaiser-windowed sinc table and the stream bookkeeping (buffer start, next output index) come
 * from Python; this loop only checks that every tap it will read is inside the buffer. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <stdint.h>

/* polyphase(buf f32 (B,), buf_start, table f64 (L, K), M, D, m_start, m_end) -> f32 (m_end-m_start)
 * y[m] = sum_j x[n0 - j] * table[p][j], t = m*M + D, n0 = t / L, p = t % L, where x[i] is
 * buf[i - buf_start]. */
PyObject *ck_polyphase(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "polyphase";
    static char *kwlist[] = {"buf", "buf_start", "table", "M", "D", "m_start", "m_end", NULL};
    PyObject *b_o, *t_o;
    long long buf_start, M, D, m_start, m_end;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLOLLLL", kwlist, &b_o, &buf_start, &t_o, &M,
                                     &D, &m_start, &m_end))
        return NULL;
    PyArrayObject *buf = ck_array(b_o, fn, "buffer", NPY_FLOAT32, 1, 1);
    if (!buf || ck_require_contiguous(buf, fn, "buffer")) return NULL;
    PyArrayObject *tab = ck_array(t_o, fn, "table", NPY_FLOAT64, 2, 2);
    if (!tab || ck_require_contiguous(tab, fn, "table")) return NULL;
    const long long L = PyArray_DIM(tab, 0), K = PyArray_DIM(tab, 1), B = PyArray_DIM(buf, 0);
    if (M <= 0 || D < 0 || m_start < 0 || m_end < m_start || m_end - m_start > CK_MAX_ELEMENTS ||
        M > (1LL << 24) || L > (1LL << 24) || m_end > (1LL << 62) / (M + 1) - D) {
        PyErr_Format(PyExc_ValueError, "%s: bad rates or output range", fn);
        return NULL;
    }
    if (m_end > m_start) {
        /* n0 grows with m, so checking the first and the last output covers every read */
        long long first = (m_start * M + D) / L - (K - 1);
        long long last = ((m_end - 1) * M + D) / L;
        if (first < buf_start || last >= buf_start + B) {
            PyErr_Format(PyExc_ValueError,
                         "%s: outputs %lld..%lld need samples %lld..%lld, buffer holds %lld..%lld",
                         fn, m_start, m_end - 1, first, last, buf_start, buf_start + B - 1);
            return NULL;
        }
    }
    npy_intp dims[1] = {(npy_intp)(m_end - m_start)};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(1, dims, NPY_FLOAT32);
    if (!out) return NULL;
    const float *x = (const float *)PyArray_DATA(buf);
    const double *h = (const double *)PyArray_DATA(tab);
    float *o = (float *)PyArray_DATA(out);
    Py_BEGIN_ALLOW_THREADS
    for (long long m = m_start; m < m_end; m++) {
        const long long t = m * M + D, n0 = t / L, p = t % L;
        const float *xs = x + (n0 - buf_start);
        const double *hp = h + p * K;
        double acc = 0.0;
        for (long long j = 0; j < K; j++) acc += (double)xs[-j] * hp[j];
        o[m - m_start] = (float)acc;
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
