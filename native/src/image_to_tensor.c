/* Fused rotated-ROI crop + resize + value-range mapping + layout: uint8 image -> float32 tensor.
 *
 * The caller passes the affine map from tensor pixel (x, y) to image pixel coordinates (integer
 * pixel positions at the pixel centres, OpenCV's convention), so keep-aspect, rotation and the
 * corner- or centre-aligned conventions are all decided in Python once per call, and this loop
 * only samples. Border "zero" treats every tap outside the image as 0 (like OpenCV's
 * BORDER_CONSTANT, so edges blend towards black); "replicate" clamps taps to the edge. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline int ld32(const uint8_t *p) {
    int v;
    memcpy(&v, p, 4); /* unaligned load without UB */
    return v;
}

typedef struct {
    const uint8_t *src;
    npy_intp h, w, c, rs; /* rows, cols, channels, row stride in bytes */
    int oc;               /* output channels */
    npy_intp ow, oh;
    double m[6];          /* image = [m0 m1 m2; m3 m4 m5] @ [x y 1] */
    int replicate, nchw;
    float lo, scale;      /* value = lo + scale * pixel */
    float *dst;
} warp_job;

/* Channel index in the source for output channel k: gray input is broadcast to every channel. */
#define SRC_CH(c, k) ((c) == 1 ? 0 : (k))

static inline __attribute__((always_inline)) void store(const warp_job *j, npy_intp x,
                                                        npy_intp y, int k, float v) {
    if (j->nchw)
        j->dst[((npy_intp)k * j->oh + y) * j->ow + x] = j->lo + j->scale * v;
    else
        j->dst[(y * j->ow + x) * j->oc + k] = j->lo + j->scale * v;
}

/* Everything the loop needs is copied to locals first: the uint8 source may alias anything, so
 * fields read through the job pointer would be reloaded after every store. */
static inline __attribute__((always_inline)) void bilinear_rows(const warp_job *j, const int c,
                                                                const int oc) {
    const npy_intp w = j->w, h = j->h, rs = j->rs, ow = j->ow, oh = j->oh;
    const uint8_t *src = j->src;
    const float fw = (float)w, fh = (float)h, lo = j->lo, sc = j->scale;
    const int replicate = j->replicate;
    const npy_intp pstep = j->nchw ? 1 : oc, cstep = j->nchw ? ow * oh : 1;
    const double m0 = j->m[0], m1 = j->m[1], m2 = j->m[2], m3 = j->m[3], m4 = j->m[4],
                 m5 = j->m[5];
    for (npy_intp y = 0; y < oh; y++) {
        const double bx = m1 * (double)y + m2;
        const double by = m4 * (double)y + m5;
        float *restrict o = j->dst + (j->nchw ? y * ow : y * ow * oc);
        /* The row is a straight segment in the image: when both ends are inside, so is every
         * sample, and the loop runs without border checks (fixed-point weights, 1/2048 px). */
        const double ex = m0 * (double)(ow - 1) + bx, ey = m3 * (double)(ow - 1) + by;
        if (bx >= 0.0 && ex >= 0.0 && by >= 0.0 && ey >= 0.0 && bx < (double)(w - 1) &&
            ex < (double)(w - 1) && by < (double)(h - 1) && ey < (double)(h - 1)) {
#ifdef __SSE2__
            if (c >= 3 && oc >= 3) {
                /* One pixel's channels per SSE lane group: 4-byte loads, float blend. A 4-byte
                 * load of a 3-channel pixel reads one byte past it, so the very last pixel of
                 * the image goes through the scalar path (`last`). */
                const uint8_t *last = src + (h - 1) * rs + (w - 1) * c;
                const __m128 vlo = _mm_set1_ps(lo), vsc = _mm_set1_ps(sc);
                const __m128i zero = _mm_setzero_si128();
                for (npy_intp x = 0; x < ow; x++, o += pstep) {
                    float fx = (float)(m0 * (double)x + bx);
                    float fy = (float)(m3 * (double)x + by);
                    npy_intp x0 = (npy_intp)fx, y0 = (npy_intp)fy;
                    if (x0 > w - 2) x0 = w - 2;
                    if (y0 > h - 2) y0 = h - 2;
                    float ax = fx - (float)x0, ay = fy - (float)y0;
                    const uint8_t *p = src + y0 * rs + x0 * c;
                    const uint8_t *q = p + rs;
                    float res[4];
                    if (c == 3 && q + c == last) {
                        for (int k = 0; k < oc; k++) {
                            float top = p[k] + (p[c + k] - p[k]) * ax;
                            float bot = q[k] + (q[c + k] - q[k]) * ax;
                            res[k] = lo + sc * (top + (bot - top) * ay);
                        }
                    } else {
#define LOAD4(ptr) _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8( \
        _mm_cvtsi32_si128(ld32(ptr)), zero), zero))
                        __m128 p00 = LOAD4(p), p01 = LOAD4(p + c);
                        __m128 p10 = LOAD4(q), p11 = LOAD4(q + c);
                        __m128 vax = _mm_set1_ps(ax), vay = _mm_set1_ps(ay);
                        __m128 top = _mm_add_ps(p00, _mm_mul_ps(_mm_sub_ps(p01, p00), vax));
                        __m128 bot = _mm_add_ps(p10, _mm_mul_ps(_mm_sub_ps(p11, p10), vax));
                        __m128 v = _mm_add_ps(top, _mm_mul_ps(_mm_sub_ps(bot, top), vay));
                        _mm_storeu_ps(res, _mm_add_ps(vlo, _mm_mul_ps(vsc, v)));
#undef LOAD4
                    }
                    for (int k = 0; k < oc; k++) o[k * cstep] = res[k];
                }
                continue;
            }
#endif
            for (npy_intp x = 0; x < ow; x++, o += pstep) {
                float fx = (float)(m0 * (double)x + bx);
                float fy = (float)(m3 * (double)x + by);
                npy_intp x0 = (npy_intp)fx, y0 = (npy_intp)fy;
                if (x0 > w - 2) x0 = w - 2; /* float rounding at the far end of the row */
                if (y0 > h - 2) y0 = h - 2;
                float ax = fx - (float)x0, ay = fy - (float)y0;
                const uint8_t *p = src + y0 * rs + x0 * c;
                const uint8_t *q = p + rs;
                for (int k = 0; k < oc; k++) {
                    int s = SRC_CH(c, k);
                    float top = p[s] + (p[c + s] - p[s]) * ax;
                    float bot = q[s] + (q[c + s] - q[s]) * ax;
                    o[k * cstep] = lo + sc * (top + (bot - top) * ay);
                }
            }
            continue;
        }
        for (npy_intp x = 0; x < ow; x++, o += pstep) {
            float fx = (float)(m0 * (double)x + bx);
            float fy = (float)(m3 * (double)x + by);
            float out[4] = {0, 0, 0, 0};
            if (replicate) {
                /* Bilinear with replicated taps equals bilinear at the clamped coordinate.
                 * The negated comparisons also send NaN to the edge instead of UB. */
                if (!(fx > 0.0f)) fx = 0.0f;
                if (!(fx < fw - 1.0f)) fx = fw - 1.0f;
                if (!(fy > 0.0f)) fy = 0.0f;
                if (!(fy < fh - 1.0f)) fy = fh - 1.0f;
                npy_intp x0 = (npy_intp)fx, y0 = (npy_intp)fy;
                float ax = fx - (float)x0, ay = fy - (float)y0;
                npy_intp dx = x0 + 1 < w ? c : 0;
                npy_intp dy = y0 + 1 < h ? rs : 0;
                const uint8_t *p = src + y0 * rs + x0 * c;
                float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay);
                float w10 = (1 - ax) * ay, w11 = ax * ay;
                for (int k = 0; k < oc; k++) {
                    int s = SRC_CH(c, k);
                    out[k] = w00 * p[s] + w01 * p[dx + s] + w10 * p[dy + s] + w11 * p[dy + dx + s];
                }
            } else if (fx >= 0.0f && fy >= 0.0f && fx < fw - 1.0f && fy < fh - 1.0f) {
                npy_intp x0 = (npy_intp)fx, y0 = (npy_intp)fy;
                float ax = fx - (float)x0, ay = fy - (float)y0;
                const uint8_t *p = src + y0 * rs + x0 * c;
                float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay);
                float w10 = (1 - ax) * ay, w11 = ax * ay;
                for (int k = 0; k < oc; k++) {
                    int s = SRC_CH(c, k);
                    out[k] = w00 * p[s] + w01 * p[c + s] + w10 * p[rs + s] + w11 * p[rs + c + s];
                }
            } else if (fx > -1.0f && fy > -1.0f && fx < fw && fy < fh) {
                /* straddles the border: each tap outside the image counts as zero */
                float flx = floorf(fx), fly = floorf(fy);
                npy_intp x0 = (npy_intp)flx, y0 = (npy_intp)fly;
                float ax = fx - flx, ay = fy - fly;
                float wt[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
                for (int t = 0; t < 4; t++) {
                    npy_intp xx = x0 + (t & 1), yy = y0 + (t >> 1);
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    const uint8_t *p = src + yy * rs + xx * c;
                    for (int k = 0; k < oc; k++) out[k] += wt[t] * p[SRC_CH(c, k)];
                }
            }
            for (int k = 0; k < oc; k++) o[k * cstep] = lo + sc * out[k];
        }
    }
}

/* OpenCV's INTER_CUBIC kernel (a = -0.75), so the cubic golden matches. */
static inline void cubic_weights(float t, float wts[4]) {
    const float a = -0.75f;
    float x0 = t + 1.0f, x1 = t, x2 = 1.0f - t, x3 = 2.0f - t;
    wts[0] = ((a * x0 - 5 * a) * x0 + 8 * a) * x0 - 4 * a;
    wts[1] = ((a + 2) * x1 - (a + 3)) * x1 * x1 + 1;
    wts[2] = ((a + 2) * x2 - (a + 3)) * x2 * x2 + 1;
    wts[3] = ((a * x3 - 5 * a) * x3 + 8 * a) * x3 - 4 * a;
}

static void cubic_rows(const warp_job *j, npy_intp y_begin, npy_intp y_end) {
    const npy_intp w = j->w, h = j->h, rs = j->rs, c = j->c;
    for (npy_intp y = y_begin; y < y_end; y++) {
        for (npy_intp x = 0; x < j->ow; x++) {
            double fx = j->m[0] * (double)x + j->m[1] * (double)y + j->m[2];
            double fy = j->m[3] * (double)x + j->m[4] * (double)y + j->m[5];
            float out[4] = {0, 0, 0, 0};
            /* Far outside (or NaN): 4 taps cannot reach the image. Replicate still clamps. */
            if (!(fx > -3.0 && fx < (double)w + 2.0)) fx = fx > 0 ? (double)w + 2.0 : -3.0;
            if (!(fy > -3.0 && fy < (double)h + 2.0)) fy = fy > 0 ? (double)h + 2.0 : -3.0;
            double flx = floor(fx), fly = floor(fy);
            npy_intp x0 = (npy_intp)flx - 1, y0 = (npy_intp)fly - 1;
            float wx[4], wy[4];
            cubic_weights((float)(fx - flx), wx);
            cubic_weights((float)(fy - fly), wy);
            for (int ty = 0; ty < 4; ty++) {
                npy_intp yy = y0 + ty;
                if (yy < 0 || yy >= h) {
                    if (!j->replicate) continue;
                    yy = yy < 0 ? 0 : h - 1;
                }
                for (int tx = 0; tx < 4; tx++) {
                    npy_intp xx = x0 + tx;
                    if (xx < 0 || xx >= w) {
                        if (!j->replicate) continue;
                        xx = xx < 0 ? 0 : w - 1;
                    }
                    const uint8_t *p = j->src + yy * rs + xx * c;
                    float wt = wx[tx] * wy[ty];
                    for (int k = 0; k < j->oc; k++) out[k] += wt * p[SRC_CH(c, k)];
                }
            }
            for (int k = 0; k < j->oc; k++) {
                /* uint8 saturation as in OpenCV: cubic overshoot stays inside the value range */
                float v = out[k] < 0.0f ? 0.0f : (out[k] > 255.0f ? 255.0f : out[k]);
                store(j, x, y, k, v);
            }
        }
    }
}

static void run_warp(const warp_job *j, int cubic) {
    if (cubic) {
        cubic_rows(j, 0, j->oh);
        return;
    }
    /* constant channel counts let the compiler unroll the channel loops */
    if (j->c == 3 && j->oc == 3) bilinear_rows(j, 3, 3);
    else if (j->c == 4 && j->oc == 3) bilinear_rows(j, 4, 3);
    else if (j->c == 4 && j->oc == 4) bilinear_rows(j, 4, 4);
    else if (j->c == 1 && j->oc == 1) bilinear_rows(j, 1, 1);
    else bilinear_rows(j, (int)j->c, j->oc);
}

PyObject *ck_warp_to_tensor(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "warp_to_tensor";
    static char *kwlist[] = {"image", "matrix", "out_w", "out_h", "replicate", "lo", "hi",
                             "nchw", "cubic", "out_channels", NULL};
    PyObject *obj;
    double m[6];
    Py_ssize_t ow, oh;
    int replicate = 1, nchw = 0, cubic = 0, oc = 0;
    double lo = 0.0, hi = 1.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O(dddddd)nn|pddppi", kwlist, &obj, &m[0],
                                     &m[1], &m[2], &m[3], &m[4], &m[5], &ow, &oh, &replicate, &lo,
                                     &hi, &nchw, &cubic, &oc))
        return NULL;
    PyArrayObject *img = ck_array(obj, fn, "image", NPY_UINT8, 2, 3);
    if (!img) return NULL;
    npy_intp h = PyArray_DIM(img, 0), w = PyArray_DIM(img, 1);
    npy_intp c = PyArray_NDIM(img) == 3 ? PyArray_DIM(img, 2) : 1;
    if (c != 1 && c != 3 && c != 4) {
        PyErr_Format(PyExc_ValueError, "%s: image must have 1, 3 or 4 channels, got %zd", fn,
                     (Py_ssize_t)c);
        return NULL;
    }
    /* Rows may be strided (a crop view of a bigger frame); pixels within a row must be packed. */
    npy_intp *st = PyArray_STRIDES(img);
    if ((PyArray_NDIM(img) == 3 && st[2] != 1) || st[1] != c || st[0] < w * c) {
        PyErr_Format(PyExc_ValueError,
                     "%s: image rows must be packed HxWxC uint8 with a positive row stride "
                     "(pass np.ascontiguousarray(image))", fn);
        return NULL;
    }
    if (h > CK_MAX_SIDE || w > CK_MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "%s: image %zdx%zd exceeds %d pixels per side", fn,
                     (Py_ssize_t)w, (Py_ssize_t)h, CK_MAX_SIDE);
        return NULL;
    }
    if (ow <= 0 || oh <= 0 || ow > CK_MAX_SIDE || oh > CK_MAX_SIDE) {
        PyErr_Format(PyExc_ValueError, "%s: output size %zdx%zd must be within 1..%d per side",
                     fn, ow, oh, CK_MAX_SIDE);
        return NULL;
    }
    if (oc == 0) oc = (int)c;
    if (oc < 1 || oc > 4 || (oc > c && c != 1)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: out_channels %d is not possible from a %zd-channel image", fn, oc,
                     (Py_ssize_t)c);
        return NULL;
    }
    if ((npy_intp)ow * oh * oc > CK_MAX_ELEMENTS) {
        PyErr_Format(PyExc_ValueError, "%s: output of %zd elements exceeds the cap of %lld", fn,
                     (Py_ssize_t)(ow * oh * oc), (long long)CK_MAX_ELEMENTS);
        return NULL;
    }
    if (!ck_all_finite_f64(m, 6)) {
        PyErr_Format(PyExc_ValueError, "%s: the transform matrix has NaN or inf", fn);
        return NULL;
    }
    for (int i = 0; i < 6; i++) {
        if (fabs(m[i]) > 1e9) {
            PyErr_Format(PyExc_ValueError, "%s: transform matrix entry %g is absurdly large", fn,
                         m[i]);
            return NULL;
        }
    }
    if (!isfinite(lo) || !isfinite(hi)) {
        PyErr_Format(PyExc_ValueError, "%s: value range (%g, %g) must be finite", fn, lo, hi);
        return NULL;
    }
    npy_intp dims[4];
    dims[0] = 1;
    if (nchw) { dims[1] = oc; dims[2] = oh; dims[3] = ow; }
    else { dims[1] = oh; dims[2] = ow; dims[3] = oc; }
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(4, dims, NPY_FLOAT32);
    if (!out) return NULL;
    warp_job j = {
        .src = (const uint8_t *)PyArray_DATA(img), .h = h, .w = w, .c = c, .rs = st[0],
        .oc = oc, .ow = ow, .oh = oh, .replicate = replicate, .nchw = nchw,
        .lo = (float)lo, .scale = (float)((hi - lo) / 255.0), .dst = (float *)PyArray_DATA(out),
    };
    for (int i = 0; i < 6; i++) j.m[i] = m[i];
    Py_BEGIN_ALLOW_THREADS
    run_warp(&j, cubic);
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
