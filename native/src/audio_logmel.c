/* Framed log-mel filterbank (and MFCC) in one pass per frame: window, real FFT, power, sparse
 * mel weights, log, optional DCT-II. Double precision inside, float32 out. Python owns the
 * stream state (leftover samples) and the tables (window, twiddles, CSR mel weights, DCT). */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>
#include <stdint.h>

/* In-place iterative radix-2 complex FFT of m points (re/im interleaved). tw holds
 * exp(-2 pi i k / (2m)) for k < m, so the twiddle of stage size s at j is tw[j * 2m / s]. */
static void fft_complex(double *z, npy_intp m, const double *tw) {
    for (npy_intp i = 1, j = 0; i < m; i++) {
        npy_intp bit = m >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j |= bit;
        if (i < j) {
            double tr = z[2 * i], ti = z[2 * i + 1];
            z[2 * i] = z[2 * j]; z[2 * i + 1] = z[2 * j + 1];
            z[2 * j] = tr; z[2 * j + 1] = ti;
        }
    }
    for (npy_intp s = 2; s <= m; s <<= 1) {
        const npy_intp half = s >> 1, step = (2 * m) / s;
        for (npy_intp k = 0; k < m; k += s) {
            for (npy_intp j = 0; j < half; j++) {
                const double wr = tw[2 * (j * step)], wi = tw[2 * (j * step) + 1];
                double *a = z + 2 * (k + j), *b = z + 2 * (k + j + half);
                const double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br; b[1] = a[1] - bi;
                a[0] += br; a[1] += bi;
            }
        }
    }
}

/* power[k] = |X[k]|^2, k = 0..n/2, of a real frame x of n points (x is destroyed). */
static void real_power(double *x, npy_intp n, const double *tw, double *power) {
    const npy_intp m = n / 2;
    fft_complex(x, m, tw); /* x viewed as m complex points z[i] = x[2i] + i x[2i+1] */
    power[0] = (x[0] + x[1]) * (x[0] + x[1]);
    power[m] = (x[0] - x[1]) * (x[0] - x[1]);
    for (npy_intp k = 1; k < m; k++) {
        const double zr = x[2 * k], zi = x[2 * k + 1];
        const double cr = x[2 * (m - k)], ci = -x[2 * (m - k) + 1]; /* conj(Z[m-k]) */
        const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);     /* even part */
        const double dr = 0.5 * (zr - cr), di = 0.5 * (zi - ci);
        const double orr = di, oi = -dr;                             /* (Z - conj) / 2i */
        const double wr = tw[2 * k], wi = tw[2 * k + 1];
        const double xr = er + wr * orr - wi * oi, xi = ei + wr * oi + wi * orr;
        power[k] = xr * xr + xi * xi;
    }
}

/* logmel_frames(x f32 (N,), window f64 (W,), twiddles f64 (n_fft,), hop, offsets i64 (n_mels+1,),
 *               bins i64 (nnz,), weights f64 (nnz,), log_floor, preemphasis, remove_dc,
 *               dct f64 (n_out, n_mels) or None) -> f32 (n_frames, n_mels or n_out) */
PyObject *ck_logmel_frames(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "logmel_frames";
    static char *kwlist[] = {"x", "window", "twiddles", "hop", "offsets", "bins", "weights",
                             "log_floor", "preemphasis", "remove_dc", "dct", NULL};
    PyObject *x_o, *w_o, *t_o, *o_o, *b_o, *g_o, *d_o = Py_None;
    Py_ssize_t hop;
    double floor_v, pre;
    int remove_dc;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOnOOOddp|O", kwlist, &x_o, &w_o, &t_o, &hop,
                                     &o_o, &b_o, &g_o, &floor_v, &pre, &remove_dc, &d_o))
        return NULL;
    PyArrayObject *x = ck_array(x_o, fn, "samples", NPY_FLOAT32, 1, 1);
    if (!x || ck_require_contiguous(x, fn, "samples")) return NULL;
    PyArrayObject *win = ck_array(w_o, fn, "window", NPY_FLOAT64, 1, 1);
    if (!win || ck_require_contiguous(win, fn, "window")) return NULL;
    PyArrayObject *tw = ck_array(t_o, fn, "twiddles", NPY_FLOAT64, 1, 1);
    if (!tw || ck_require_contiguous(tw, fn, "twiddles")) return NULL;
    PyArrayObject *off = ck_array(o_o, fn, "offsets", NPY_INT64, 1, 1);
    if (!off || ck_require_contiguous(off, fn, "offsets")) return NULL;
    PyArrayObject *bins = ck_array(b_o, fn, "bins", NPY_INT64, 1, 1);
    if (!bins || ck_require_contiguous(bins, fn, "bins")) return NULL;
    PyArrayObject *wts = ck_array(g_o, fn, "weights", NPY_FLOAT64, 1, 1);
    if (!wts || ck_require_contiguous(wts, fn, "weights")) return NULL;
    PyArrayObject *dct = NULL;
    if (d_o != Py_None) {
        dct = ck_array(d_o, fn, "dct", NPY_FLOAT64, 2, 2);
        if (!dct || ck_require_contiguous(dct, fn, "dct")) return NULL;
    }
    const npy_intp n = PyArray_DIM(x, 0), wl = PyArray_DIM(win, 0);
    const npy_intp n_fft = PyArray_DIM(tw, 0);
    const npy_intp n_mels = PyArray_DIM(off, 0) - 1, nnz = PyArray_DIM(bins, 0);
    const npy_intp n_bins = n_fft / 2 + 1;
    if (n_fft < 4 || n_fft > 65536 || (n_fft & (n_fft - 1))) {
        PyErr_Format(PyExc_ValueError, "%s: n_fft must be a power of two in 4..65536, got %zd",
                     fn, (Py_ssize_t)n_fft);
        return NULL;
    }
    if (wl > n_fft || hop <= 0 || n_mels <= 0 || PyArray_DIM(wts, 0) != nnz) {
        PyErr_Format(PyExc_ValueError,
                     "%s: need window length <= n_fft, hop > 0, n_mels > 0, one weight per bin",
                     fn);
        return NULL;
    }
    const int64_t *od = (const int64_t *)PyArray_DATA(off), *bd = (const int64_t *)PyArray_DATA(bins);
    if (od[0] != 0 || od[n_mels] != nnz) goto bad_csr;
    for (npy_intp i = 0; i < n_mels; i++)
        if (od[i + 1] < od[i]) goto bad_csr;
    for (npy_intp i = 0; i < nnz; i++)
        if (bd[i] < 0 || bd[i] >= n_bins) goto bad_csr;
    if (!(floor_v > 0) || !isfinite(floor_v) || !isfinite(pre)) {
        PyErr_Format(PyExc_ValueError, "%s: log_floor must be > 0 and preemphasis finite", fn);
        return NULL;
    }
    npy_intp n_out = n_mels;
    if (dct) {
        if (PyArray_DIM(dct, 1) != n_mels) {
            PyErr_Format(PyExc_ValueError, "%s: dct must have %zd columns", fn,
                         (Py_ssize_t)n_mels);
            return NULL;
        }
        n_out = PyArray_DIM(dct, 0);
    }
    const npy_intp n_frames = n < wl ? 0 : 1 + (n - wl) / hop;
    npy_intp dims[2] = {n_frames, n_out};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!out) return NULL;
    double *work = PyMem_RawMalloc(sizeof(double) * (size_t)(n_fft + n_bins + n_mels));
    if (!work) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    double *frame = work, *power = work + n_fft, *mel = power + n_bins;
    const float *xd = (const float *)PyArray_DATA(x);
    const double *wd = (const double *)PyArray_DATA(win), *twd = (const double *)PyArray_DATA(tw);
    const double *gd = (const double *)PyArray_DATA(wts);
    const double *dd = dct ? (const double *)PyArray_DATA(dct) : NULL;
    float *o = (float *)PyArray_DATA(out);
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp f = 0; f < n_frames; f++) {
        const float *s = xd + f * hop;
        double mean = 0.0;
        if (remove_dc) {
            for (npy_intp i = 0; i < wl; i++) mean += s[i];
            mean /= (double)wl;
        }
        /* per-frame pre-emphasis as Kaldi: the first sample is emphasised against itself */
        double prev = (double)s[0] - mean;
        for (npy_intp i = 0; i < wl; i++) {
            double v = (double)s[i] - mean;
            frame[i] = (v - pre * prev) * wd[i];
            prev = v;
        }
        for (npy_intp i = wl; i < n_fft; i++) frame[i] = 0.0;
        real_power(frame, n_fft, twd, power);
        for (npy_intp mi = 0; mi < n_mels; mi++) {
            double acc = 0.0;
            for (int64_t k = od[mi]; k < od[mi + 1]; k++) acc += power[bd[k]] * gd[k];
            mel[mi] = log(acc > floor_v ? acc : floor_v);
        }
        float *of = o + f * n_out;
        if (dd) {
            for (npy_intp c = 0; c < n_out; c++) {
                double acc = 0.0;
                const double *row = dd + c * n_mels;
                for (npy_intp mi = 0; mi < n_mels; mi++) acc += row[mi] * mel[mi];
                of[c] = (float)acc;
            }
        } else {
            for (npy_intp mi = 0; mi < n_mels; mi++) of[mi] = (float)mel[mi];
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(work);
    return (PyObject *)out;
bad_csr:
    PyErr_Format(PyExc_ValueError, "%s: malformed mel filter table", fn);
    return NULL;
}
