/* Operations on sorted sets of 64-bit hashes, the inner loops of verification (dedup/verify.py).
 *
 * Verifying one candidate intersects shingle sets and story-term sets of a few hundred values
 * each, several times.  In numpy every intersection is five or six array operations, and with
 * arrays this small their fixed costs outweigh the work; here each is one pass.  Optional:
 * verify.py does the same in numpy when this is not built, and tests compare the two.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_sorted.h"

static int u64_buffer(PyObject *obj, Py_buffer *view, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % (Py_ssize_t)sizeof(uint64_t)) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s must hold 64-bit values", what);
        return -1;
    }
    return 0;
}

/* The call's `count` arguments as 64-bit buffers, named `names` in errors; on failure none
 * is held. */
static int u64_arguments(PyObject *args, Py_buffer *views, const char *const *names, Py_ssize_t count)
{
    if (PyTuple_GET_SIZE(args) != count) {
        PyErr_Format(PyExc_TypeError, "expected %zd arguments, got %zd", count, PyTuple_GET_SIZE(args));
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (u64_buffer(PyTuple_GET_ITEM(args, i), &views[i], names[i]) < 0) {
            while (i--)
                PyBuffer_Release(&views[i]);
            return -1;
        }
    }
    return 0;
}

static void release_all(Py_buffer *views, Py_ssize_t count)
{
    for (Py_ssize_t i = 0; i < count; i++)
        PyBuffer_Release(&views[i]);
}

PyDoc_STRVAR(positions_in_doc,
"positions_in(sorted_set, values) -> bytearray\n\n"
"For each of `values` (uint64, any order), its position in `sorted_set` (uint64, sorted,\n"
"distinct), or -1 when it is not there; int64 values.");

static PyObject *positions_in(PyObject *self, PyObject *args)
{
    static const char *const names[] = {"sorted_set", "values"};
    Py_buffer views[2];
    if (u64_arguments(args, views, names, 2) < 0)
        return NULL;
    Py_buffer set = views[0], values = views[1];
    PyObject *out;
    Py_ssize_t n = set.len / (Py_ssize_t)sizeof(uint64_t), m = values.len / (Py_ssize_t)sizeof(uint64_t);
    out = PyByteArray_FromStringAndSize(NULL, m * (Py_ssize_t)sizeof(int64_t));
    if (out) {
        const uint64_t *s = set.buf, *v = values.buf;
        int64_t *at = (int64_t *)PyByteArray_AS_STRING(out);
        Py_ssize_t start = 0;
        for (Py_ssize_t i = 0; i < m; i++) {
            /* Runs of ascending values (the common case) search on from the last position. */
            if (i && v[i] < v[i - 1])
                start = 0;
            Py_ssize_t p = lower_bound(s, start, n, v[i]);
            start = p;
            at[i] = p < n && s[p] == v[i] ? p : -1;
        }
    }
    release_all(views, 2);
    return out;
}

/* The common values of two sorted, distinct arrays: how many, and, where `pa` and `pb` are
 * given (room for the smaller size), their positions in each, ascending.  Very different sizes
 * search the larger for each value of the smaller. */
static Py_ssize_t walk_common(const uint64_t *x, Py_ssize_t n, const uint64_t *y, Py_ssize_t m,
                              int64_t *pa, int64_t *pb)
{
    Py_ssize_t i = 0, j = 0, k = 0;
    if (n * 16 < m || m * 16 < n) {
        int x_small = n <= m;
        const uint64_t *small = x_small ? x : y, *large = x_small ? y : x;
        Py_ssize_t ns = x_small ? n : m, nl = x_small ? m : n, start = 0;
        for (Py_ssize_t s = 0; s < ns; s++) {
            start = lower_bound(large, start, nl, small[s]);
            if (start == nl)
                break;
            if (large[start] == small[s]) {
                if (pa) {
                    pa[k] = x_small ? s : start;
                    pb[k] = x_small ? start : s;
                }
                k++;
            }
        }
        return k;
    }
    while (i < n && j < m) {
        if (x[i] < y[j]) {
            i++;
        } else if (y[j] < x[i]) {
            j++;
        } else {
            if (pa) {
                pa[k] = i;
                pb[k] = j;
            }
            k++;
            i++;
            j++;
        }
    }
    return k;
}

PyDoc_STRVAR(common_positions_doc,
"common_positions(a, b) -> (bytearray, bytearray)\n\n"
"Positions in `a` and in `b` (uint64, each sorted and distinct) of their common values,\n"
"ascending; int64 values.");

static PyObject *common_positions(PyObject *self, PyObject *args)
{
    static const char *const names[] = {"a", "b"};
    Py_buffer views[2];
    if (u64_arguments(args, views, names, 2) < 0)
        return NULL;
    Py_buffer a = views[0], b = views[1];
    PyObject *result = NULL;
    Py_ssize_t n = a.len / (Py_ssize_t)sizeof(uint64_t), m = b.len / (Py_ssize_t)sizeof(uint64_t);
    Py_ssize_t most = n < m ? n : m;
    PyObject *ia = PyByteArray_FromStringAndSize(NULL, most * (Py_ssize_t)sizeof(int64_t));
    PyObject *ib = PyByteArray_FromStringAndSize(NULL, most * (Py_ssize_t)sizeof(int64_t));
    if (ia && ib) {
        Py_ssize_t k = walk_common(a.buf, n, b.buf, m, (int64_t *)PyByteArray_AS_STRING(ia),
                                   (int64_t *)PyByteArray_AS_STRING(ib));
        if (PyByteArray_Resize(ia, k * (Py_ssize_t)sizeof(int64_t)) == 0
            && PyByteArray_Resize(ib, k * (Py_ssize_t)sizeof(int64_t)) == 0)
            result = PyTuple_Pack(2, ia, ib);
    }
    Py_XDECREF(ia);
    Py_XDECREF(ib);
    release_all(views, 2);
    return result;
}

/* A set's membership filter: one bit per slot of a power-of-two table, set for the slot
 * each of its values hashes to.  A value whose bit is clear is not in the set, so a walk
 * over another set skips the search for it; a screen compares one document with a dozen
 * candidates, most sharing few of its values, and mostly skips. */
typedef struct {
    uint64_t *bits;
    int shift; /* 64 - log2(slots) */
    uint64_t small[64]; /* the table, when 4,096 slots hold it */
} Filter;

static inline uint64_t filter_slot(const Filter *f, uint64_t value)
{
    return (value * UINT64_C(0x9E3779B97F4A7C15)) >> f->shift;
}

/* A filter of `n` values with about 16 slots a value (at least 512, at most 2**20); -1 when
 * out of memory. */
static int filter_build(Filter *f, const uint64_t *values, Py_ssize_t n)
{
    int log2 = 9;
    while (log2 < 20 && ((Py_ssize_t)1 << log2) < 16 * n)
        log2++;
    size_t words = ((size_t)1 << log2) / 64;
    f->shift = 64 - log2;
    f->bits = words <= 64 ? f->small : calloc(words, sizeof(uint64_t));
    if (!f->bits)
        return -1;
    if (f->bits == f->small)
        memset(f->small, 0, words * sizeof(uint64_t));
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t slot = filter_slot(f, values[i]);
        f->bits[slot >> 6] |= UINT64_C(1) << (slot & 63);
    }
    return 0;
}

static void filter_free(Filter *f)
{
    if (f->bits && f->bits != f->small)
        free(f->bits);
    f->bits = NULL;
}

/* Sum over the values of v (m, sorted) found in s (n, sorted; `f` its filter) of vw * sw in
 * double precision, in v's order; or, without weights, how many are there.  s is searched
 * only for the values of v whose bit is set. */
static double filtered_overlap(const uint64_t *s, const float *sw, Py_ssize_t n, const Filter *f, const uint64_t *v,
                               const float *vw, Py_ssize_t m)
{
    double total = 0.0;
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i < m && start < n; i++) {
        uint64_t slot = filter_slot(f, v[i]);
        if (!(f->bits[slot >> 6] >> (slot & 63) & 1))
            continue;
        start = gallop(s, start, n, v[i]);
        if (start < n && s[start] == v[i])
            total += sw ? (double)vw[i] * (double)sw[start] : 1.0;
    }
    return total;
}

/* Sum over the values common to x and y (sorted, distinct) of their weights' product, in double
 * precision in ascending order of value; with `common` (`mask` + 1 one-byte flags), only over
 * the values whose bucket (low bits) is not flagged. */
static double dot_common(const uint64_t *x, const float *wx, Py_ssize_t n, const uint64_t *y, const float *wy,
                         Py_ssize_t m, const unsigned char *common, uint64_t mask)
{
    double total = 0.0;
    Py_ssize_t i = 0, j = 0;
    while (i < n && j < m) {
        if (x[i] < y[j]) {
            i++;
        } else if (y[j] < x[i]) {
            j++;
        } else {
            if (!common || !common[x[i] & mask])
                total += (double)wx[i] * (double)wy[j];
            i++;
            j++;
        }
    }
    return total;
}

/* The sum of the squared weights of the terms whose bucket is not flagged common, in
 * double precision in term order: the square of a side's norm in `specific_cosine`. */
static double specific_norm_of(const uint64_t *x, const float *wx, Py_ssize_t n, const unsigned char *common,
                               uint64_t mask)
{
    double total = 0.0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!common[x[i] & mask])
            total += (double)wx[i] * (double)wx[i];
    return total;
}

/* The cosine similarity of two weighted term sets over the terms whose bucket is not flagged
 * common (`specific_cosine`); `x_norm` is the first set's squared norm over those terms when
 * the caller has it, else negative. */
static double specific_similarity(const uint64_t *x, const float *wx, Py_ssize_t n, const uint64_t *y, const float *wy,
                                  Py_ssize_t m, const unsigned char *common, uint64_t mask, double x_norm)
{
    double dot = dot_common(x, wx, n, y, wy, m, common, mask);
    if (dot == 0.0)
        return 0.0;
    if (x_norm < 0.0)
        x_norm = specific_norm_of(x, wx, n, common, mask);
    return dot / sqrt(x_norm * specific_norm_of(y, wy, m, common, mask));
}

/* The share of x's squared weight over its terms not flagged common (all of them without
 * `common`) held by the terms also in y (sorted, distinct); over all of x's terms when none
 * is specific; 0.0 when x has no term or y none. The sums are taken in double precision in
 * ascending order of term (`verify._share_in`). */
static double specific_share_in(const uint64_t *x, const float *wx, Py_ssize_t n, const uint64_t *y, Py_ssize_t m,
                                const unsigned char *common, uint64_t mask)
{
    double total = 0.0, found = 0.0, all_total = 0.0, all_found = 0.0;
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double square = (double)wx[i] * (double)wx[i];
        while (j < m && y[j] < x[i])
            j++;
        int in_y = j < m && y[j] == x[i];
        all_total += square;
        if (in_y)
            all_found += square;
        if (common && common[x[i] & mask])
            continue;
        total += square;
        if (in_y)
            found += square;
    }
    if (total == 0.0)
        total = all_total, found = all_found;
    return total == 0.0 || m == 0 ? 0.0 : found / total;
}

/* The collection's common story-term buckets, `obj` (one-byte flags, a power of two of them,
 * held in `view` until the caller releases it) or None (`*flags` NULL): the flags and the
 * mask that takes a term to its bucket. */
static int common_flags(PyObject *obj, Py_buffer *view, const unsigned char **flags, uint64_t *mask, const char *who)
{
    *flags = NULL;
    *mask = 0;
    if (obj == Py_None)
        return 0;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len == 0 || (view->len & (view->len - 1))) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: common must hold a power of two of one-byte flags", who);
        return -1;
    }
    *flags = view->buf;
    *mask = (uint64_t)view->len - 1;
    return 0;
}

/* The attribute names `screen` reads, interned once (a lookup by C string builds one each time). */
static PyObject *story_terms_name, *story_weights_name, *story_norm_name, *shingle_set_name;

/* An attribute of `obj` as a buffer of `count` items of `itemsize` bytes (count -1: any). */
static int attribute_buffer(PyObject *obj, PyObject *name, Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t count)
{
    PyObject *value = PyObject_GetAttr(obj, name);
    if (!value)
        return -1;
    int failed = PyObject_GetBuffer(value, view, PyBUF_C_CONTIGUOUS) < 0;
    Py_DECREF(value);
    if (failed)
        return -1;
    if (view->len % itemsize || (count >= 0 && view->len / itemsize != count)) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "a document's %U has the wrong size or item type", name);
        return -1;
    }
    return 0;
}

/* What screening reads of one candidate: its story terms (uint64, sorted), their weights
 * (float32), the story norm and its distinct shingles (uint64, sorted). */
typedef struct {
    const uint64_t *terms, *shingles;
    const float *weights;
    double norm;
    Py_ssize_t n_terms, n_shingles;
} Screened;

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The screening fields of a record's prefix, as `dedup.record` lays it out: the counts of
 * story terms and distinct shingles (little-endian uint32), the story norm (little-endian
 * double), then the terms, their weights and the shingles, each 8-byte aligned from the
 * record's start.  Views into `record`. */
static int screened_from_record(PyObject *record, Screened *s)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(record);
    Py_ssize_t len = PyBytes_GET_SIZE(record);
    if (len < 16)
        goto bad;
    s->n_terms = read_le32(p);
    s->n_shingles = read_le32(p + 4);
    uint64_t bits = (uint64_t)read_le32(p + 8) | (uint64_t)read_le32(p + 12) << 32;
    memcpy(&s->norm, &bits, sizeof(double));
    Py_ssize_t weights_at = 16 + 8 * s->n_terms, shingles_at = weights_at + 4 * s->n_terms;
    shingles_at += -shingles_at & 7;
    if (shingles_at + 8 * s->n_shingles > len)
        goto bad;
    s->terms = (const uint64_t *)(p + 16);
    s->weights = (const float *)(p + weights_at);
    s->shingles = (const uint64_t *)(p + shingles_at);
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, "screen: a screening record shorter than its counts say");
    return -1;
}

/* The screening fields of an object that has them as attributes (a `Document`), holding
 * the buffers it reads in `held` (`*n_held` of them) until the caller releases them. */
static int screened_from_attributes(PyObject *other, Screened *s, Py_buffer *held, int *n_held)
{
    *n_held = 0;
    if (attribute_buffer(other, story_terms_name, &held[0], sizeof(uint64_t), -1) < 0)
        return -1;
    *n_held = 1;
    s->n_terms = held[0].len / (Py_ssize_t)sizeof(uint64_t);
    if (attribute_buffer(other, story_weights_name, &held[1], sizeof(float), s->n_terms) < 0)
        goto fail;
    *n_held = 2;
    if (attribute_buffer(other, shingle_set_name, &held[2], sizeof(uint64_t), -1) < 0)
        goto fail;
    *n_held = 3;
    PyObject *norm = PyObject_GetAttr(other, story_norm_name);
    s->norm = norm ? PyFloat_AsDouble(norm) : -1.0;
    Py_XDECREF(norm);
    if (PyErr_Occurred())
        goto fail;
    s->terms = held[0].buf;
    s->weights = held[1].buf;
    s->shingles = held[2].buf;
    s->n_shingles = held[2].len / (Py_ssize_t)sizeof(uint64_t);
    return 0;
fail:
    release_all(held, *n_held);
    *n_held = 0;
    return -1;
}

PyDoc_STRVAR(screen_doc,
"screen(terms, weights, norm, shingles, others, rewrite, rewrite_short, min_shared,\n"
"       common=None, rewrite_specific=0.0) -> bytearray\n\n"
"Whether each of `others` (objects with story_terms, story_weights, story_norm and\n"
"shingle_set, or bytes starting with a record's screening prefix: see dedup.record) is worth\n"
"verifying against a document with these story terms (uint64, sorted), weights (float32),\n"
"norm and shingle set (uint64, sorted): its story cosine (products summed\n"
"in double precision in the other's term order) is at least\n"
"rewrite + rewrite_short / sqrt(max(1, the fewer story terms)), or it shares at least\n"
"`min_shared` shingles. With `common` (as `specific_cosine` takes it), an other that shares\n"
"no shingle at all must also reach `rewrite_specific` in `specific_cosine`: without a shared\n"
"shingle it can only be a rewrite. One byte (0 or 1) per other: `verify.worth_verifying`.");

static PyObject *screen(PyObject *self, PyObject *args)
{
    PyObject *terms_obj, *weights_obj, *shingles_obj, *others_obj, *common_obj = Py_None, *out = NULL;
    double norm, rewrite, rewrite_short, rewrite_specific = 0.0;
    Py_ssize_t min_shared;
    if (!PyArg_ParseTuple(args, "OOdOOddn|Od", &terms_obj, &weights_obj, &norm, &shingles_obj, &others_obj, &rewrite,
                          &rewrite_short, &min_shared, &common_obj, &rewrite_specific))
        return NULL;
    Py_buffer terms, weights = {0}, shingles = {0}, common = {0};
    if (u64_buffer(terms_obj, &terms, "terms") < 0)
        return NULL;
    PyObject *others = NULL;
    Filter term_filter = {0}, shingle_filter = {0};
    Py_ssize_t n_terms = terms.len / (Py_ssize_t)sizeof(uint64_t);
    if (PyObject_GetBuffer(weights_obj, &weights, PyBUF_C_CONTIGUOUS) < 0)
        goto done;
    if (weights.len != n_terms * (Py_ssize_t)sizeof(float)) {
        PyErr_SetString(PyExc_ValueError, "screen: weights must be float32, one per term");
        goto done;
    }
    if (u64_buffer(shingles_obj, &shingles, "shingles") < 0)
        goto done;
    const unsigned char *flags = NULL;
    uint64_t mask = 0;
    double specific_norm = 0.0; /* the document's, over its terms that are not common */
    if (common_flags(common_obj, &common, &flags, &mask, "screen") < 0)
        goto done;
    if (flags)
        specific_norm = specific_norm_of(terms.buf, weights.buf, n_terms, flags, mask);
    others = PySequence_Fast(others_obj, "screen: others must be a sequence");
    if (!others)
        goto done;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(others), n_shingles = shingles.len / (Py_ssize_t)sizeof(uint64_t);
    out = PyByteArray_FromStringAndSize(NULL, count);
    if (!out)
        goto done;
    char *worth = PyByteArray_AS_STRING(out);
    if (filter_build(&term_filter, terms.buf, n_terms) < 0 || filter_build(&shingle_filter, shingles.buf, n_shingles) < 0) {
        Py_CLEAR(out);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t a = 0; a < count; a++) {
        PyObject *other = PySequence_Fast_GET_ITEM(others, a);
        Screened o;
        Py_buffer held[3];
        int n_held = 0;
        if (PyBytes_Check(other)) {
            if (screened_from_record(other, &o) < 0) {
                Py_CLEAR(out);
                goto done;
            }
        } else if (screened_from_attributes(other, &o, held, &n_held) < 0) {
            Py_CLEAR(out);
            goto done;
        }
        double story = 0.0;
        if (n_terms && o.norm * norm > 0)
            story = filtered_overlap(terms.buf, weights.buf, n_terms, &term_filter, o.terms, o.weights, o.n_terms)
                    / (o.norm * norm);
        Py_ssize_t fewer = n_terms < o.n_terms ? n_terms : o.n_terms;
        worth[a] = story >= rewrite + rewrite_short / sqrt((double)(fewer > 1 ? fewer : 1));
        if (worth[a] && flags
            && !(n_shingles && filtered_overlap(shingles.buf, NULL, n_shingles, &shingle_filter, o.shingles, NULL,
                                                o.n_shingles) > 0)) {
            worth[a] = specific_similarity(terms.buf, weights.buf, n_terms, o.terms, o.weights, o.n_terms, flags, mask,
                                           specific_norm) >= rewrite_specific;
        } else if (!worth[a] && n_shingles) {
            double shared = filtered_overlap(shingles.buf, NULL, n_shingles, &shingle_filter, o.shingles, NULL,
                                             o.n_shingles);
            worth[a] = shared >= (double)min_shared;
        }
        release_all(held, n_held);
    }
done:
    filter_free(&term_filter);
    filter_free(&shingle_filter);
    if (common.obj)
        PyBuffer_Release(&common);
    if (shingles.obj)
        PyBuffer_Release(&shingles);
    if (weights.obj)
        PyBuffer_Release(&weights);
    PyBuffer_Release(&terms);
    Py_XDECREF(others);
    return out;
}

typedef struct {
    uint64_t value;
    Py_ssize_t position;
} Placed;

static int compare_placed(const void *x, const void *y)
{
    const Placed *a = x, *b = y;
    if (a->value != b->value)
        return (a->value > b->value) - (a->value < b->value);
    return (a->position > b->position) - (a->position < b->position);
}

/* An int32 buffer argument (token offsets and indices). */
static int i32_buffer(PyObject *obj, Py_buffer *view, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 4 || !view->format || (strcmp(view->format, "i") && strcmp(view->format, "<i")
                                                 && strcmp(view->format, "=i"))) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s must hold int32 values", what);
        return -1;
    }
    return 0;
}

/* One document's side of `shared_spans`: its token starts and ends, its body's token indices. */
typedef struct {
    Py_buffer starts, ends, body;
} Tokens;

static int tokens_from(PyObject *starts, PyObject *ends, PyObject *body, Tokens *t)
{
    if (i32_buffer(starts, &t->starts, "token_starts") < 0)
        return -1;
    if (i32_buffer(ends, &t->ends, "token_ends") < 0) {
        PyBuffer_Release(&t->starts);
        return -1;
    }
    if (i32_buffer(body, &t->body, "body_tokens") < 0) {
        PyBuffer_Release(&t->starts);
        PyBuffer_Release(&t->ends);
        return -1;
    }
    Py_ssize_t n = t->starts.len / 4, n_body = t->body.len / 4;
    const int32_t *b = t->body.buf;
    int ok = t->ends.len / 4 == n;
    for (Py_ssize_t i = 0; ok && i < n_body; i++)
        ok = b[i] >= 0 && b[i] < n;
    if (!ok) {
        PyBuffer_Release(&t->starts);
        PyBuffer_Release(&t->ends);
        PyBuffer_Release(&t->body);
        PyErr_SetString(PyExc_ValueError, "shared_spans: token arrays that do not fit together");
        return -1;
    }
    return 0;
}

static void tokens_release(Tokens *t)
{
    PyBuffer_Release(&t->starts);
    PyBuffer_Release(&t->ends);
    PyBuffer_Release(&t->body);
}

PyDoc_STRVAR(shared_spans_doc,
"shared_spans(a, b, shared, shingle_size, a_starts, a_ends, a_body, b_starts, b_ends, b_body) -> list\n\n"
"The maximal runs of consecutive shingles of `a` (uint64, in text order) that are in `shared`\n"
"(uint64, sorted, distinct), each as the text both documents share: a tuple (a_start, a_end,\n"
"b_start, b_end, tokens) of character offsets, from the run's first token to its last, in `a`\n"
"and from the first occurrence in `b` (uint64, in text order) of the run's first shingle on,\n"
"as many tokens as far as `b`'s body goes.  A document's tokens: starts and ends (int32\n"
"character offsets) and its body's token indices (int32); shingle i starts at body token i.");

/* A run of shingles both documents share, as `shared_spans` describes it. */
typedef struct {
    int32_t a_start, a_end, b_start, b_end;
    Py_ssize_t tokens;
} Run;

/* The runs of `shared_spans` for shingles x (n) of a and y (m) of b, shared values s (ns),
 * into `*out` (allocated here, freed by the caller, also on failure); their count, or -1 with
 * an exception set. */
static Py_ssize_t find_runs(const uint64_t *x, Py_ssize_t n, const uint64_t *y, Py_ssize_t m, const uint64_t *s,
                            Py_ssize_t ns, Py_ssize_t k, const Tokens *ta, const Tokens *tb, Run **out)
{
    *out = NULL;
    Py_ssize_t a_body = ta->body.len / 4, b_body = tb->body.len / 4, runs = 0;
    if (n > a_body || m > b_body) {
        PyErr_SetString(PyExc_ValueError, "shared_spans: more shingles than body tokens");
        return -1;
    }
    int64_t *lo = PyMem_Malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t *hi = PyMem_Malloc(sizeof(int64_t) * (size_t)(n + 1));
    Placed *placed = NULL;
    Run *found = NULL;
    if (!lo || !hi)
        goto no_memory;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t p = lower_bound(s, 0, ns, x[i]);
        if (p == ns || s[p] != x[i])
            continue;
        if (runs && hi[runs - 1] == i - 1) {
            hi[runs - 1] = i;
        } else {
            lo[runs] = hi[runs] = i;
            runs++;
        }
    }
    found = PyMem_Malloc(sizeof(Run) * (size_t)(runs + 1));
    if (!found)
        goto no_memory;
    /* Where in b each run's first shingle first occurs: a scan of b per run when there are
     * few runs (most pairs), else one sort of b's values with their positions, in which a
     * value's first position comes first. */
    int scan = runs <= 8;
    if (!scan && runs) {
        placed = PyMem_Malloc(sizeof(Placed) * (size_t)(m + 1));
        if (!placed)
            goto no_memory;
        for (Py_ssize_t j = 0; j < m; j++) {
            placed[j].value = y[j];
            placed[j].position = j;
        }
        qsort(placed, (size_t)m, sizeof(Placed), compare_placed);
    }
    const int32_t *as = ta->starts.buf, *ae = ta->ends.buf, *ab = ta->body.buf;
    const int32_t *bs = tb->starts.buf, *be = tb->ends.buf, *bb = tb->body.buf;
    for (Py_ssize_t r = 0; r < runs; r++) {
        uint64_t v = x[lo[r]];
        Py_ssize_t b_lo = -1;
        if (scan) {
            for (Py_ssize_t j = 0; j < m && b_lo < 0; j++)
                if (y[j] == v)
                    b_lo = j;
        } else {
            Py_ssize_t left = 0, count = m;
            while (count > 0) {
                Py_ssize_t half = count / 2;
                if (placed[left + half].value < v) {
                    left += half + 1;
                    count -= half + 1;
                } else {
                    count = half;
                }
            }
            if (left < m && placed[left].value == v)
                b_lo = placed[left].position;
        }
        if (b_lo < 0) {
            PyErr_SetString(PyExc_ValueError, "shared_spans: a shared shingle is not in b");
            runs = -1;
            break;
        }
        Py_ssize_t a_end = hi[r] + k < a_body ? hi[r] + k : a_body;
        Py_ssize_t tokens = a_end - lo[r];
        Py_ssize_t b_end = b_lo + tokens < b_body ? b_lo + tokens : b_body;
        found[r] = (Run){as[ab[lo[r]]], ae[ab[a_end - 1]], bs[bb[b_lo]], be[bb[b_end - 1]], tokens};
    }
    PyMem_Free(lo);
    PyMem_Free(hi);
    PyMem_Free(placed);
    *out = found;
    return runs;
no_memory:
    PyMem_Free(lo);
    PyMem_Free(hi);
    PyMem_Free(placed);
    PyMem_Free(found);
    PyErr_NoMemory();
    return -1;
}

static PyObject *shared_spans(PyObject *self, PyObject *args)
{
    PyObject *a_obj, *b_obj, *shared_obj, *tok[6];
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OOOnOOOOOO", &a_obj, &b_obj, &shared_obj, &k, &tok[0], &tok[1], &tok[2], &tok[3],
                          &tok[4], &tok[5]))
        return NULL;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "shared_spans: shingle_size must be positive");
        return NULL;
    }
    Py_buffer a, b, shared;
    Tokens ta, tb;
    PyObject *result = NULL;
    if (u64_buffer(a_obj, &a, "a") < 0)
        return NULL;
    if (u64_buffer(b_obj, &b, "b") < 0) {
        PyBuffer_Release(&a);
        return NULL;
    }
    if (u64_buffer(shared_obj, &shared, "shared") < 0) {
        PyBuffer_Release(&a);
        PyBuffer_Release(&b);
        return NULL;
    }
    if (tokens_from(tok[0], tok[1], tok[2], &ta) < 0)
        goto release_sets;
    if (tokens_from(tok[3], tok[4], tok[5], &tb) < 0)
        goto release_a;
    Run *runs_found;
    Py_ssize_t runs = find_runs(a.buf, a.len / 8, b.buf, b.len / 8, shared.buf, shared.len / 8, k, &ta, &tb,
                                &runs_found);
    if (runs >= 0 && (result = PyList_New(runs))) {
        for (Py_ssize_t r = 0; r < runs; r++) {
            Run *x = &runs_found[r];
            PyObject *span = Py_BuildValue("(iiiin)", x->a_start, x->a_end, x->b_start, x->b_end, x->tokens);
            if (!span) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, r, span);
        }
    }
    PyMem_Free(runs_found);
    tokens_release(&tb);
release_a:
    tokens_release(&ta);
release_sets:
    PyBuffer_Release(&a);
    PyBuffer_Release(&b);
    PyBuffer_Release(&shared);
    return result;
}

/* ---- one candidate pair verified (`dedup.verify._verify`) ------------------------------ */

/* The document attributes `verify_pair` reads, interned at import. */
static PyObject *body_hash_name, *body_tokens_name, *token_starts_name, *token_ends_name, *shingles_name;

/* Python's round(x, 4): correctly rounded to the nearest multiple of 1e-4, through the same
 * shortest-decimal conversion Python uses. */
static int round4(double x, double *out)
{
    char *text = PyOS_double_to_string(x, 'f', 4, 0, NULL);
    if (!text)
        return -1;
    *out = PyOS_string_to_double(text, NULL, NULL);
    PyMem_Free(text);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* Python's round(x) of a float: to the nearest integer, halves to even. */
static double round_half_even(double x)
{
    double rounded = round(x);
    if (fabs(x - rounded) == 0.5)
        rounded = 2.0 * round(x / 2.0);
    return rounded;
}

/* A score as `verify._packed_scores` stores it: round(round(x, 4) * 10_000). Unless x is
 * within a hair of a half ten-thousandth, that is the integer nearest to x * 10_000 (the
 * product's rounding error is far smaller than the hair), without the decimal conversion. */
static int stored_score(double x, unsigned int *out)
{
    double scaled = x * 10000.0, below = floor(scaled), fraction = scaled - below;
    if (fabs(fraction - 0.5) > 1e-6) {
        *out = (unsigned int)(fraction < 0.5 ? below : below + 1.0);
        return 0;
    }
    double rounded;
    if (round4(x, &rounded) < 0)
        return -1;
    *out = (unsigned int)round_half_even(rounded * 10000.0);
    return 0;
}

/* One side of a pair: the document's buffers and numbers, and the body it is compared on. */
typedef struct {
    Py_buffer terms, weights, body, set, own, shingles;
    int held; /* how many of the buffers above are held, in that order */
    Tokens tokens;
    int tokens_held;
    double norm;
    uint64_t hash;
    Py_ssize_t n_terms, n_body_tokens;
} Side;

static void side_release(Side *side)
{
    Py_buffer *views[6] = {&side->terms, &side->weights, &side->body, &side->set, &side->own, &side->shingles};
    for (int i = 0; i < side->held; i++)
        PyBuffer_Release(views[i]);
    side->held = 0;
    if (side->tokens_held)
        tokens_release(&side->tokens);
    side->tokens_held = 0;
}

static int attribute_u64(PyObject *doc, PyObject *name, Py_buffer *view)
{
    PyObject *value = PyObject_GetAttr(doc, name);
    if (!value)
        return -1;
    int failed = u64_buffer(value, view, PyUnicode_AsUTF8(name));
    Py_DECREF(value);
    return failed;
}

/* Everything of `doc` but its tokens, which only pairs that share a shingle need. */
static int side_from(PyObject *doc, PyObject *body, PyObject *set, PyObject *own, Side *side)
{
    side->held = side->tokens_held = 0;
    if (attribute_u64(doc, story_terms_name, &side->terms) < 0)
        return -1;
    side->held = 1;
    side->n_terms = side->terms.len / 8;
    if (attribute_buffer(doc, story_weights_name, &side->weights, sizeof(float), side->n_terms) < 0)
        goto fail;
    side->held = 2;
    PyObject *objs[3] = {body, set, own};
    Py_buffer *views[3] = {&side->body, &side->set, &side->own};
    for (int i = 0; i < 3; i++) {
        if (u64_buffer(objs[i], views[i], "a body array") < 0)
            goto fail;
        side->held++;
    }
    if (attribute_u64(doc, shingles_name, &side->shingles) < 0)
        goto fail;
    side->held++;
    PyObject *norm = PyObject_GetAttr(doc, story_norm_name);
    side->norm = norm ? PyFloat_AsDouble(norm) : -1.0;
    Py_XDECREF(norm);
    PyObject *hash = PyErr_Occurred() ? NULL : PyObject_GetAttr(doc, body_hash_name);
    side->hash = hash ? PyLong_AsUnsignedLongLongMask(hash) : 0;
    Py_XDECREF(hash);
    PyObject *body_tokens = PyErr_Occurred() ? NULL : PyObject_GetAttr(doc, body_tokens_name);
    side->n_body_tokens = body_tokens ? PyObject_Length(body_tokens) : -1;
    Py_XDECREF(body_tokens);
    if (PyErr_Occurred())
        goto fail;
    return 0;
fail:
    side_release(side);
    return -1;
}

static int side_tokens(PyObject *doc, Side *side)
{
    PyObject *starts = PyObject_GetAttr(doc, token_starts_name);
    PyObject *ends = starts ? PyObject_GetAttr(doc, token_ends_name) : NULL;
    PyObject *body = ends ? PyObject_GetAttr(doc, body_tokens_name) : NULL;
    int failed = !body || tokens_from(starts, ends, body, &side->tokens) < 0;
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    Py_XDECREF(body);
    side->tokens_held = !failed;
    return failed ? -1 : 0;
}

/* The verification thresholds, as `verify._pair_parameters` gives them. */
typedef struct {
    double near_duplicate, syndicated, version, rewrite, rewrite_short, rewrite_specific, copy_specific;
    Py_ssize_t min_shared_tokens, version_passages, version_run_tokens, shingle_size;
} Thresholds;

/* Whether the pair passes the rewrite test: the story similarity over the bar for the
 * fewer story terms, and, with `common`, the similarity of the terms not common. */
static int is_rewrite(const Side *a, const Side *b, const Thresholds *t, double story, const unsigned char *common,
                      uint64_t mask)
{
    Py_ssize_t fewer = a->n_terms < b->n_terms ? a->n_terms : b->n_terms;
    if (!(story >= t->rewrite + t->rewrite_short / pow((double)(fewer > 1 ? fewer : 1), 0.5)))
        return 0;
    if (!common)
        return 1;
    return specific_similarity(a->terms.buf, a->weights.buf, a->n_terms, b->terms.buf, b->weights.buf, b->n_terms, common,
                               mask, -1.0) >= t->rewrite_specific;
}

/* The relation's rank in `verify.RELATIONS`, 255 for none. */
enum { EXACT_RANK, NEAR_DUPLICATE_RANK, SYNDICATED_RANK, VERSION_RANK, REWRITE_RANK, NO_RANK = 255 };

/* The passages of at least 4 tokens, packed as `verify._pack_spans` packs them. */
static PyObject *packed_runs(const Run *runs, Py_ssize_t count)
{
    Py_ssize_t kept = 0;
    int wide = 0;
    for (Py_ssize_t r = 0; r < count; r++) {
        if (runs[r].tokens < 4)
            continue;
        kept++;
        const Run *x = &runs[r];
        wide |= x->a_start >= 65536 || x->a_end >= 65536 || x->b_start >= 65536 || x->b_end >= 65536
                || x->tokens >= 65536;
    }
    if (!kept)
        return PyBytes_FromStringAndSize(NULL, 0);
    int width = wide ? 4 : 2;
    PyObject *out = PyBytes_FromStringAndSize(NULL, 1 + kept * 5 * width);
    if (!out)
        return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
    *p++ = (unsigned char)width;
    for (Py_ssize_t r = 0; r < count; r++) {
        if (runs[r].tokens < 4)
            continue;
        uint32_t fields[5] = {(uint32_t)runs[r].a_start, (uint32_t)runs[r].a_end, (uint32_t)runs[r].b_start,
                              (uint32_t)runs[r].b_end, (uint32_t)runs[r].tokens};
        for (int f = 0; f < 5; f++)
            for (int byte = 0; byte < width; byte++)
                *p++ = (unsigned char)(fields[f] >> (8 * byte));
    }
    return out;
}

PyDoc_STRVAR(verify_pair_doc,
"verify_pair(a, b, a_body, a_set, a_own, b_body, b_set, b_own, common, thresholds, keep_unrelated)\n"
"    -> (rank, scores, passages) or None\n\n"
"`dedup.verify._verify` of documents `a` and `b` compared on the given bodies (shingles,\n"
"distinct shingles, distinct own shingles: uint64), with the collection's common story-term\n"
"buckets (`common`, one-byte flags, or None) and `thresholds` (`verify._pair_parameters`):\n"
"the relation's rank in RELATIONS (255: none), the packed scores (`verify.SCORES`) and the\n"
"packed passages, as `_decide` makes them; None for an unrelated pair unless\n"
"`keep_unrelated`.");

static PyObject *verify_pair(PyObject *self, PyObject *args)
{
    PyObject *a_doc, *b_doc, *arrays[6], *common_obj, *thresholds;
    int keep_unrelated;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO!p", &a_doc, &b_doc, &arrays[0], &arrays[1], &arrays[2], &arrays[3],
                          &arrays[4], &arrays[5], &common_obj, &PyTuple_Type, &thresholds, &keep_unrelated))
        return NULL;
    Thresholds t;
    if (!PyArg_ParseTuple(thresholds, "dddddddnnnn", &t.near_duplicate, &t.syndicated, &t.version, &t.rewrite,
                          &t.rewrite_short, &t.rewrite_specific, &t.copy_specific, &t.min_shared_tokens,
                          &t.version_passages,
                          &t.version_run_tokens, &t.shingle_size))
        return NULL;
    if (t.shingle_size < 1) {
        PyErr_SetString(PyExc_ValueError, "verify_pair: shingle_size must be positive");
        return NULL;
    }
    Side a, b;
    Py_buffer common = {0};
    PyObject *result = NULL;
    Run *runs = NULL;
    if (side_from(a_doc, arrays[0], arrays[1], arrays[2], &a) < 0)
        return NULL;
    if (side_from(b_doc, arrays[3], arrays[4], arrays[5], &b) < 0) {
        side_release(&a);
        return NULL;
    }
    const unsigned char *flags;
    uint64_t mask;
    if (common_flags(common_obj, &common, &flags, &mask, "verify_pair") < 0)
        goto done;
    /* The scores, each computed as Python computes it. */
    double story = 0.0;
    if (a.n_terms && b.n_terms)
        story = dot_common(a.terms.buf, a.weights.buf, a.n_terms, b.terms.buf, b.weights.buf, b.n_terms, NULL, 0)
                / (a.norm * b.norm);
    Py_ssize_t la = a.set.len / 8, lb = b.set.len / 8, inter = 0;
    double jaccard = 0.0, ca = 0.0, cb = 0.0, own = 0.0;
    if (la && lb) {
        Py_ssize_t a_own = a.own.len / 8, b_own = b.own.len / 8;
        inter = walk_common(a.set.buf, la, b.set.buf, lb, NULL, NULL);
        Py_ssize_t a_in_b = walk_common(a.own.buf, a_own, b.set.buf, lb, NULL, NULL);
        Py_ssize_t b_in_a = walk_common(b.own.buf, b_own, a.set.buf, la, NULL, NULL);
        jaccard = (double)inter / (double)(la + lb - inter);
        ca = (double)inter / (double)la;
        cb = (double)inter / (double)lb;
        double own_a = a_own ? (double)a_in_b / (double)a_own : 0.0;
        double own_b = b_own ? (double)b_in_a / (double)b_own : 0.0;
        own = own_b > own_a ? own_b : own_a;
    }
    int exact = a.hash == b.hash && a.n_body_tokens > 0;
    double contained = cb > ca ? cb : ca;
    int rewrite = -1; /* whether the pair passes the rewrite test, when known */
    if (!keep_unrelated && !(jaccard >= t.near_duplicate || contained >= t.syndicated || own >= t.version || exact)) {
        rewrite = is_rewrite(&a, &b, &t, story, flags, mask);
        if (!rewrite) {
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    /* The shared runs, on the full bodies where common blocks were left out of either. */
    Py_ssize_t n_runs = 0;
    if (inter) {
        size_t most = (size_t)(inter + 1);
        uint64_t *shared = PyMem_Malloc(sizeof(uint64_t) * most);
        int64_t *in_a = PyMem_Malloc(sizeof(int64_t) * most), *in_b = PyMem_Malloc(sizeof(int64_t) * most);
        if (!shared || !in_a || !in_b) {
            PyMem_Free(shared);
            PyMem_Free(in_a);
            PyMem_Free(in_b);
            PyErr_NoMemory();
            goto done;
        }
        Py_ssize_t ns = walk_common(a.set.buf, la, b.set.buf, lb, in_a, in_b);
        for (Py_ssize_t i = 0; i < ns; i++)
            shared[i] = ((const uint64_t *)a.set.buf)[in_a[i]];
        PyMem_Free(in_a);
        PyMem_Free(in_b);
        Py_buffer *a_sh = &a.body, *b_sh = &b.body;
        if (a.body.len != a.shingles.len || b.body.len != b.shingles.len)
            a_sh = &a.shingles, b_sh = &b.shingles;
        if (side_tokens(a_doc, &a) < 0 || side_tokens(b_doc, &b) < 0) {
            PyMem_Free(shared);
            goto done;
        }
        n_runs = find_runs(a_sh->buf, a_sh->len / 8, b_sh->buf, b_sh->len / 8, shared, ns, t.shingle_size, &a.tokens,
                           &b.tokens, &runs);
        PyMem_Free(shared);
        if (n_runs < 0)
            goto done;
    }
    /* The relation (`verify._decide`). */
    Py_ssize_t shared_tokens = 0, long_runs = 0, longest = 0;
    for (Py_ssize_t r = 0; r < n_runs; r++) {
        shared_tokens += runs[r].tokens;
        if (runs[r].tokens >= t.min_shared_tokens) {
            long_runs++;
            if (runs[r].tokens > longest)
                longest = runs[r].tokens;
        }
    }
    Py_ssize_t shorter = a.n_body_tokens < b.n_body_tokens ? a.n_body_tokens : b.n_body_tokens;
    Py_ssize_t needed = shorter / 4 < t.version_run_tokens ? shorter / 4 : t.version_run_tokens;
    if (needed < t.min_shared_tokens)
        needed = t.min_shared_tokens;
    int rank = NO_RANK;
    double score = story > contained ? story : contained;
    if (exact) {
        rank = EXACT_RANK, score = 1.0;
    } else if (jaccard >= t.near_duplicate) {
        rank = NEAR_DUPLICATE_RANK, score = jaccard;
    } else if (contained >= t.syndicated && shared_tokens >= t.min_shared_tokens) {
        rank = SYNDICATED_RANK, score = contained;
    } else if (own >= t.version && long_runs >= t.version_passages && long_runs && longest >= needed) {
        rank = VERSION_RANK, score = own;
    }
    if (rank != EXACT_RANK && rank != NO_RANK) {
        /* A copy's text must come with what is specific to one side (`verify.specific_share`). */
        double a_share = specific_share_in(a.terms.buf, a.weights.buf, a.n_terms, b.terms.buf, b.n_terms, flags, mask);
        double b_share = specific_share_in(b.terms.buf, b.weights.buf, b.n_terms, a.terms.buf, a.n_terms, flags, mask);
        if ((b_share > a_share ? b_share : a_share) < t.copy_specific)
            rank = NO_RANK, score = story > contained ? story : contained;
    }
    if (rank == NO_RANK && (rewrite >= 0 ? rewrite : is_rewrite(&a, &b, &t, story, flags, mask)))
        rank = REWRITE_RANK, score = story;
    if (rank == NO_RANK && !keep_unrelated) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    double values[6] = {score, jaccard, ca, cb, own, story};
    unsigned char scores[17];
    scores[0] = (unsigned char)rank;
    for (int v = 0; v < 6; v++) {
        unsigned int stored;
        if (stored_score(values[v], &stored) < 0)
            goto done;
        scores[1 + 2 * v] = (unsigned char)stored;
        scores[2 + 2 * v] = (unsigned char)(stored >> 8);
    }
    for (int byte = 0; byte < 4; byte++)
        scores[13 + byte] = (unsigned char)((uint64_t)shared_tokens >> (8 * byte));
    PyObject *passages = packed_runs(runs, n_runs);
    if (passages) {
        result = Py_BuildValue("(iy#N)", rank, (const char *)scores, (Py_ssize_t)sizeof(scores), passages);
    }
done:
    PyMem_Free(runs);
    if (common.obj)
        PyBuffer_Release(&common);
    side_release(&a);
    side_release(&b);
    return result;
}

PyDoc_STRVAR(overlap_counts_doc,
"overlap_counts(a, b, a_part, b_part) -> (int, int, int)\n\n"
"How many values `a` and `b` share, how many of `a_part` are in `b`, and how many of\n"
"`b_part` are in `a` (all uint64, each sorted and distinct).");

static PyObject *overlap_counts(PyObject *self, PyObject *args)
{
    static const char *const names[] = {"a", "b", "a_part", "b_part"};
    Py_buffer views[4];
    if (u64_arguments(args, views, names, 4) < 0)
        return NULL;
    Py_ssize_t len[4];
    for (int i = 0; i < 4; i++)
        len[i] = views[i].len / (Py_ssize_t)sizeof(uint64_t);
    const uint64_t *a = views[0].buf, *b = views[1].buf, *a_part = views[2].buf, *b_part = views[3].buf;
    Py_ssize_t shared = walk_common(a, len[0], b, len[1], NULL, NULL);
    Py_ssize_t a_in_b = walk_common(a_part, len[2], b, len[1], NULL, NULL);
    Py_ssize_t b_in_a = walk_common(b_part, len[3], a, len[0], NULL, NULL);
    release_all(views, 4);
    return Py_BuildValue("nnn", shared, a_in_b, b_in_a);
}

PyDoc_STRVAR(weighted_dot_doc,
"weighted_dot(a, a_weights, b, b_weights) -> float\n\n"
"The sum over the values common to `a` and `b` (uint64, each sorted and distinct) of the\n"
"product of their weights (float32, aligned with the values), in double precision, in\n"
"ascending order of value: the same sum whichever side is `a`.");

static PyObject *weighted_dot(PyObject *self, PyObject *args)
{
    static const char *const names[] = {"a", "a_weights", "b", "b_weights"};
    PyObject *a_obj, *aw_obj, *b_obj, *bw_obj;
    if (!PyArg_ParseTuple(args, "OOOO", &a_obj, &aw_obj, &b_obj, &bw_obj))
        return NULL;
    Py_buffer views[4];
    PyObject *objects[4] = {a_obj, aw_obj, b_obj, bw_obj};
    for (int i = 0; i < 4; i++) {
        if (PyObject_GetBuffer(objects[i], &views[i], PyBUF_C_CONTIGUOUS) < 0) {
            release_all(views, i);
            return NULL;
        }
    }
    Py_ssize_t n = views[0].len / 8, m = views[2].len / 8;
    if (views[0].len % 8 || views[2].len % 8 || views[1].len != n * 4 || views[3].len != m * 4) {
        release_all(views, 4);
        PyErr_Format(PyExc_ValueError, "%s and %s must be uint64 values with one float32 weight each",
                     names[0], names[2]);
        return NULL;
    }
    double total = dot_common(views[0].buf, views[1].buf, n, views[2].buf, views[3].buf, m, NULL, 0);
    release_all(views, 4);
    return PyFloat_FromDouble(total);
}

PyDoc_STRVAR(specific_cosine_doc,
"specific_cosine(a, a_weights, b, b_weights, common) -> float\n\n"
"The cosine similarity of two weighted term sets (uint64 terms, each sorted and distinct,\n"
"with float32 weights) over the terms whose bucket is not common: a term's bucket is its low\n"
"bits, an index into `common` (one byte per bucket, nonzero when common; its length a power\n"
"of two). Sums are taken in double precision in ascending order of term; 0.0 when either side\n"
"has no such term.");

static PyObject *specific_cosine(PyObject *self, PyObject *args)
{
    PyObject *objects[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objects[0], &objects[1], &objects[2], &objects[3], &objects[4]))
        return NULL;
    Py_buffer views[5];
    for (int i = 0; i < 5; i++) {
        if (PyObject_GetBuffer(objects[i], &views[i], PyBUF_C_CONTIGUOUS) < 0) {
            release_all(views, i);
            return NULL;
        }
    }
    Py_ssize_t n = views[0].len / 8, m = views[2].len / 8, buckets = views[4].len;
    if (views[0].len % 8 || views[2].len % 8 || views[1].len != n * 4 || views[3].len != m * 4) {
        release_all(views, 5);
        PyErr_SetString(PyExc_ValueError, "a and b must be uint64 terms with one float32 weight each");
        return NULL;
    }
    if (buckets == 0 || (buckets & (buckets - 1))) {
        release_all(views, 5);
        PyErr_SetString(PyExc_ValueError, "common must hold a power of two of one-byte flags");
        return NULL;
    }
    const uint64_t *x = views[0].buf, *y = views[2].buf, mask = (uint64_t)buckets - 1;
    const float *wx = views[1].buf, *wy = views[3].buf;
    const unsigned char *common = views[4].buf;
    double similarity = specific_similarity(x, wx, n, y, wy, m, common, mask, -1.0);
    release_all(views, 5);
    return PyFloat_FromDouble(similarity);
}

PyDoc_STRVAR(specific_share_doc,
"specific_share(terms, weights, other, common) -> float\n\n"
"The share of `terms`' squared `weights` (uint64 terms sorted and distinct, float32 weights),\n"
"over the terms whose bucket is not common (`common` as in `specific_cosine`, or None: every\n"
"term; every term too when none is specific), held by the terms also in `other` (uint64,\n"
"sorted and distinct); 0.0 without terms. Sums in double precision in ascending order of term.");

static PyObject *specific_share(PyObject *self, PyObject *args)
{
    PyObject *objects[3], *common_obj;
    if (!PyArg_ParseTuple(args, "OOOO", &objects[0], &objects[1], &objects[2], &common_obj))
        return NULL;
    Py_buffer views[3], common = {0};
    for (int i = 0; i < 3; i++) {
        if (PyObject_GetBuffer(objects[i], &views[i], PyBUF_C_CONTIGUOUS) < 0) {
            release_all(views, i);
            return NULL;
        }
    }
    Py_ssize_t n = views[0].len / 8, m = views[2].len / 8;
    if (views[0].len % 8 || views[2].len % 8 || views[1].len != n * 4) {
        release_all(views, 3);
        PyErr_SetString(PyExc_ValueError, "terms and other must be uint64, with one float32 weight per term");
        return NULL;
    }
    const unsigned char *flags;
    uint64_t mask;
    if (common_flags(common_obj, &common, &flags, &mask, "specific_share") < 0) {
        release_all(views, 3);
        return NULL;
    }
    double share = specific_share_in(views[0].buf, views[1].buf, n, views[2].buf, m, flags, mask);
    if (common.obj)
        PyBuffer_Release(&common);
    release_all(views, 3);
    return PyFloat_FromDouble(share);
}

/* ---- a body without some of its blocks (`dedup.verify._body`) -------------------------- */

PyDoc_STRVAR(without_blocks_doc,
"without_blocks(shingles, shingle_blocks, shingle_quoted, dropped) -> (shingles, distinct, own)\n\n"
"A body's shingles (uint64) without those starting in a dropped block (`dropped`: one byte per\n"
"block, nonzero to drop; `shingle_blocks` int32 and `shingle_quoted` bool, one per shingle),\n"
"their sorted distinct values, and the distinct ones outside quotations (all of them when\n"
"fewer than 0.3 are outside), as bytes of uint64: `analysis.own_shingles`' rule.");

static PyObject *without_blocks(PyObject *self, PyObject *args)
{
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &objs[3]))
        return NULL;
    Py_buffer views[4];
    for (int i = 0; i < 4; i++) {
        if (PyObject_GetBuffer(objs[i], &views[i], PyBUF_C_CONTIGUOUS) < 0) {
            release_all(views, i);
            return NULL;
        }
    }
    Py_ssize_t n = views[0].len / 8, n_blocks = views[3].len;
    const uint64_t *shingles = views[0].buf;
    const int32_t *blocks = views[1].buf;
    const unsigned char *quoted = views[2].buf, *dropped = views[3].buf;
    PyObject *result = NULL;
    uint64_t *work = NULL;
    if (views[0].len % 8 || views[1].len != n * 4 || views[2].len != n) {
        PyErr_SetString(PyExc_ValueError, "without_blocks: shingles (uint64), their blocks (int32) and quotation flags (bool) must align");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (blocks[i] < 0 || blocks[i] >= n_blocks) {
            PyErr_SetString(PyExc_ValueError, "without_blocks: a shingle's block beyond `dropped`");
            goto done;
        }
    }
    /* Four runs of n values: the kept shingles, those outside quotations, and the two
     * distinct sets; returned as bytes of their exact sizes (a document keeps them). */
    work = malloc(sizeof(uint64_t) * (size_t)(4 * n + 1));
    if (!work) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t *kept = work, *unquoted = work + n, *distinct = work + 2 * n, *own = work + 3 * n;
    Py_ssize_t n_kept = 0, n_unquoted = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (dropped[blocks[i]])
            continue;
        kept[n_kept++] = shingles[i];
        if (!quoted[i])
            unquoted[n_unquoted++] = shingles[i];
    }
    Py_ssize_t n_distinct = sorted_distinct_copy(kept, n_kept, distinct);
    Py_ssize_t n_own = sorted_distinct_copy(unquoted, n_unquoted, own);
    if (n_own == 0 || (double)n_own < 0.3 * (double)n_distinct) {
        own = distinct;
        n_own = n_distinct;
    }
    result = Py_BuildValue("(y#y#y#)", (const char *)kept, n_kept * 8, (const char *)distinct, n_distinct * 8,
                           (const char *)own, n_own * 8);
done:
    free(work);
    release_all(views, 4);
    return result;
}

/* ---- term buckets (`dedup.commonness.CommonTerms`) ------------------------------------- */

/* `terms` as 64-bit values and `table` as a power of two of `itemsize`-byte entries; on
 * failure neither is held. */
static int bucket_arguments(PyObject *args, Py_buffer *terms, Py_buffer *table, Py_ssize_t itemsize, int writable)
{
    PyObject *terms_obj, *table_obj;
    if (!PyArg_ParseTuple(args, "OO", &terms_obj, &table_obj))
        return -1;
    if (u64_buffer(terms_obj, terms, "terms") < 0)
        return -1;
    if (PyObject_GetBuffer(table_obj, table, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        PyBuffer_Release(terms);
        return -1;
    }
    Py_ssize_t buckets = table->len / itemsize;
    if (table->len % itemsize || buckets == 0 || (buckets & (buckets - 1))) {
        PyBuffer_Release(terms);
        PyBuffer_Release(table);
        PyErr_Format(PyExc_ValueError, "the bucket table must hold a power of two of %zd-byte entries", itemsize);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(count_buckets_doc,
"count_buckets(terms, counts) -> None\n\n"
"Adds one to counts[b] (uint32, a power of two of them) for each distinct bucket b of the\n"
"terms (uint64; a term's bucket is its low bits), however many of the terms it holds.");

static PyObject *count_buckets(PyObject *self, PyObject *args)
{
    Py_buffer terms, table;
    if (bucket_arguments(args, &terms, &table, sizeof(uint32_t), 1) < 0)
        return NULL;
    Py_ssize_t n = terms.len / (Py_ssize_t)sizeof(uint64_t);
    uint64_t mask = (uint64_t)(table.len / (Py_ssize_t)sizeof(uint32_t)) - 1;
    uint64_t *buckets = malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    if (!buckets) {
        PyBuffer_Release(&terms);
        PyBuffer_Release(&table);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++)
        buckets[i] = ((const uint64_t *)terms.buf)[i] & mask;
    sort_u64(buckets, n);
    uint32_t *counts = table.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (i == 0 || buckets[i] != buckets[i - 1])
            counts[buckets[i]]++;
    free(buckets);
    PyBuffer_Release(&terms);
    PyBuffer_Release(&table);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(any_flagged_doc,
"any_flagged(terms, flags) -> bool\n\n"
"Whether the bucket of any of the terms (uint64; its low bits) is flagged in `flags` (one\n"
"byte per bucket, nonzero when flagged, a power of two of them).");

static PyObject *any_flagged(PyObject *self, PyObject *args)
{
    Py_buffer terms, table;
    if (bucket_arguments(args, &terms, &table, 1, 0) < 0)
        return NULL;
    Py_ssize_t n = terms.len / (Py_ssize_t)sizeof(uint64_t);
    uint64_t mask = (uint64_t)table.len - 1;
    const uint64_t *t = terms.buf;
    const unsigned char *flags = table.buf;
    int found = 0;
    for (Py_ssize_t i = 0; i < n && !found; i++)
        found = flags[t[i] & mask] != 0;
    PyBuffer_Release(&terms);
    PyBuffer_Release(&table);
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"specific_cosine", specific_cosine, METH_VARARGS, specific_cosine_doc},
    {"specific_share", specific_share, METH_VARARGS, specific_share_doc},
    {"overlap_counts", overlap_counts, METH_VARARGS, overlap_counts_doc},
    {"weighted_dot", weighted_dot, METH_VARARGS, weighted_dot_doc},
    {"shared_spans", shared_spans, METH_VARARGS, shared_spans_doc},
    {"verify_pair", verify_pair, METH_VARARGS, verify_pair_doc},
    {"screen", screen, METH_VARARGS, screen_doc},
    {"positions_in", positions_in, METH_VARARGS, positions_in_doc},
    {"common_positions", common_positions, METH_VARARGS, common_positions_doc},
    {"count_buckets", count_buckets, METH_VARARGS, count_buckets_doc},
    {"without_blocks", without_blocks, METH_VARARGS, without_blocks_doc},
    {"any_flagged", any_flagged, METH_VARARGS, any_flagged_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_setops", "Sorted-set operations on 64-bit hashes, compiled.", -1, methods,
};

PyMODINIT_FUNC PyInit__setops(void)
{
    story_terms_name = PyUnicode_InternFromString("story_terms");
    story_weights_name = PyUnicode_InternFromString("story_weights");
    story_norm_name = PyUnicode_InternFromString("story_norm");
    shingle_set_name = PyUnicode_InternFromString("shingle_set");
    body_hash_name = PyUnicode_InternFromString("body_hash");
    body_tokens_name = PyUnicode_InternFromString("body_tokens");
    token_starts_name = PyUnicode_InternFromString("token_starts");
    token_ends_name = PyUnicode_InternFromString("token_ends");
    shingles_name = PyUnicode_InternFromString("shingles");
    if (!story_terms_name || !story_weights_name || !story_norm_name || !shingle_set_name || !body_hash_name
        || !body_tokens_name || !token_starts_name || !token_ends_name || !shingles_name)
        return NULL;
    return PyModule_Create(&module);
}
