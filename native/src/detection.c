/* SSD detector post-processing as MediaPipe's TensorsToDetections + NonMaxSuppression calculators:
 * anchor-relative box and keypoint decoding, clipped sigmoid scores, and WEIGHTED suppression
 * (each kept detection is the score-weighted mean of the cluster it suppresses). */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float isx, isy, isw, ish;
    int nk, box_off, kp_off, bx_i, by_i, exp_size;
} decode_params;

static decode_params make_params(double sx, double sy, double sw, double sh, int nk, int box_off,
                                 int kp_off, int reverse, int exp_size) {
    decode_params p = {(float)(1.0 / sx), (float)(1.0 / sy), (float)(1.0 / sw), (float)(1.0 / sh),
                       nk, box_off, kp_off, reverse ? 0 : 1, reverse ? 1 : 0, exp_size};
    return p;
}

/* One anchor: raw row ri, anchor ai [xc, yc, w, h] -> oi [xmin, ymin, xmax, ymax, kx, ky, ...] */
static inline void decode_row(const decode_params *p, const float *ri, const float *ai,
                              float *oi) {
    const float *b = ri + p->box_off;
    const float sxw = p->isx * ai[2], syh = p->isy * ai[3];
    const float xc = b[p->bx_i] * sxw + ai[0];
    const float yc = b[p->by_i] * syh + ai[1];
    float w = b[2 + p->bx_i], h = b[2 + p->by_i];
    if (p->exp_size) { w = expf(w * p->isw) * ai[2]; h = expf(h * p->ish) * ai[3]; }
    else { w = w * p->isw * ai[2]; h = h * p->ish * ai[3]; }
    oi[0] = xc - 0.5f * w; oi[1] = yc - 0.5f * h;
    oi[2] = xc + 0.5f * w; oi[3] = yc + 0.5f * h;
    const float *kp = ri + p->kp_off;
    for (int k = 0; k < p->nk; k++) {
        oi[4 + 2 * k] = kp[2 * k + p->bx_i] * sxw + ai[0];
        oi[5 + 2 * k] = kp[2 * k + p->by_i] * syh + ai[1];
    }
}

static int check_layout(const char *fn, int nk, int box_off, int kp_off, npy_intp d) {
    if (nk < 0 || nk > 1024 || box_off < 0 || kp_off < 0 || box_off + 4 > d ||
        (nk > 0 && kp_off + 2 * (npy_intp)nk > d)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: %d keypoints at offset %d and a box at offset %d do not fit in %zd "
                     "values per anchor", fn, nk, kp_off, box_off, (Py_ssize_t)d);
        return -1;
    }
    return 0;
}

static int check_scales(const char *fn, double sx, double sy, double sw, double sh) {
    double sc[4] = {sx, sy, sw, sh};
    if (!ck_all_finite_f64(sc, 4) || sx == 0 || sy == 0 || sw == 0 || sh == 0) {
        PyErr_Format(PyExc_ValueError, "%s: scales must be finite and non-zero", fn);
        return -1;
    }
    return 0;
}

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
    if (check_layout(fn, nk, box_off, kp_off, d) || check_scales(fn, sx, sy, sw, sh)) return NULL;
    npy_intp od = 4 + 2 * (npy_intp)nk;
    npy_intp dims[2] = {n, od};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT32);
    if (!out) return NULL;
    const float *r = (const float *)PyArray_DATA(raw);
    const float *a = (const float *)PyArray_DATA(anc);
    float *o = (float *)PyArray_DATA(out);
    const decode_params p = make_params(sx, sy, sw, sh, nk, box_off, kp_off, reverse, exp_size);
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp i = 0; i < n; i++) decode_row(&p, r + i * d, a + i * 4, o + i * od);
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

typedef struct {
    float *box;      /* kept x d */
    float *score;    /* kept */
    npy_intp *size;  /* kept */
    npy_intp *index; /* kept */
} nms_out;

static void nms_out_free(nms_out *o) {
    PyMem_RawFree(o->box); PyMem_RawFree(o->score); PyMem_RawFree(o->size); PyMem_RawFree(o->index);
}

static int nms_out_alloc(nms_out *o, npy_intp max_out, npy_intp d) {
    size_t k = (size_t)(max_out > 0 ? max_out : 1);
    o->box = PyMem_RawMalloc(sizeof(float) * k * (size_t)d);
    o->score = PyMem_RawMalloc(sizeof(float) * k);
    o->size = PyMem_RawMalloc(sizeof(npy_intp) * k);
    o->index = PyMem_RawMalloc(sizeof(npy_intp) * k);
    if (!o->box || !o->score || !o->size || !o->index) {
        nms_out_free(o);
        return -1;
    }
    return 0;
}

/* MediaPipe's weighted suppression over rows bx (n x d) with scores sc. Returns the number
 * kept, or -1 when out of memory. Runs without the GIL. */
static npy_intp nms_core(const float *bx, const float *sc, npy_intp n, npy_intp d, float st,
                         float it, npy_intp max_out, int weighted, nms_out *out) {
    size_t cap = (size_t)(n > 0 ? n : 1);
    ranked *order = PyMem_RawMalloc(sizeof(ranked) * cap);
    ranked *tmp = PyMem_RawMalloc(sizeof(ranked) * cap);
    npy_intp *alive = PyMem_RawMalloc(sizeof(npy_intp) * cap);
    double *sum = PyMem_RawMalloc(sizeof(double) * (size_t)d);
    npy_intp m = 0, kept = 0;
    if (!order || !tmp || !alive || !sum) {
        kept = -1;
        goto done;
    }
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
        float *ob = out->box + kept * d;
        for (npy_intp k = 0; k < d; k++)
            ob[k] = (weighted && total > 0.0) ? (float)(sum[k] / total) : tb[k];
        out->score[kept] = sc[top];
        out->size[kept] = members;
        out->index[kept] = top;
        kept++;
        n_alive = rest;
    }
done:
    PyMem_RawFree(order);
    PyMem_RawFree(tmp);
    PyMem_RawFree(alive);
    PyMem_RawFree(sum);
    return kept;
}

/* (boxes (M, d), scores (M,), cluster_size (M,), index (M,)); index mapped through idx_map. */
static PyObject *nms_result(const nms_out *o, npy_intp kept, npy_intp d, const int64_t *idx_map) {
    npy_intp d2[2] = {kept, d}, d1[1] = {kept};
    PyArrayObject *ob = (PyArrayObject *)PyArray_SimpleNew(2, d2, NPY_FLOAT32);
    PyArrayObject *os = (PyArrayObject *)PyArray_SimpleNew(1, d1, NPY_FLOAT32);
    PyArrayObject *oz = (PyArrayObject *)PyArray_SimpleNew(1, d1, NPY_INT64);
    PyArrayObject *oi = (PyArrayObject *)PyArray_SimpleNew(1, d1, NPY_INT64);
    if (!ob || !os || !oz || !oi) {
        Py_XDECREF(ob); Py_XDECREF(os); Py_XDECREF(oz); Py_XDECREF(oi);
        return NULL;
    }
    if (kept > 0) {
        memcpy(PyArray_DATA(ob), o->box, sizeof(float) * (size_t)(kept * d));
        memcpy(PyArray_DATA(os), o->score, sizeof(float) * (size_t)kept);
        int64_t *z = PyArray_DATA(oz), *ix = PyArray_DATA(oi);
        for (npy_intp i = 0; i < kept; i++) {
            z[i] = o->size[i];
            ix[i] = idx_map ? idx_map[o->index[i]] : o->index[i];
        }
    }
    return Py_BuildValue("(NNNN)", ob, os, oz, oi);
}

static int check_thresholds(const char *fn, double iou_t, double score_t) {
    if (isnan(iou_t) || iou_t < 0 || iou_t > 1 || isnan(score_t)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: iou_threshold must be in [0, 1] and score_threshold a number", fn);
        return -1;
    }
    return 0;
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
    PyArrayObject *boxes = ck_array(b_o, fn, "boxes", NPY_FLOAT32, 2, 2);
    if (!boxes || ck_require_contiguous(boxes, fn, "boxes")) return NULL;
    PyArrayObject *scores = ck_array(s_o, fn, "scores", NPY_FLOAT32, 1, 1);
    if (!scores || ck_require_contiguous(scores, fn, "scores")) return NULL;
    const npy_intp n = PyArray_DIM(scores, 0), d = PyArray_DIM(boxes, 1);
    if (PyArray_DIM(boxes, 0) != n || d < 4) {
        PyErr_Format(PyExc_ValueError,
                     "%s: boxes must have shape (%zd, >=4) to match scores, got (%zd, %zd)", fn,
                     (Py_ssize_t)n, (Py_ssize_t)PyArray_DIM(boxes, 0), (Py_ssize_t)d);
        return NULL;
    }
    if (check_thresholds(fn, iou_t, score_t)) return NULL;
    if (max_out < 0 || max_out > n) max_out = n;
    nms_out o;
    if (nms_out_alloc(&o, max_out, d)) return PyErr_NoMemory();
    const float *bx = (const float *)PyArray_DATA(boxes), *sc = (const float *)PyArray_DATA(scores);
    npy_intp kept;
    Py_BEGIN_ALLOW_THREADS
    kept = nms_core(bx, sc, n, d, (float)score_t, (float)iou_t, max_out, weighted, &o);
    Py_END_ALLOW_THREADS
    PyObject *res = kept < 0 ? PyErr_NoMemory() : nms_result(&o, kept, d, NULL);
    nms_out_free(&o);
    return res;
}

/* ssd_detect(raw_boxes (N, D) f32, raw_scores (N,) f32 logits, anchors (N, 4) f32, scales4,
 *            num_keypoints, box_offset, keypoint_offset, reverse_xy, exp_size, clip,
 *            score_threshold, iou_threshold, max_out)
 *   -> as weighted_nms, index = anchor row. Scores first, so only anchors that pass the score
 *   threshold are decoded: the whole TensorsToDetections + NMS chain in one call. */
PyObject *ck_ssd_detect(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "ssd_detect";
    static char *kwlist[] = {"raw_boxes", "raw_scores", "anchors", "scales", "num_keypoints",
                             "box_offset", "keypoint_offset", "reverse_xy", "exp_size", "clip",
                             "score_threshold", "iou_threshold", "max_out", NULL};
    PyObject *rb_o, *rs_o, *an_o;
    double sx, sy, sw, sh, clip = 100.0, score_t = 0.5, iou_t = 0.3;
    int nk = 0, box_off = 0, kp_off = 4, reverse = 1, exp_size = 0;
    Py_ssize_t max_out = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO(dddd)|iiippdddn", kwlist, &rb_o, &rs_o,
                                     &an_o, &sx, &sy, &sw, &sh, &nk, &box_off, &kp_off, &reverse,
                                     &exp_size, &clip, &score_t, &iou_t, &max_out))
        return NULL;
    PyArrayObject *rb = ck_array(rb_o, fn, "raw_boxes", NPY_FLOAT32, 2, 2);
    if (!rb || ck_require_contiguous(rb, fn, "raw_boxes")) return NULL;
    PyArrayObject *rs = ck_array(rs_o, fn, "raw_scores", NPY_FLOAT32, 1, 1);
    if (!rs || ck_require_contiguous(rs, fn, "raw_scores")) return NULL;
    PyArrayObject *an = ck_array(an_o, fn, "anchors", NPY_FLOAT32, 2, 2);
    if (!an || ck_require_contiguous(an, fn, "anchors")) return NULL;
    const npy_intp n = PyArray_DIM(rb, 0), d = PyArray_DIM(rb, 1);
    if (PyArray_DIM(rs, 0) != n || PyArray_DIM(an, 0) != n || PyArray_DIM(an, 1) != 4) {
        PyErr_Format(PyExc_ValueError,
                     "%s: raw_boxes (%zd, %zd), raw_scores (%zd,) and anchors (%zd, %zd) must "
                     "cover the same anchors", fn, (Py_ssize_t)n, (Py_ssize_t)d,
                     (Py_ssize_t)PyArray_DIM(rs, 0), (Py_ssize_t)PyArray_DIM(an, 0),
                     (Py_ssize_t)PyArray_DIM(an, 1));
        return NULL;
    }
    if (check_layout(fn, nk, box_off, kp_off, d) || check_scales(fn, sx, sy, sw, sh) ||
        check_thresholds(fn, iou_t, score_t))
        return NULL;
    if (!(clip > 0)) {
        PyErr_Format(PyExc_ValueError, "%s: clip must be positive, got %g", fn, clip);
        return NULL;
    }
    const npy_intp od = 4 + 2 * (npy_intp)nk;
    if (max_out < 0 || max_out > n) max_out = n;
    float *cbox = PyMem_RawMalloc(sizeof(float) * (size_t)(n * od));
    float *cscore = PyMem_RawMalloc(sizeof(float) * (size_t)n);
    int64_t *cidx = PyMem_RawMalloc(sizeof(int64_t) * (size_t)n);
    nms_out o = {NULL, NULL, NULL, NULL};
    if (!cbox || !cscore || !cidx || nms_out_alloc(&o, max_out, od)) {
        PyMem_RawFree(cbox); PyMem_RawFree(cscore); PyMem_RawFree(cidx);
        return PyErr_NoMemory();
    }
    const float *r = (const float *)PyArray_DATA(rb), *lg = (const float *)PyArray_DATA(rs);
    const float *a = (const float *)PyArray_DATA(an);
    const decode_params dp = make_params(sx, sy, sw, sh, nk, box_off, kp_off, reverse, exp_size);
    const float c = (float)(clip > 1e30 ? 1e30 : clip), st = (float)score_t;
    /* sigmoid is monotonic: logits clearly below the threshold's logit are skipped without
     * an exp (the margin keeps float rounding from dropping a borderline candidate) */
    const float lmin = (score_t > 0.0 && score_t < 1.0)
                           ? (float)(log(score_t / (1.0 - score_t)) - 1e-3) : -INFINITY;
    npy_intp kept, m = 0;
    Py_BEGIN_ALLOW_THREADS
    for (npy_intp i = 0; i < n; i++) {
        float v = lg[i];
        if (!(v >= lmin)) continue; /* also drops NaN */
        v = v < -c ? -c : (v > c ? c : v);
        const float score = 1.0f / (1.0f + expf(-v));
        if (!(score >= st)) continue;
        decode_row(&dp, r + i * d, a + i * 4, cbox + m * od);
        cscore[m] = score;
        cidx[m] = i;
        m++;
    }
    kept = nms_core(cbox, cscore, m, od, st, (float)iou_t, max_out, 1, &o);
    Py_END_ALLOW_THREADS
    PyObject *res = kept < 0 ? PyErr_NoMemory() : nms_result(&o, kept, od, cidx);
    nms_out_free(&o);
    PyMem_RawFree(cbox);
    PyMem_RawFree(cscore);
    PyMem_RawFree(cidx);
    return res;
}
