/* Shared declarations of the C kernels in native._kernels. Each kernel lives in its own file in
 * native/src and is registered in module.c's method table. */
#ifndef CUEKIT_KERNELS_H
#define CUEKIT_KERNELS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <numpy/ndarraytypes.h>

/* Caps on what one call may allocate: a bad ROI or size must not exhaust memory. */
#define CK_MAX_SIDE 16384
#define CK_MAX_ELEMENTS ((npy_intp)1 << 28)

/* common.c: argument checks. Each sets a Python exception naming fn and name on failure. */
PyArrayObject *ck_array(PyObject *obj, const char *fn, const char *name, int typenum, int min_nd,
                        int max_nd);
int ck_require_contiguous(PyArrayObject *a, const char *fn, const char *name);
int ck_require_writeable(PyArrayObject *a, const char *fn, const char *name);
int ck_all_finite_f64(const double *x, npy_intp n);
int ck_all_finite_f32(const float *x, npy_intp n);

/* normalize.c */
PyObject *ck_normalize_u8(PyObject *self, PyObject *args, PyObject *kwargs);
/* image_to_tensor.c */
PyObject *ck_warp_to_tensor(PyObject *self, PyObject *args, PyObject *kwargs);
/* detection.c */
PyObject *ck_decode_boxes(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *ck_sigmoid_scores(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *ck_weighted_nms(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *ck_ssd_detect(PyObject *self, PyObject *args, PyObject *kwargs);
/* imu_madgwick.c, imu_biquad.c, imu_resample.c */
PyObject *ck_madgwick_update(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *ck_biquad_process(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *ck_interp_linear(PyObject *self, PyObject *args, PyObject *kwargs);
/* audio_logmel.c, audio_resample.c */
PyObject *ck_logmel_frames(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *ck_polyphase(PyObject *self, PyObject *args, PyObject *kwargs);

#endif
