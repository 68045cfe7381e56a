# Cython's view of _label_counts.h: groups of GROUP classes, one class a lane,
# and the few intrinsics the counting pass of _multilabel_margin.pyx calls
# (included).

from libc.stdint cimport int32_t, uint64_t

cdef extern from "_label_counts.h" nogil:
    enum:
        GROUP "LC_GROUP"
        TABLE "LC_TABLE"
    ctypedef struct lc_f32:
        pass
    ctypedef struct lc_i32:
        pass
    ctypedef struct lc_f64:
        pass
    lc_f32 load_f32 "lc_load_f32"(const float* p)
    lc_i32 zero_i32 "lc_zero_i32"()
    ctypedef struct lc_mask:
        pass
    lc_mask gt "lc_gt"(lc_f32 v, float t)
    lc_i32 add_mask "lc_add_mask"(lc_i32 count, lc_mask m)
    lc_mask gt_where "lc_gt_where"(lc_f32 v, float t, lc_mask where)
    lc_mask unflagged "lc_unflagged"(const unsigned char* flag)
    int mask_count "lc_mask_count"(lc_mask m)
    bint beyond_f32 "lc_beyond"(lc_f32 v, float bound)
    lc_i32 zero_where "lc_zero_where"(lc_i32 a, const unsigned char* flag)
    lc_f64 cvt_i32_f64 "lc_cvt_i32_f64"(lc_i32 a)
    lc_f64 cvt_f32_f64 "lc_cvt_f32_f64"(lc_f32 a)
    lc_f64 set1_f64 "lc_set1_f64"(double a)
    lc_f64 add_f64 "lc_add_f64"(lc_f64 a, lc_f64 b)
    lc_f64 sub_f64 "lc_sub_f64"(lc_f64 a, lc_f64 b)
    lc_f64 mul_f64 "lc_mul_f64"(lc_f64 a, lc_f64 b)
    lc_f64 fmadd_f64 "lc_fmadd_f64"(lc_f64 a, lc_f64 b, lc_f64 c)
    lc_i32 max_abs_bits "lc_max_abs_bits"(lc_i32 m, lc_f32 v)
    int32_t max_lane "lc_max_lane"(lc_i32 m)
    double lanes_sum "lc_lanes_sum"(lc_f64 t)
    void store_f64 "lc_store_f64"(double* p, lc_f64 a)
    lc_f64 load_f64 "lc_load_f64"(const double* p)
    lc_f64 with_lane "lc_with_lane"(lc_f64 a, int lane, double value)
    double lanes_total "lc_lanes_total"(lc_f64 total, lc_f64 error)
    void store_f32 "lc_store_f32"(float* p, lc_f64 a)
    void prefetch "lc_prefetch"(const void* p)
    void store_lookup "lc_store_lookup"(float* p, const float* table, lc_i32 index)
    uint64_t nonzero_bytes "lc_nonzero_bytes"(const unsigned char* p)
    int lowest_bit "lc_lowest_bit"(uint64_t bits)
