/* native._kernels: the module object and its method table. Kernels live in their own files. */
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>

#define KW(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, METH_VARARGS | METH_KEYWORDS, doc}

static PyMethodDef methods[] = {
    KW("normalize_u8", ck_normalize_u8,
       "normalize_u8(image, lo=0.0, hi=1.0, nchw=False) -> float32 array mapping 0..255 to lo..hi"),
    KW("warp_to_tensor", ck_warp_to_tensor,
       "warp_to_tensor(image, matrix6, out_w, out_h, replicate=True, lo=0, hi=1, nchw=False, "
       "cubic=False, out_channels=0) -> float32 [1,H,W,C] or [1,C,H,W]; matrix maps tensor "
       "pixel (x, y) to image pixel coordinates"),
    KW("decode_boxes", ck_decode_boxes,
       "decode_boxes(raw, anchors, scales4, num_keypoints=0, box_offset=0, keypoint_offset=4, "
       "reverse_xy=True, exp_size=False) -> (N, 4+2K) [xmin, ymin, xmax, ymax, kx, ky, ...]"),
    KW("sigmoid_scores", ck_sigmoid_scores, "sigmoid_scores(raw, clip=100) -> sigmoid(clip(raw))"),
    KW("weighted_nms", ck_weighted_nms,
       "weighted_nms(boxes, scores, iou_threshold=0.3, score_threshold=0.5, max_out=-1, "
       "weighted=True) -> (boxes, scores, cluster_size, index)"),
    KW("ssd_detect", ck_ssd_detect,
       "ssd_detect(raw_boxes, raw_scores, anchors, scales4, num_keypoints=0, box_offset=0, "
       "keypoint_offset=4, reverse_xy=True, exp_size=False, clip=100, score_threshold=0.5, "
       "iou_threshold=0.3, max_out=-1) -> (boxes, scores, cluster_size, anchor_index)"),
    KW("madgwick_update", ck_madgwick_update,
       "madgwick_update(q, accel, gyro, dt, beta) -> (N, 4) quaternions; q (4,) updated in place"),
    KW("biquad_process", ck_biquad_process,
       "biquad_process(x (N, C), coefs [b0 b1 b2 a1 a2], state (C, 2)) -> (N, C); state in place"),
    KW("interp_linear", ck_interp_linear,
       "interp_linear(t_ns (N,), values (N, C), tq_ns (M,)) -> (M, C) linear interpolation"),
    KW("logmel_frames", ck_logmel_frames,
       "logmel_frames(x, window, twiddles, hop, offsets, bins, weights, log_floor, preemphasis, "
       "remove_dc, dct=None) -> (n_frames, n_mels | n_dct) float32"),
    KW("polyphase", ck_polyphase,
       "polyphase(buf, buf_start, table (L, K), M, D, m_start, m_end) -> float32 outputs"),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "native._kernels", "CueKit's C preprocessing kernels.", -1, methods,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    import_array();
    return PyModule_Create(&moduledef);
}
