# Cython's view of _row_blocks.h: vectors of ROWS rows, one row a lane, and
# the few intrinsics the row blocks of _multi_margin.pyx call (included).

from libc.stdint cimport int32_t, int64_t

cdef extern from "_row_blocks.h" nogil:
    # Vectors of ROWS rows, one row a lane (see the header).
    enum:
        ROWS "ML_ROWS"
    ctypedef struct f32v "ml_f32":
        pass
    ctypedef struct f64v "ml_f64":
        pass
    ctypedef struct i32v "ml_i32":
        pass
    ctypedef struct maskv "ml_mask":
        pass
    i32v targets "ml_targets"(const int64_t* t, int64_t n_classes, int* valid)
    i32v iota_times "ml_iota_times"(int32_t c)
    void columns "ml_columns"(const float* x, int32_t stride, int32_t first, int32_t n,
                              f32v* out)
    void store_columns "ml_store_columns"(float* x, int32_t stride, int32_t n, const f32v* cols)
    i32v set1_i32 "ml_set1_i32"(int32_t a)
    i32v add_i32 "ml_add_i32"(i32v a, i32v b)
    i32v mul_i32 "ml_mul_i32"(i32v a, i32v b)
    i32v load_i32 "ml_load_i32"(const int32_t* p)
    void store_i32 "ml_store_i32"(int32_t* p, i32v a)
    f32v gather_f32 "ml_gather_f32"(const float* base, i32v idx)
    f64v gather_f64 "ml_gather_f64"(const double* base, i32v idx)
    f32v set1_f32 "ml_set1_f32"(float a)
    f32v add_f32 "ml_add_f32"(f32v a, f32v b)
    f32v sub_f32 "ml_sub_f32"(f32v a, f32v b)
    f32v max0_f32 "ml_max0_f32"(f32v z)
    f32v max0_nan_f32 "ml_max0_nan_f32"(f32v z)
    f32v load_f32 "ml_load_f32"(const float* p)
    maskv gt_f64 "ml_gt_f64"(f64v a, f64v b)
    maskv nonfinite_f64 "ml_nonfinite_f64"(f64v a)
    f64v max0_f64 "ml_max0_f64"(f64v z)
    f64v max0_nan_f64 "ml_max0_nan_f64"(f64v z)
    f64v select_f64 "ml_select_f64"(maskv m, f64v a, f64v b)
    maskv lt_i32 "ml_lt_i32"(i32v a, i32v b)
    f32v permute_f32 "ml_permute_f32"(i32v idx, f32v table)
    f64v permute_f64 "ml_permute_f64"(i32v idx, f64v table)
    f32v select_f32 "ml_select_f32"(maskv m, f32v a, f32v b)
    f32v zero_unless_f32 "ml_zero_unless_f32"(maskv m, f32v a)
    void store_f32 "ml_store_f32"(float* p, f32v a)
    void scatter_f32 "ml_scatter_f32"(float* base, i32v idx, f32v a)
    maskv gt_f32 "ml_gt_f32"(f32v a, f32v b)
    maskv isnan_f32 "ml_isnan_f32"(f32v a)
    maskv isnan_f64 "ml_isnan_f64"(f64v a)
    f32v or_f32 "ml_or_f32"(f32v a, f32v b)
    maskv neq_i32 "ml_neq_i32"(i32v a, i32v b)
    maskv eq_i32 "ml_eq_i32"(i32v a, i32v b)
    i32v permute_i32 "ml_permute_i32"(i32v idx, i32v table)
    maskv or_mask "ml_or"(maskv a, maskv b)
    maskv and_mask "ml_and"(maskv a, maskv b)
    int mask_bits "ml_bits"(maskv a)
    i32v count_mask "ml_count"(i32v n, maskv m)
    f64v set1_f64 "ml_set1_f64"(double a)
    f64v add_f64 "ml_add_f64"(f64v a, f64v b)
    f64v sub_f64 "ml_sub_f64"(f64v a, f64v b)
    f64v mul_f64 "ml_mul_f64"(f64v a, f64v b)
    f64v div_f64 "ml_div_f64"(f64v a, f64v b)
    f64v cvt_f64 "ml_cvt_f64"(f32v a)
    f64v cvt_i32_f64 "ml_cvt_i32_f64"(i32v a)
    f32v cvt_f32 "ml_cvt_f32"(f64v a)
    f64v load_f64 "ml_load_f64"(const double* p)
    void store_f64 "ml_store_f64"(double* p, f64v a)
    void prefetch "ml_prefetch"(const void* base, Py_ssize_t offset, int n_bytes)
    void prefetch_write "ml_prefetch_write"(void* base, Py_ssize_t offset, int n_bytes)
