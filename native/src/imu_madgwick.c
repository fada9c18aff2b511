/* Madgwick's gradient-descent AHRS, IMU form (gyro + accelerometer), in double precision.
 * The quaternion (w, x, y, z) is the caller's state array, updated in place, so one filter's
 * state survives across batches without a C object. */
#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL CUEKIT_ARRAY_API
#include "kernels.h"
#include <numpy/arrayobject.h>
#include <math.h>

static void madgwick_run(double *q, const double *acc, const double *gyr, const double *dt,
                         npy_intp n, double beta, double *out) {
    double q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    for (npy_intp i = 0; i < n; i++) {
        const double gx = gyr[3 * i], gy = gyr[3 * i + 1], gz = gyr[3 * i + 2];
        double ax = acc[3 * i], ay = acc[3 * i + 1], az = acc[3 * i + 2];
        double d0 = 0.5 * (-q1 * gx - q2 * gy - q3 * gz);
        double d1 = 0.5 * (q0 * gx + q2 * gz - q3 * gy);
        double d2 = 0.5 * (q0 * gy - q1 * gz + q3 * gx);
        double d3 = 0.5 * (q0 * gz + q1 * gy - q2 * gx);
        double an = sqrt(ax * ax + ay * ay + az * az);
        /* no accelerometer reading (all zero or non-finite): integrate the gyro only */
        if (an > 0.0 && isfinite(an)) {
            ax /= an; ay /= an; az /= an;
            /* objective: predicted gravity in the sensor frame minus the measured one */
            double f0 = 2.0 * (q1 * q3 - q0 * q2) - ax;
            double f1 = 2.0 * (q0 * q1 + q2 * q3) - ay;
            double f2 = 2.0 * (0.5 - q1 * q1 - q2 * q2) - az;
            /* gradient J^T f */
            double s0 = -2.0 * q2 * f0 + 2.0 * q1 * f1;
            double s1 = 2.0 * q3 * f0 + 2.0 * q0 * f1 - 4.0 * q1 * f2;
            double s2 = -2.0 * q0 * f0 + 2.0 * q3 * f1 - 4.0 * q2 * f2;
            double s3 = 2.0 * q1 * f0 + 2.0 * q2 * f1;
            double sn = sqrt(s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3);
            if (sn > 0.0) {
                d0 -= beta * s0 / sn; d1 -= beta * s1 / sn;
                d2 -= beta * s2 / sn; d3 -= beta * s3 / sn;
            }
        }
        double h = dt[i];
        double n0 = q0 + d0 * h, n1 = q1 + d1 * h, n2 = q2 + d2 * h, n3 = q3 + d3 * h;
        double qn = sqrt(n0 * n0 + n1 * n1 + n2 * n2 + n3 * n3);
        if (qn > 0.0 && isfinite(qn)) {
            q0 = n0 / qn; q1 = n1 / qn; q2 = n2 / qn; q3 = n3 / qn;
        } /* else keep the previous orientation: a bad sample must not poison the state */
        out[4 * i] = q0; out[4 * i + 1] = q1; out[4 * i + 2] = q2; out[4 * i + 3] = q3;
    }
    q[0] = q0; q[1] = q1; q[2] = q2; q[3] = q3;
}

/* madgwick_update(q (4,) f64 in/out, accel (N,3) f64, gyro (N,3) f64, dt (N,) f64, beta)
 *   -> (N, 4) f64 quaternions w, x, y, z after each sample */
PyObject *ck_madgwick_update(PyObject *self, PyObject *args, PyObject *kwargs) {
    static const char *fn = "madgwick_update";
    static char *kwlist[] = {"q", "accel", "gyro", "dt", "beta", NULL};
    PyObject *q_o, *a_o, *g_o, *d_o;
    double beta;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOd", kwlist, &q_o, &a_o, &g_o, &d_o,
                                     &beta))
        return NULL;
    PyArrayObject *q = ck_array(q_o, fn, "q", NPY_FLOAT64, 1, 1);
    if (!q || ck_require_contiguous(q, fn, "q") || ck_require_writeable(q, fn, "q")) return NULL;
    PyArrayObject *a = ck_array(a_o, fn, "accel", NPY_FLOAT64, 2, 2);
    if (!a || ck_require_contiguous(a, fn, "accel")) return NULL;
    PyArrayObject *g = ck_array(g_o, fn, "gyro", NPY_FLOAT64, 2, 2);
    if (!g || ck_require_contiguous(g, fn, "gyro")) return NULL;
    PyArrayObject *d = ck_array(d_o, fn, "dt", NPY_FLOAT64, 1, 1);
    if (!d || ck_require_contiguous(d, fn, "dt")) return NULL;
    npy_intp n = PyArray_DIM(a, 0);
    if (PyArray_DIM(q, 0) != 4 || PyArray_DIM(a, 1) != 3 || PyArray_DIM(g, 0) != n ||
        PyArray_DIM(g, 1) != 3 || PyArray_DIM(d, 0) != n) {
        PyErr_Format(PyExc_ValueError,
                     "%s: need q (4,), accel (N, 3), gyro (N, 3) and dt (N,) with one N", fn);
        return NULL;
    }
    if (!isfinite(beta) || beta < 0) {
        PyErr_Format(PyExc_ValueError, "%s: beta must be finite and >= 0, got %g", fn, beta);
        return NULL;
    }
    double *qd = (double *)PyArray_DATA(q);
    if (!ck_all_finite_f64(qd, 4) || qd[0] * qd[0] + qd[1] * qd[1] + qd[2] * qd[2] +
                                             qd[3] * qd[3] < 1e-12) {
        PyErr_Format(PyExc_ValueError, "%s: q must be a finite non-zero quaternion", fn);
        return NULL;
    }
    const double *dtd = (const double *)PyArray_DATA(d);
    for (npy_intp i = 0; i < n; i++) {
        if (!(dtd[i] >= 0.0 && dtd[i] < 1e6)) {
            PyErr_Format(PyExc_ValueError, "%s: dt[%zd] = %g must be finite and >= 0", fn,
                         (Py_ssize_t)i, dtd[i]);
            return NULL;
        }
    }
    if (!ck_all_finite_f64((const double *)PyArray_DATA(g), 3 * n)) {
        PyErr_Format(PyExc_ValueError, "%s: gyro has NaN or inf", fn);
        return NULL;
    }
    npy_intp dims[2] = {n, 4};
    PyArrayObject *out = (PyArrayObject *)PyArray_SimpleNew(2, dims, NPY_FLOAT64);
    if (!out) return NULL;
    double *od = (double *)PyArray_DATA(out);
    const double *ad = (const double *)PyArray_DATA(a), *gd = (const double *)PyArray_DATA(g);
    Py_BEGIN_ALLOW_THREADS
    madgwick_run(qd, ad, gd, dtd, n, beta, od);
    Py_END_ALLOW_THREADS
    return (PyObject *)out;
}
