/* Framed log-mel filterbank (and MFCC) in one pass per frame: window, real FFT, power, sparse
 * mel weights, log, optional DCT-II. Double precision inside, float32 out. Python owns the
 * stream state (leftover samples) and the tables (window, twiddles, CSR mel weights, DCT). */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>
#include <stdint.h>

/* Complex FFT of m points in split format (re[], im[]), input already in bit-reversed order.
 * stw holds each stage's twiddles exp(-2 pi i j / s), j < s/2, concatenated (stage s starts at
 * s/2 - 1), so the inner loop runs over contiguous arrays and vectorises; target_clones builds
 * an AVX2 copy chosen at load time. */
__attribute__((target_clones("avx2", "default")))
static void fft_split(double *restrict re, double *restrict im, npy_intp m,
                      const double *restrict stw_re, const double *restrict stw_im) {
    for (npy_intp k = 0; k < m; k += 2) { /* s = 2: twiddle 1 */
        const double ar = re[k], ai = im[k], br = re[k + 1], bi = im[k + 1];
        re[k] = ar + br; im[k] = ai + bi;
        re[k + 1] = ar - br; im[k + 1] = ai - bi;
    }
    for (npy_intp half = 2; half < m; half <<= 1) {
        const double *wr = stw_re + half - 1, *wi = stw_im + half - 1;
        for (npy_intp k = 0; k < m; k += 2 * half) {
            double *ar = re + k, *ai = im + k, *br = re + k + half, *bi = im + k + half;
            for (npy_intp j = 0; j < half; j++) {
                const double tr = br[j] * wr[j] - bi[j] * wi[j];
                const double ti = br[j] * wi[j] + bi[j] * wr[j];
                br[j] = ar[j] - tr; bi[j] = ai[j] - ti;
                ar[j] += tr; ai[j] += ti;
            }
        }
    }
}

/* power[k] = |X[k]|^2, k = 0..m, of the real 2m-point frame whose even/odd samples were packed
 * as z = re + i im and transformed (utw = exp(-2 pi i k / 2m), k < m). */
static void real_power(const double *re, const double *im, npy_intp m, const double *utw_re,
                       const double *utw_im, double *power) {
    power[0] = (re[0] + im[0]) * (re[0] + im[0]);
    power[m] = (re[0] - im[0]) * (re[0] - im[0]);
    for (npy_intp k = 1; k < m; k++) {
        const double zr = re[k], zi = im[k], cr = re[m - k], ci = -im[m - k]; /* conj(Z[m-k]) */
        const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);            /* even part */
        const double orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);          /* odd: (Z - conj)/2i */
        const double wr = utw_re[k], wi = utw_im[k];
        const double xr = er + wr * orr - wi * oi, xi = ei + wr * oi + wi * orr;
        power[k] = xr * xr + xi * xi;
    }
}

/* logmel_frames(x f32 (N,), window f64 (W,), fft_table f64 (4m,) [stage re | stage im |
 *               unpack re | unpack im], bitrev i32 (m,), hop, offsets i64 (n_mels+1,),
 *               bins i64 (nnz,), weights f64 (nnz,), log_floor, preemphasis, remove_dc,
 *               dct f64 (n_out, n_mels) or None) -> f32 (n_frames, n_mels or n_out);
 * n_fft = 2m. Non-finite samples raise ValueError. */
PyObject *ck_logmel_frames(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "logmel_frames";
    static char *kwlist[] = {"x", "window", "fft_table", "bitrev", "hop", "offsets", "bins",
                             "weights", "log_floor", "preemphasis", "remove_dc", "dct", NULL};
    PyObject *x_o, *w_o, *t_o, *r_o, *o_o, *b_o, *g_o, *d_o = Py_None;
    Py_ssize_t hop;
    double floor_v, pre;
    int remove_dc;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOnOOOddp|O", kwlist, &x_o, &w_o, &t_o,
                                     &r_o, &hop, &o_o, &b_o, &g_o, &floor_v, &pre, &remove_dc,
                                     &d_o))
        return NULL;
    PyArrayObject *x = ck_array(x_o, fn, "samples", NPY_FLOAT32, 1, 1);
    if (!x || ck_require_contiguous(x, fn, "samples")) return NULL;
    PyArrayObject *win = ck_array(w_o, fn, "window", NPY_FLOAT64, 1, 1);
    if (!win || ck_require_contiguous(win, fn, "window")) return NULL;
    PyArrayObject *tw = ck_array(t_o, fn, "fft_table", NPY_FLOAT64, 1, 1);
    if (!tw || ck_require_contiguous(tw, fn, "fft_table")) return NULL;
    PyArrayObject *br = ck_array(r_o, fn, "bitrev", NPY_INT32, 1, 1);
    if (!br || ck_require_contiguous(br, fn, "bitrev")) return NULL;
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
    const npy_intp m = PyArray_DIM(br, 0), n_fft = 2 * m;
    const npy_intp n_mels = PyArray_DIM(off, 0) - 1, nnz = PyArray_DIM(bins, 0);
    const npy_intp n_bins = n_fft / 2 + 1;
    if (n_fft < 4 || n_fft > 65536 || (n_fft & (n_fft - 1)) || PyArray_DIM(tw, 0) != 4 * m) {
        PyErr_Format(PyExc_ValueError,
                     "%s: n_fft must be a power of two in 4..65536 with a 2*n_fft table, got %zd",
                     fn, (Py_ssize_t)n_fft);
        return NULL;
    }
    const int32_t *rev = (const int32_t *)PyArray_DATA(br);
    for (npy_intp i = 0; i < m; i++) {
        if (rev[i] < 0 || rev[i] >= m) {
            PyErr_Format(PyExc_ValueError, "%s: malformed bit-reversal table", fn);
            return NULL;
        }
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
    if (!ck_all_finite_f32((const float *)PyArray_DATA(x), n)) {
        PyErr_Format(PyExc_ValueError, "%s: samples contain NaN or inf", fn);
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
    double *work = PyMem_RawMalloc(sizeof(double) * (size_t)(2 * m + n_bins + n_mels));
    if (!work) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    double *re = work, *im = work + m, *power = im + m, *mel = power + n_bins;
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
        /* window, zero-pad, pack even/odd samples as complex and bit-reverse in one pass;
         * per-frame pre-emphasis as Kaldi: the first sample is emphasised against itself */
        for (npy_intp i = 0; i < m; i++) re[i] = im[i] = 0.0;
#define SAMPLE(i) (((double)s[i] - mean - pre * ((double)s[(i) > 0 ? (i) - 1 : 0] - mean)) * wd[i])
        const npy_intp pairs = wl / 2;
        for (npy_intp j = 0; j < pairs; j++) {
            re[rev[j]] = SAMPLE(2 * j);
            im[rev[j]] = SAMPLE(2 * j + 1);
        }
        if (wl & 1) re[rev[pairs]] = SAMPLE(wl - 1);
#undef SAMPLE
        fft_split(re, im, m, twd, twd + m);
        real_power(re, im, m, twd + 2 * m, twd + 3 * m, power);
        for (npy_intp mi = 0; mi < n_mels; mi++) {
            double acc = 0.0;
            for (int64_t k = od[mi]; k < od[mi + 1]; k++) acc += power[bd[k]] * gd[k];
            acc = acc > floor_v ? acc : floor_v;
            /* float log is plenty for a float32 result and twice as fast */
            mel[mi] = acc < 1e30 ? (double)logf((float)acc) : log(acc);
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
