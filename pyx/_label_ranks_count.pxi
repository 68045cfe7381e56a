# Cython's view of _label_ranks_count.h: the counting pass's rank search (each
# class's count by binary search among the sorted thresholds, the label
# columns from the counts as bytes; included after _label_counts.pxi).

from libc.stdint cimport int32_t

cdef extern from "_label_ranks.h" nogil:
    lc_i32 load_i32 "lr_load_i32"(const int32_t* p)
    void store_i32 "lr_store_i32"(int32_t* p, lc_i32 a)

cdef extern from "_label_ranks_count.h" nogil:
    enum:
        RANKS "LCR_RANKS"
        RANK_MAX "LCR_MAX"
    ctypedef struct lcr_table:
        pass
    ctypedef struct lcr_bytes:
        pass
    lcr_table load_table "lcr_load_table"(const float* p)
    lc_i32 search_step "lcr_step"(lcr_table table, lc_f32 v, lc_i32 rank, int step)
    lc_i32 rank_where "lcr_where"(lc_i32 rank, lc_mask other)
    void store_bytes "lcr_store_bytes"(unsigned char* p, lc_i32 rank)
    void positions "lcr_positions"(lcr_table table, const float* threshold, int n,
                                   int32_t* position)
    lcr_bytes load_bytes "lcr_load_bytes"(const unsigned char* p)
    lcr_bytes zero_bytes "lcr_zero_bytes"()
    lcr_bytes add_above "lcr_add_above"(lcr_bytes count, lcr_bytes rank, int j)
    int32_t sum_bytes "lcr_sum_bytes"(lcr_bytes count)
