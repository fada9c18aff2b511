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

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define CK_HAVE_AVX2_PATH 1
/* One fully-inside row with AVX2 + FMA, 8 pixels per step: 32-bit gathers fetch each tap's
 * channels at once; channels are split into lanes, blended, and written per plane (NCHW) or
 * interleaved (NHWC). Chosen at run time when the CPU has AVX2 and FMA; the caller guarantees
 * that every tap is inside the image, that 4-byte reads after each tap stay inside the buffer,
 * and that offsets fit in int32. Does pixels x_begin.. of the row (x < ow) in steps of 8 and
 * returns where it stopped. */
__attribute__((target("avx2,fma"))) static npy_intp row_avx2(
    const uint8_t *src, npy_intp rs, int c, int oc, float fxmax, float fymax, double bx,
    double by, double m0, double m3, npy_intp x_begin, npy_intp ow, float lo, float sc, float *o,
    int nchw, npy_intp plane) {
    const __m256 ramp = _mm256_set_ps(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256 vm0 = _mm256_set1_ps((float)m0), vm3 = _mm256_set1_ps((float)m3);
    const __m256 xmax = _mm256_set1_ps(fxmax), ymax = _mm256_set1_ps(fymax);
    const __m256 vlo = _mm256_set1_ps(lo), vsc = _mm256_set1_ps(sc), z = _mm256_setzero_ps();
    const __m256i vrs = _mm256_set1_epi32((int)rs), vc = _mm256_set1_epi32(c);
    /* vpshufb indexes bytes within each 128-bit half: dword d holds bytes 4d..4d+3 */
#define B(d, k) (int)(0x80808000u | (unsigned)(4 * (d) + (k)))
#define SEL(k) _mm256_setr_epi32(B(0, k), B(1, k), B(2, k), B(3, k), B(0, k), B(1, k), B(2, k), \
                                 B(3, k))
    const __m256i sel0 = SEL(0), sel1 = SEL(1), sel2 = SEL(2), sel3 = SEL(3);
#undef SEL
#undef B
    npy_intp x = x_begin;
    for (; x + 8 <= ow; x += 8) {
        __m256 fx = _mm256_fmadd_ps(vm0, ramp, _mm256_set1_ps((float)(m0 * (double)x + bx)));
        __m256 fy = _mm256_fmadd_ps(vm3, ramp, _mm256_set1_ps((float)(m3 * (double)x + by)));
        fx = _mm256_max_ps(_mm256_min_ps(fx, xmax), z);
        fy = _mm256_max_ps(_mm256_min_ps(fy, ymax), z);
        __m256i ix = _mm256_cvttps_epi32(fx), iy = _mm256_cvttps_epi32(fy);
        __m256 ax = _mm256_sub_ps(fx, _mm256_cvtepi32_ps(ix));
        __m256 ay = _mm256_sub_ps(fy, _mm256_cvtepi32_ps(iy));
        __m256i off = _mm256_add_epi32(_mm256_mullo_epi32(iy, vrs), _mm256_mullo_epi32(ix, vc));
        /* scalar 4-byte loads beat hardware gathers on the CPUs we measured (Zen 4) */
        int of[8];
        _mm256_storeu_si256((__m256i *)of, off);
#define T(e, d) ld32(src + of[e] + (d))
#define ROW(d) _mm256_setr_epi32(T(0, d), T(1, d), T(2, d), T(3, d), T(4, d), T(5, d), T(6, d), \
                                 T(7, d))
        __m256i g00 = ROW(0), g01 = ROW(c), g10 = ROW(rs), g11 = ROW(rs + c);
#undef ROW
#undef T
        __m256 res[4];
        for (int k = 0; k < oc; k++) {
            /* byte k of every dword, zero-extended: one shuffle per tap */
            const __m256i pick = k == 0 ? sel0 : (k == 1 ? sel1 : (k == 2 ? sel2 : sel3));
            __m256 p00 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g00, pick));
            __m256 p01 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g01, pick));
            __m256 p10 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g10, pick));
            __m256 p11 = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(g11, pick));
            __m256 top = _mm256_fmadd_ps(_mm256_sub_ps(p01, p00), ax, p00);
            __m256 bot = _mm256_fmadd_ps(_mm256_sub_ps(p11, p10), ax, p10);
            __m256 v = _mm256_fmadd_ps(_mm256_sub_ps(bot, top), ay, top);
            res[k] = _mm256_fmadd_ps(v, vsc, vlo);
        }
        if (nchw) {
            for (int k = 0; k < oc; k++) _mm256_storeu_ps(o + k * plane + x, res[k]);
        } else if (oc == 3) {
            /* interleave r, g, b lanes into 24 floats: each output vector gathers its lanes
             * from the three planes by permutes and picks them by blends */
            const __m256 r = res[0], g = res[1], b = res[2];
            float *d = o + x * 3;
#define PERM(v, a0, a1, a2, a3, a4, a5, a6, a7) \
    _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(a0, a1, a2, a3, a4, a5, a6, a7))
            __m256 o0 = _mm256_blend_ps(
                _mm256_blend_ps(PERM(r, 0, 0, 0, 1, 0, 0, 2, 0), PERM(g, 0, 0, 0, 0, 1, 0, 0, 2), 0x92),
                PERM(b, 0, 0, 0, 0, 0, 1, 0, 0), 0x24);
            __m256 o1 = _mm256_blend_ps(
                _mm256_blend_ps(PERM(r, 0, 3, 0, 0, 4, 0, 0, 5), PERM(g, 0, 0, 3, 0, 0, 4, 0, 0), 0x24),
                PERM(b, 2, 0, 0, 3, 0, 0, 4, 0), 0x49);
            __m256 o2 = _mm256_blend_ps(
                _mm256_blend_ps(PERM(r, 0, 0, 6, 0, 0, 7, 0, 0), PERM(g, 5, 0, 0, 6, 0, 0, 7, 0), 0x49),
                PERM(b, 0, 5, 0, 0, 6, 0, 0, 7), 0x92);
#undef PERM
            _mm256_storeu_ps(d, o0);
            _mm256_storeu_ps(d + 8, o1);
            _mm256_storeu_ps(d + 16, o2);
        } else {
            float tmp[4][8];
            for (int k = 0; k < oc; k++) _mm256_storeu_ps(tmp[k], res[k]);
            float *d = o + x * oc;
            for (int e = 0; e < 8; e++)
                for (int k = 0; k < oc; k++) d[e * oc + k] = tmp[k][e];
        }
    }
    return x;
}

static int cpu_has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

/* Narrow [*a, *b) to the x where lo <= base + slope * x <= hi (a linear function). */
static void clip_interval(double base, double slope, double lo, double hi, double *a, double *b) {
    if (fabs(slope) < 1e-12) {
        if (!(base >= lo && base <= hi)) *b = *a; /* nowhere (or NaN) */
        return;
    }
    double x1 = (lo - base) / slope, x2 = (hi - base) / slope;
    if (x1 > x2) { double t = x1; x1 = x2; x2 = t; }
    if (x1 > *a) *a = x1;
    if (x2 < *b) *b = x2;
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
#ifdef CK_HAVE_AVX2_PATH
    /* gathers take int32 byte offsets */
    const int use_avx2 = cpu_has_avx2_fma() && (double)(h - 1) * (double)rs + (double)w * c < 2e9;
#endif
    for (npy_intp y = 0; y < oh; y++) {
        const double bx = m1 * (double)y + m2;
        const double by = m4 * (double)y + m5;
        float *restrict o = j->dst + (j->nchw ? y * ow : y * ow * oc);
        /* The row is a straight segment in the image: when both ends are inside, so is every
         * sample, and the loop runs without border checks. */
        const double ex = m0 * (double)(ow - 1) + bx, ey = m3 * (double)(ow - 1) + by;
        /* zero border and the whole row beyond one image edge (letterbox bars, empty crops) */
        if (!replicate && ((bx <= -1.0 && ex <= -1.0) || (by <= -1.0 && ey <= -1.0) ||
                           (bx >= (double)w && ex >= (double)w) ||
                           (by >= (double)h && ey >= (double)h))) {
            for (npy_intp x = 0; x < ow; x++)
                for (int k = 0; k < oc; k++) o[x * pstep + k * cstep] = lo;
            continue;
        }
        if (bx >= 0.0 && ex >= 0.0 && by >= 0.0 && ey >= 0.0 && bx < (double)(w - 1) &&
            ex < (double)(w - 1) && by < (double)(h - 1) && ey < (double)(h - 1)) {
#ifdef CK_HAVE_AVX2_PATH
            npy_intp done = 0;
            /* rows whose taps reach the last image row could read past the buffer's end */
            if (use_avx2 && c >= 3 && oc >= 3 && by < (double)h - 2.01 && ey < (double)h - 2.01) {
                done = row_avx2(src, rs, c, oc, nextafterf((float)(w - 1), 0.0f),
                                nextafterf((float)(h - 1), 0.0f), bx, by, m0, m3, 0, ow, lo, sc,
                                j->dst + (j->nchw ? y * ow : y * ow * oc), j->nchw, ow * oh);
                o += done * pstep;
            }
#else
            const npy_intp done = 0;
#endif
#ifdef __SSE2__
            if (c >= 3 && oc >= 3) {
                /* Four pixels per step: coordinates and weights in SSE lanes, then each pixel's
                 * channels blended in lanes from 4-byte loads. A 4-byte load of a 3-channel pixel
                 * reads one byte past it, so a pixel whose bottom-right tap is the image's last
                 * pixel goes through the scalar path. NHWC stores write 4 floats per pixel; the
                 * spare lane is overwritten by the next pixel, except at the end of the row. */
                const uint8_t *last = src + (h - 1) * rs + (w - 1) * c;
                const __m128 vlo = _mm_set1_ps(lo), vsc = _mm_set1_ps(sc);
                const __m128 ramp = _mm_set_ps(3.0f, 2.0f, 1.0f, 0.0f);
                const __m128 vm0 = _mm_set1_ps((float)m0), vm3 = _mm_set1_ps((float)m3);
                /* largest float below w-1 / h-1: truncation then stays <= w-2 / h-2 */
                const __m128 xmax = _mm_set1_ps(nextafterf((float)(w - 1), 0.0f));
                const __m128 ymax = _mm_set1_ps(nextafterf((float)(h - 1), 0.0f));
                const __m128i zero = _mm_setzero_si128();
                const int direct = !j->nchw && oc == 3;
                o -= done * pstep; /* the loop below indexes from the row start */
                for (npy_intp x = done; x < ow; x += 4) {
                    const npy_intp cnt = ow - x < 4 ? ow - x : 4;
                    __m128 fx = _mm_add_ps(_mm_set1_ps((float)(m0 * (double)x + bx)),
                                           _mm_mul_ps(vm0, ramp));
                    __m128 fy = _mm_add_ps(_mm_set1_ps((float)(m3 * (double)x + by)),
                                           _mm_mul_ps(vm3, ramp));
                    fx = _mm_max_ps(_mm_min_ps(fx, xmax), _mm_setzero_ps());
                    fy = _mm_max_ps(_mm_min_ps(fy, ymax), _mm_setzero_ps());
                    __m128i ix = _mm_cvttps_epi32(fx), iy = _mm_cvttps_epi32(fy);
                    __m128 ax = _mm_sub_ps(fx, _mm_cvtepi32_ps(ix));
                    __m128 ay = _mm_sub_ps(fy, _mm_cvtepi32_ps(iy));
                    int xi[4], yi[4];
                    float axs[4], ays[4];
                    _mm_storeu_si128((__m128i *)xi, ix);
                    _mm_storeu_si128((__m128i *)yi, iy);
                    _mm_storeu_ps(axs, ax);
                    _mm_storeu_ps(ays, ay);
                    for (npy_intp e = 0; e < cnt; e++) {
                        const uint8_t *p = src + (npy_intp)yi[e] * rs + (npy_intp)xi[e] * c;
                        const uint8_t *q = p + rs;
                        float *oe = o + (x + e) * pstep;
                        if (c == 3 && q + c == last) {
                            for (int k = 0; k < oc; k++) {
                                float top = p[k] + (p[c + k] - p[k]) * axs[e];
                                float bot = q[k] + (q[c + k] - q[k]) * axs[e];
                                oe[k * cstep] = lo + sc * (top + (bot - top) * ays[e]);
                            }
                            continue;
                        }
#define LOAD4(ptr) _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8( \
        _mm_cvtsi32_si128(ld32(ptr)), zero), zero))
                        __m128 p00 = LOAD4(p), p01 = LOAD4(p + c);
                        __m128 p10 = LOAD4(q), p11 = LOAD4(q + c);
#undef LOAD4
                        __m128 vax = _mm_set1_ps(axs[e]), vay = _mm_set1_ps(ays[e]);
                        __m128 top = _mm_add_ps(p00, _mm_mul_ps(_mm_sub_ps(p01, p00), vax));
                        __m128 bot = _mm_add_ps(p10, _mm_mul_ps(_mm_sub_ps(p11, p10), vax));
                        __m128 v = _mm_add_ps(top, _mm_mul_ps(_mm_sub_ps(bot, top), vay));
                        v = _mm_add_ps(vlo, _mm_mul_ps(vsc, v));
                        if (direct && x + e + 1 < ow) {
                            _mm_storeu_ps(oe, v);
                        } else {
                            float res[4];
                            _mm_storeu_ps(res, v);
                            for (int k = 0; k < oc; k++) oe[k * cstep] = res[k];
                        }
                    }
                }
                continue;
            }
#endif
            for (npy_intp x = done; x < ow; x++, o += pstep) {
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
        /* A row crossing the border still has an interior stretch: run it with AVX2 and only
         * the ends pixel by pixel. Margins keep float rounding and the 4-byte tap reads inside
         * (no tap on the last image row). */
        npy_intp xa = ow, xb = ow;
        (void)xb;
#ifdef CK_HAVE_AVX2_PATH
        if (use_avx2 && c >= 3 && oc >= 3 && h >= 3 && w >= 2) {
            double a = 0.0, b = (double)(ow - 1);
            clip_interval(bx, m0, 0.01, (double)w - 1.01, &a, &b);
            clip_interval(by, m3, 0.01, (double)h - 2.02, &a, &b);
            if (b - a >= 8.0) {
                xa = (npy_intp)ceil(a);
                xb = (npy_intp)floor(b) + 1;
                if (xb > ow) xb = ow;
            }
        }
#endif
        for (npy_intp x = 0; x < ow; x++, o += pstep) {
#ifdef CK_HAVE_AVX2_PATH
            if (x == xa) {
                npy_intp done = row_avx2(src, rs, c, oc, nextafterf((float)(w - 1), 0.0f),
                                         nextafterf((float)(h - 1), 0.0f), bx, by, m0, m3, xa, xb,
                                         lo, sc, j->dst + (j->nchw ? y * ow : y * ow * oc),
                                         j->nchw, ow * oh);
                o += (done - x) * pstep;
                x = done;
                if (x >= ow) break;
            }
#endif
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
