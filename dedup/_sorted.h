/* Searches in sorted arrays of 64-bit values, shared by dedup's C extensions. */
#ifndef DEDUP_SORTED_H
#define DEDUP_SORTED_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

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

/* First position in a[lo:n] whose value is >= x, for x usually found close after lo (the
 * next value of a sorted walk, a bucket's end): doubling steps, then a binary search. */
static inline Py_ssize_t gallop(const uint64_t *a, Py_ssize_t lo, Py_ssize_t n, uint64_t x)
{
    Py_ssize_t step = 1, hi = lo;
    while (hi < n && a[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    return lower_bound(a, lo, hi < n ? hi : n, x);
}

static inline void swap_u64(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

static inline void sift_down_u64(uint64_t *v, Py_ssize_t root, Py_ssize_t n)
{
    for (Py_ssize_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && v[child + 1] > v[child])
            child++;
        if (v[root] >= v[child])
            return;
        swap_u64(&v[root], &v[child]);
    }
}

/* Sort `v` ascending: an introsort (quicksort on the median of three, insertion sort for
 * short runs, heapsort past a depth limit), comparisons inline.  libc's qsort calls a
 * function per comparison, which cost more than the rest of a band insert. */
static inline void sort_u64(uint64_t *v, Py_ssize_t n)
{
    int depth = 0;
    for (Py_ssize_t m = n; m > 1; m >>= 1)
        depth += 2;
    while (n > 16) {
        if (depth-- == 0) { /* heapsort the rest: never quadratic */
            for (Py_ssize_t i = n / 2; i-- > 0;)
                sift_down_u64(v, i, n);
            for (Py_ssize_t end = n - 1; end > 0; end--) {
                swap_u64(&v[0], &v[end]);
                sift_down_u64(v, 0, end);
            }
            return;
        }
        Py_ssize_t mid = n / 2;
        if (v[mid] < v[0])
            swap_u64(&v[mid], &v[0]);
        if (v[n - 1] < v[0])
            swap_u64(&v[n - 1], &v[0]);
        if (v[n - 1] < v[mid])
            swap_u64(&v[n - 1], &v[mid]);
        uint64_t pivot = v[mid];
        Py_ssize_t i = 0, j = n - 1;
        for (;;) { /* Hoare partition: v[0..j] <= pivot <= v[j+1..n) */
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i >= j)
                break;
            swap_u64(&v[i++], &v[j--]);
        }
        /* Recurse on the smaller side, loop on the larger: the stack stays logarithmic. */
        if (j + 1 < n - j - 1) {
            sort_u64(v, j + 1);
            v += j + 1;
            n -= j + 1;
        } else {
            sort_u64(v + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        Py_ssize_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* Drop the repeats from sorted `v`; returns how many values are left. */
static inline Py_ssize_t drop_repeats_u64(uint64_t *v, Py_ssize_t n)
{
    Py_ssize_t out = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!out || v[out - 1] != v[i])
            v[out++] = v[i];
    return out;
}

/* A sorted, duplicate-free copy of v[0:n] in `out` (apart from `v`); returns its length. */
static inline Py_ssize_t sorted_distinct_copy(const uint64_t *v, Py_ssize_t n, uint64_t *out)
{
    memcpy(out, v, (size_t)n * sizeof(uint64_t));
    sort_u64(out, n);
    return drop_repeats_u64(out, n);
}

#endif
