/* SSD detector post-processing as MediaPipe's TensorsToDetections + NonMaxSuppression calculators:
 * anchor-relative box and keypoint decoding, clipped sigmoid scores, and WEIGHTED suppression
 * (each kept detection is the score-weighted mean of the cluster it suppresses). */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>
#include <string.h>

/* decode_boxes(raw (N, D) f32, anchors (N, 4) f32 [xc, yc, w, h], scales (sx, sy, sw, sh),
 *              num_keypoints, box_offset, keypoint_offset, reverse_xy, exp_size)
 *   -> (N, 4 + 2K) f32 [xmin, ymin, xmax, ymax, kx0, ky0, ...] normalised */
PyObject *ck_decode_boxes(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "decode_boxes";
    static char *kwlist[] = {"raw", "anchors", "scales", "num_keypoints", "box_offset",
                             "keypoint_offset", "reverse_xy", "exp_size", NULL};
    PyObject *raw_o, *anc_o;
    double sx, sy, sw, sh;
    int nk = 0, box_off = 0, kp_off = 4, reverse = 1, exp_size = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO(dddd)|iiipp", kwlist, &raw_o, &anc_o, &sx,
                                     &sy, &sw, &sh, &nk, &box_off, &kp_off, &reverse, &exp_size))
        return NULL;
    PyArrayObject *raw = ck_array(raw_o, fn, "raw", NPY_FLOAT32, 2, 2);
    if (!raw || ck_require_contiguous(raw, fn, "raw")) return NULL;
    PyArrayObject *anc = ck_array(anc_o, fn, "anchors", NPY_FLOAT32, 2, 2);
    if (!anc || ck_require_contiguous(anc, fn, "anchors")) return NULL;
    npy_intp n = PyArray_DIM(raw, 0), d = PyArray_DIM(raw, 1);
    if (PyArray_DIM(anc, 0) != n || PyArray_DIM(anc, 1) != 4) {
        PyErr_Format(PyExc_ValueError, "%s: anchors must have shape (%zd, 4), got (%zd, %zd)", fn,
                     (Py_ssize_t)n, (Py_ssize_t)PyArray_DIM(anc, 0),
                     (Py_ssize_t)PyArray_DIM(anc, 1));
        return NULL;
    }
    if (nk < 0 || nk > 1024 || box_off < 0 || kp_off < 0 || box_off + 4 > d ||
        (nk > 0 && kp_off + 2 * (npy_intp)nk > d)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %d keypoints at offset %d and a box at offset %d do not fit in %zd "
                     "values per anchor", fn, nk, kp_off, box_off, (Py_ssize_t)d);
        return NULL;
    }
    double sc[4] = {sx, sy, sw, sh};
    if (!ck_all_finite_f64(sc, 4) || sx == 0 || sy == 0 || sw == 0 || sh == 0) {
        PyErr_Format(PyExc_ValueError, "%s: scales must be finite and non-zero", fn);
        return NULL;
    }
    npy_intp od = 4 + 2 * (npy_intp)nk;
    npy_intp dims[2] = {n, od};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!out) return NULL;
    const float *r = (const float *)PyArray_DATA(raw);
    const float *a = (const float *)PyArray_DATA(anc);
    float *o = (float *)PyArray_DATA(out);
    const float isx = (float)(1.0 / sx), isy = (float)(1.0 / sy), isw = (float)(1.0 / sw),
                ish = (float)(1.0 / sh);
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp i = 0; i < n; i++) {
        const float *ri = r + i * d, *ai = a + i * 4;
        float *oi = o + i * od;
        const float *b = ri + box_off;
        float xc, yc, w, h;
        if (reverse) { xc = b[0]; yc = b[1]; w = b[2]; h = b[3]; }
        else { yc = b[0]; xc = b[1]; h = b[2]; w = b[3]; }
        xc = xc * isx * ai[2] + ai[0];
        yc = yc * isy * ai[3] + ai[1];
        if (exp_size) { w = expf(w * isw) * ai[2]; h = expf(h * ish) * ai[3]; }
        else { w = w * isw * ai[2]; h = h * ish * ai[3]; }
        oi[0] = xc - 0.5f * w; oi[1] = yc - 0.5f * h;
        oi[2] = xc + 0.5f * w; oi[3] = yc + 0.5f * h;
        for (int k = 0; k < nk; k++) {
            const float *kp = ri + kp_off + 2 * k;
            float kx = reverse ? kp[0] : kp[1], ky = reverse ? kp[1] : kp[0];
            oi[4 + 2 * k] = kx * isx * ai[2] + ai[0];
            oi[5 + 2 * k] = ky * isy * ai[3] + ai[1];
        }
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}

/* sigmoid_scores(raw f32 any shape, clip) -> f32 same shape; logits clipped to [-clip, clip]. */
PyObject *ck_sigmoid_scores(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "sigmoid_scores";
    static char *kwlist[] = {"raw", "clip", NULL};
    PyObject *raw_o;
    double clip = 100.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|d", kwlist, &raw_o, &clip)) return NULL;
    PyArrayObject *raw = ck_array(raw_o, fn, "raw", NPY_FLOAT32, 1, 3);
    if (!raw || ck_require_contiguous(raw, fn, "raw")) return NULL;
    if (!(clip > 0) || isnan(clip)) {
        PyErr_Format(PyExc_ValueError, "%s: clip must be positive, got %g", fn, clip);
        return NULL;
    }
    PyArrayObject *out = (PyArrayObject *)PyArray_NewLikeArray(raw, NPY_CORDER, NULL, 0);
    if (!out) return NULL;
    npy_intp n = PyArray_SIZE(raw);
    const float *r = (const float *)PyArray_DATA(raw);
    float *o = (float *)PyArray_DATA(out);
    const float c = (float)(clip > 1e30 ? 1e30 : clip);
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp i = 0; i < n; i++) {
        float v = r[i];
        /* NaN logits become score 0 instead of poisoning the sort */
        if (isnan(v)) v = -c;
        v = v < -c ? -c : (v > c ? c : v);
        o[i] = 1.0f / (1.0f + expf(-v));
    }
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}

typedef struct { float score; npy_intp idx; } ranked;

/* a before b: higher score first, then lower index (deterministic ties) */
static inline int before(const ranked *a, const ranked *b) {
    return a->score > b->score || (a->score == b->score && a->idx < b->idx);
}

/* Bottom-up merge sort with an inlined comparison: qsort's indirect calls cost more than the
 * suppression itself for the few hundred candidates a detector yields. tmp holds n items. */
static void sort_ranked(ranked *a, ranked *tmp, npy_intp n) {
    ranked *src = a, *dst = tmp;
    for (npy_intp width = 1; width < n; width *= 2) {
        for (npy_intp lo = 0; lo < n; lo += 2 * width) {
            npy_intp mid = lo + width < n ? lo + width : n;
            npy_intp hi = lo + 2 * width < n ? lo + 2 * width : n;
            npy_intp i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = before(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        ranked *t = src; src = dst; dst = t;
    }
    if (src != a)
        for (npy_intp i = 0; i < n; i++) a[i] = src[i];
}

static inline float iou(const float *a, const float *b) {
    float ix0 = a[0] > b[0] ? a[0] : b[0], iy0 = a[1] > b[1] ? a[1] : b[1];
    float ix1 = a[2] < b[2] ? a[2] : b[2], iy1 = a[3] < b[3] ? a[3] : b[3];
    if (!(ix1 > ix0 && iy1 > iy0)) return 0.0f;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    float uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

/* weighted_nms(boxes (N, D>=4) f32 [xmin, ymin, xmax, ymax, extra...], scores (N,) f32,
 *              iou_threshold, score_threshold, max_out, weighted)
 *   -> (boxes (M, D) f32, scores (M,) f32, cluster_size (M,) int64, index (M,) int64)
 * All D columns (box corners and keypoints) are averaged over the cluster, weighted by score;
 * the score stays the top detection's, and `index` is the top detection's row. */
PyObject *ck_weighted_nms(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "weighted_nms";
    static char *kwlist[] = {"boxes", "scores", "iou_threshold", "score_threshold", "max_out",
                             "weighted", NULL};
    PyObject *b_o, *s_o;
    double iou_t = 0.3, score_t = 0.5;
    Py_ssize_t max_out = -1;
    int weighted = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|ddnp", kwlist, &b_o, &s_o, &iou_t,
                                     &score_t, &max_out, &weighted))
        return NULL;
    if (!PyArray_Check(b_o) || !PyArray_Check(s_o)) {
        PyErr_Format(PyExc_TypeError, "%s: boxes and scores must be numpy arrays", fn);
        return NULL;
    }
    npy_intp n = PyArray_NDIM((PyArrayObject *)s_o) == 1 ? PyArray_DIM((PyArrayObject *)s_o, 0)
                                                        : -1;
    npy_intp d = 4;
    const float *bx = NULL, *sc = NULL;
    PyArrayObject *boxes = NULL, *scores = NULL;
    if (n != 0) {
        boxes = ck_array(b_o, fn, "boxes", NPY_FLOAT32, 2, 2);
        if (!boxes || ck_require_contiguous(boxes, fn, "boxes")) return NULL;
        scores = ck_array(s_o, fn, "scores", NPY_FLOAT32, 1, 1);
        if (!scores || ck_require_contiguous(scores, fn, "scores")) return NULL;
        n = PyArray_DIM(scores, 0);
        d = PyArray_DIM(boxes, 1);
        if (PyArray_DIM(boxes, 0) != n || d < 4) {
            PyErr_Format(PyExc_ValueError,
                         "%s: boxes must have shape (%zd, >=4) to match scores, got (%zd, %zd)",
                         fn, (Py_ssize_t)n, (Py_ssize_t)PyArray_DIM(boxes, 0), (Py_ssize_t)d);
            return NULL;
        }
        bx = (const float *)PyArray_DATA(boxes);
        sc = (const float *)PyArray_DATA(scores);
    } else if (PyArray_TYPE((PyArrayObject *)s_o) != NPY_FLOAT32) {
        PyErr_Format(PyExc_TypeError, "%s: scores must have dtype float32", fn);
        return NULL;
    }
    if (isnan(iou_t) || iou_t < 0 || iou_t > 1 || isnan(score_t)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: iou_threshold must be in [0, 1] and score_threshold a number", fn);
        return NULL;
    }
    if (max_out < 0 || max_out > n) max_out = n;
    ranked *order = PyMem_RawMalloc(sizeof(ranked) * (size_t)(n > 0 ? n : 1));
    ranked *tmp = PyMem_RawMalloc(sizeof(ranked) * (size_t)(n > 0 ? n : 1));
    npy_intp *alive = PyMem_RawMalloc(sizeof(npy_intp) * (size_t)(n > 0 ? n : 1));
    float *acc = PyMem_RawMalloc(sizeof(float) * (size_t)(d * (max_out > 0 ? max_out : 1)));
    float *oscore = PyMem_RawMalloc(sizeof(float) * (size_t)(max_out > 0 ? max_out : 1));
    npy_intp *osize = PyMem_RawMalloc(sizeof(npy_intp) * (size_t)(max_out > 0 ? max_out : 1));
    npy_intp *oidx = PyMem_RawMalloc(sizeof(npy_intp) * (size_t)(max_out > 0 ? max_out : 1));
    double *sum = PyMem_RawMalloc(sizeof(double) * (size_t)d);
    if (!order || !tmp || !alive || !acc || !oscore || !osize || !oidx || !sum) {
        PyMem_RawFree(order); PyMem_RawFree(tmp); PyMem_RawFree(alive); PyMem_RawFree(acc); PyMem_RawFree(oscore);
        PyMem_RawFree(osize); PyMem_RawFree(oidx); PyMem_RawFree(sum);
        return PyErr_NoMemory();
    }
    npy_intp m = 0, kept = 0;
    const float st = (float)score_t, it = (float)iou_t;
    Py_BEGIN_ALLOW_THREADS
    /* candidates: score >= threshold (NaN scores and boxes with NaN corners never qualify) */
    for (npy_intp i = 0; i < n; i++) {
        const float *b = bx + i * d;
        if (sc[i] >= st && isfinite(sc[i]) && isfinite(b[0]) && isfinite(b[1]) &&
            isfinite(b[2]) && isfinite(b[3])) {
            order[m].score = sc[i];
            order[m].idx = i;
            m++;
        }
    }
    sort_ranked(order, tmp, m);
    for (npy_intp i = 0; i < m; i++) alive[i] = order[i].idx;
    npy_intp n_alive = m;
    while (n_alive > 0 && kept < max_out) {
        const npy_intp top = alive[0];
        const float *tb = bx + top * d;
        for (npy_intp k = 0; k < d; k++) sum[k] = 0.0;
        double total = 0.0;
        npy_intp rest = 0, members = 0;
        for (npy_intp i = 0; i < n_alive; i++) {
            const npy_intp j = alive[i];
            const float *b = bx + j * d;
            /* the top box always joins its own cluster, even if degenerate (IoU 0) */
            if (i == 0 || iou(b, tb) > it) {
                members++;
                if (weighted) {
                    for (npy_intp k = 0; k < d; k++) sum[k] += (double)b[k] * sc[j];
                    total += sc[j];
                }
            } else {
                alive[rest++] = j;
            }
        }
        float *ob = acc + kept * d;
        for (npy_intp k = 0; k < d; k++)
            ob[k] = (weighted && total > 0.0) ? (float)(sum[k] / total) : tb[k];
        oscore[kept] = sc[top];
        osize[kept] = members;
        oidx[kept] = top;
        kept++;
        n_alive = rest;
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(order);
    PyMem_RawFree(tmp);
    PyMem_RawFree(alive);
    PyMem_RawFree(sum);
    npy_intp d2[2] = {kept, d}, d1[1] = {kept};
    PyArrayObject *ob = (PyArrayObject *)PyArray_SimpleNew(2, d2, NPY_FLOAT32);
    PyArrayObject *os = (PyArrayObject *)PyArray_SimpleNew(1, d1, NPY_FLOAT32);
    PyArrayObject *oz = (PyArrayObject *)PyArray_SimpleNew(1, d1, NPY_INT64);
    PyArrayObject *oi = (PyArrayObject *)PyArray_SimpleNew(1, d1, NPY_INT64);
    if (ob && os && oz && oi && kept > 0) {
        memcpy(PyArray_DATA(ob), acc, sizeof(float) * (size_t)(kept * d));
        memcpy(PyArray_DATA(os), oscore, sizeof(float) * (size_t)kept);
        int64_t *z = PyArray_DATA(oz), *ix = PyArray_DATA(oi);
        for (npy_intp i = 0; i < kept; i++) { z[i] = osize[i]; ix[i] = oidx[i]; }
    }
    PyMem_RawFree(acc);
    PyMem_RawFree(oscore);
    PyMem_RawFree(osize);
    PyMem_RawFree(oidx);
    if (!ob || !os || !oz || !oi) {
        Py_XDECREF(ob); Py_XDECREF(os); Py_XDECREF(oz); Py_XDECREF(oi);
        return NULL;
    }
    return Py_BuildValue("(NNNN)", ob, os, oz, oi);
}
