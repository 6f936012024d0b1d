/* Searches in sorted arrays of 64-bit values, shared by dedup's C extensions. */
#ifndef DEDUP_SORTED_H
#define DEDUP_SORTED_H

#include <Python.h>
#include <stdint.h>

/* First position in a[lo:n] whose value is >= x. */
static inline Py_ssize_t lower_bound(const uint64_t *a, Py_ssize_t lo, Py_ssize_t n, uint64_t x)
{
    Py_ssize_t count = n - lo;
    while (count > 0) {
        Py_ssize_t half = count / 2;
        if (a[lo + half] < x) {
            lo += half + 1;
            count -= half + 1;
        } else {
            count = half;
        }
    }
    return lo;
}

#endif
