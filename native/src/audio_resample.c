/* Polyphase rational resampler core (L/M), float32 samples, double accumulation. The
 * Kaiser-windowed sinc table and the stream bookkeeping (buffer start, next output index) come
 * from Python; this loop only checks that every tap it will read is inside the buffer. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <stdint.h>

static float dot_scalar(const float *a, const float *b, long long n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long long i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define CK_HAVE_AVX2_DOT 1
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                            long long n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    long long i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#endif

/* polyphase(buf f32 (B,), buf_start, table f32 (L, K) with each phase REVERSED, M, D, m_start,
 *           m_end) -> f32 (m_end - m_start)
 * y[m] = sum_i x[n0 - K + 1 + i] * table[p][i], t = m*M + D, n0 = t / L, p = t % L, where x[i]
 * is buf[i - buf_start]: a forward dot product per output, vectorised where the CPU allows. */
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
    PyArrayObject *tab = ck_array(t_o, fn, "table", NPY_FLOAT32, 2, 2);
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
    const float *h = (const float *)PyArray_DATA(tab);
    float *o = (float *)PyArray_DATA(out);
    float (*dot)(const float *, const float *, long long) = dot_scalar;
#ifdef CK_HAVE_AVX2_DOT
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) dot = dot_avx2;
#endif
    Py_BEGIN_ALLOW_THREADS
    for (long long m = m_start; m < m_end; m++) {
        const long long t = m * M + D, n0 = t / L, p = t % L;
        o[m - m_start] = dot(x + (n0 - K + 1 - buf_start), h + p * K, K);
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
