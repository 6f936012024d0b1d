/* The band index's query and insert, each in one compiled pass (see dedup/lsh.py, BandIndex).
 *
 * The numpy form costs ~50 array operations per query, most of them on a few hundred
 * numbers, so interpreter and allocation overhead outweigh the searches themselves.  This
 * does the same work in one call: for each sorted query key, find its bucket in every sorted
 * level (a binary search that starts where the previous key's bucket started), drop keys held
 * by more than `max_bucket` entries, gather the document numbers of every remaining bucket,
 * and count how many buckets each document was found in.  The GIL is released meanwhile.
 *
 * Built as an optional extension: dedup/lsh.py falls back to numpy when it is missing, and
 * tests compare the two on the same indexes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "_sorted.h"
#include <stdlib.h>
#include <string.h>

/* First position in a[lo:n] whose value is >= x, for x usually found close after lo (a
 * bucket's end, a few entries after its start): doubling steps, then a binary search. */
static Py_ssize_t gallop(const uint64_t *a, Py_ssize_t lo, Py_ssize_t n, uint64_t x)
{
    Py_ssize_t step = 1, hi = lo;
    while (hi < n && a[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    return lower_bound(a, lo, hi < n ? hi : n, x);
}

/* Sort `v` (values below 2**32) with a least-significant-digit radix sort, using `tmp` of the
 * same length; byte passes in which every value has the same digit are skipped. */
static void radix_sort_u32(uint32_t *v, uint32_t *tmp, Py_ssize_t n)
{
    if (n < 2)
        return;
    if (n <= 32) {
        for (Py_ssize_t i = 1; i < n; i++) {
            uint32_t x = v[i];
            Py_ssize_t j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return;
    }
    uint32_t *src = v, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 8) {
        Py_ssize_t count[256] = {0};
        for (Py_ssize_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xFF]++;
        if (count[(src[0] >> shift) & 0xFF] == n)
            continue; /* one digit everywhere: this pass would not move anything */
        Py_ssize_t pos = 0;
        for (int d = 0; d < 256; d++) {
            Py_ssize_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (Py_ssize_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
        uint32_t *swap = src;
        src = dst;
        dst = swap;
    }
    if (src != v)
        memcpy(v, src, (size_t)n * sizeof(uint32_t));
}

/* A level's directory: for a level of n entries, 2**bits + 1 positions (bits chosen so that
 * about 16 entries fall between two), where dir[d] is the first entry whose top `bits` bits
 * are >= d.  Band keys are hashes, spread evenly, so a key's bucket is found by a search among
 * ~16 entries (two cache lines) instead of a binary search of the whole level: on levels of
 * millions of entries, most of whose probes would miss the cache. */
static int directory_shift(Py_ssize_t directory_bytes)
{
    Py_ssize_t slots = directory_bytes / (Py_ssize_t)sizeof(uint32_t) - 1;
    int bits = 0;
    while (((Py_ssize_t)1 << bits) < slots)
        bits++;
    return 64 - bits;
}

PyDoc_STRVAR(directory_doc,
"directory(level, bits) -> bytearray\n\n"
"The directory of a sorted uint64 level: 2**bits + 1 uint32 positions, position d being the\n"
"first entry whose top `bits` bits are >= d (the last is the level's length).");

static PyObject *directory(PyObject *self, PyObject *args)
{
    Py_buffer level;
    int bits;
    if (!PyArg_ParseTuple(args, "y*i", &level, &bits))
        return NULL;
    Py_ssize_t n = level.len / (Py_ssize_t)sizeof(uint64_t);
    if (level.len % (Py_ssize_t)sizeof(uint64_t) || bits < 1 || bits > 32 || n > (Py_ssize_t)UINT32_MAX) {
        PyBuffer_Release(&level);
        PyErr_SetString(PyExc_ValueError, "a directory needs a level of 64-bit entries (under 2**32) and 1 to 32 bits");
        return NULL;
    }
    Py_ssize_t slots = ((Py_ssize_t)1 << bits) + 1;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, slots * (Py_ssize_t)sizeof(uint32_t));
    if (out) {
        const uint64_t *a = level.buf;
        uint32_t *dir = (uint32_t *)PyByteArray_AS_STRING(out);
        int shift = 64 - bits;
        Py_ssize_t d = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t top = (Py_ssize_t)(a[i] >> shift);
            while (d <= top)
                dir[d++] = (uint32_t)i;
        }
        while (d < slots)
            dir[d++] = (uint32_t)n;
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&level);
    return out;
}

typedef struct {
    Py_buffer *levels;
    Py_buffer *directories; /* per level; .buf NULL where the level has none */
    Py_ssize_t n_levels;
    const uint64_t *keys;
    Py_ssize_t n_keys;
    uint64_t key_step, key_mask, doc_mask;
    Py_ssize_t max_bucket; /* < 0: no limit */
} Query;

/* The query's work, without the GIL.  Fills `docs` (ascending, distinct) and `counts`;
 * returns their length, or -1 when out of memory. */
static Py_ssize_t run_query(const Query *q, uint32_t **docs_out, int64_t **counts_out)
{
    Py_ssize_t nk = q->n_keys, nl = q->n_levels;
    Py_ssize_t *lo = malloc(sizeof(Py_ssize_t) * (size_t)(nk * nl + 1));
    Py_ssize_t *hi = malloc(sizeof(Py_ssize_t) * (size_t)(nk * nl + 1));
    Py_ssize_t *size = calloc((size_t)nk + 1, sizeof(Py_ssize_t));
    uint32_t *docs = NULL, *tmp = NULL;
    int64_t *counts = NULL;
    Py_ssize_t total = 0, n_out = -1;
    if (!lo || !hi || !size)
        goto done;
    for (Py_ssize_t l = 0; l < nl; l++) {
        const uint64_t *a = q->levels[l].buf;
        Py_ssize_t n = q->levels[l].len / (Py_ssize_t)sizeof(uint64_t), start = 0;
        const uint32_t *dir = q->directories[l].buf;
        int shift = dir ? directory_shift(q->directories[l].len) : 0;
        for (Py_ssize_t k = 0; k < nk; k++) {
            uint64_t key = q->keys[k];
            Py_ssize_t first;
            if (dir) {
                uint64_t d = key >> shift;
                first = lower_bound(a, dir[d], dir[d + 1], key);
            } else {
                first = lower_bound(a, start, n, key);
            }
            Py_ssize_t end = key == q->key_mask ? n : gallop(a, first, n, key + q->key_step);
            lo[l * nk + k] = first;
            hi[l * nk + k] = end;
            size[k] += end - first;
            start = first; /* keys ascend; an equal next key starts here again */
        }
    }
    for (Py_ssize_t k = 0; k < nk; k++) {
        if (q->max_bucket >= 0 && size[k] > q->max_bucket)
            size[k] = 0; /* too common a key: ignored */
        total += size[k];
    }
    docs = malloc(sizeof(uint32_t) * (size_t)(total + 1));
    tmp = malloc(sizeof(uint32_t) * (size_t)(total + 1));
    counts = malloc(sizeof(int64_t) * (size_t)(total + 1));
    if (!docs || !tmp || !counts)
        goto done;
    Py_ssize_t filled = 0;
    for (Py_ssize_t l = 0; l < nl; l++) {
        const uint64_t *a = q->levels[l].buf;
        for (Py_ssize_t k = 0; k < nk; k++) {
            if (!size[k])
                continue;
            for (Py_ssize_t i = lo[l * nk + k]; i < hi[l * nk + k]; i++)
                docs[filled++] = (uint32_t)(a[i] & q->doc_mask);
        }
    }
    radix_sort_u32(docs, tmp, total);
    n_out = 0;
    for (Py_ssize_t i = 0; i < total; i++) {
        if (n_out && docs[n_out - 1] == docs[i]) {
            counts[n_out - 1]++;
        } else {
            docs[n_out] = docs[i];
            counts[n_out++] = 1;
        }
    }
    *docs_out = docs;
    *counts_out = counts;
    docs = NULL;
    counts = NULL;
done:
    free(lo);
    free(hi);
    free(size);
    free(docs);
    free(tmp);
    free(counts);
    return n_out;
}

PyDoc_STRVAR(query_doc,
"query(levels, directories, keys, key_step, key_mask, doc_mask, max_bucket) -> (docs, counts)\n\n"
"levels: sorted uint64 arrays of packed entries, each with its `directory` or None;\n"
"keys: sorted uint64 query keys, masked.\n"
"Returns two bytearrays: the distinct document numbers found (uint32, ascending) and how\n"
"many buckets held each (int64).  max_bucket < 0 means no limit.");

static PyObject *query(PyObject *self, PyObject *args)
{
    PyObject *level_seq, *directory_seq, *result = NULL;
    Py_buffer keys = {0};
    unsigned long long key_step, key_mask, doc_mask;
    Py_ssize_t max_bucket;
    if (!PyArg_ParseTuple(args, "OOy*KKKn", &level_seq, &directory_seq, &keys, &key_step, &key_mask, &doc_mask,
                          &max_bucket))
        return NULL;
    PyObject *seq = PySequence_Fast(level_seq, "levels must be a sequence of arrays");
    PyObject *dseq = seq ? PySequence_Fast(directory_seq, "directories must be a sequence") : NULL;
    Py_ssize_t nl = seq ? PySequence_Fast_GET_SIZE(seq) : 0, got = 0;
    Py_buffer *levels = NULL, *directories = NULL;
    if (!dseq)
        goto done;
    if (PySequence_Fast_GET_SIZE(dseq) != nl) {
        PyErr_SetString(PyExc_ValueError, "one directory (or None) per level");
        goto done;
    }
    levels = PyMem_Calloc((size_t)nl + 1, sizeof(Py_buffer));
    directories = PyMem_Calloc((size_t)nl + 1, sizeof(Py_buffer));
    if (!levels || !directories) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < nl; got++) {
        PyObject *dir = PySequence_Fast_GET_ITEM(dseq, got);
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &levels[got], PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (dir != Py_None && PyObject_GetBuffer(dir, &directories[got], PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&levels[got]);
            goto done;
        }
        if (levels[got].len % (Py_ssize_t)sizeof(uint64_t)) {
            got++;
            PyErr_SetString(PyExc_ValueError, "a level must hold 64-bit entries");
            goto done;
        }
        if (directories[got].buf) {
            Py_ssize_t slots = directories[got].len / (Py_ssize_t)sizeof(uint32_t) - 1;
            if (slots < 2 || (slots & (slots - 1)) || directories[got].len % (Py_ssize_t)sizeof(uint32_t)) {
                got++;
                PyErr_SetString(PyExc_ValueError, "a directory must hold 2**bits + 1 uint32 positions");
                goto done;
            }
            /* A directory ends with its level's length: one built for another level would
             * send the searches out of this one. */
            if (((const uint32_t *)directories[got].buf)[slots] != (uint32_t)(levels[got].len / 8)) {
                got++;
                PyErr_SetString(PyExc_ValueError, "a directory does not match its level");
                goto done;
            }
        }
    }
    if (keys.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "keys must be 64-bit");
        goto done;
    }
    Query q = {levels, directories, nl, keys.buf, keys.len / (Py_ssize_t)sizeof(uint64_t),
               key_step, key_mask, doc_mask, max_bucket};
    uint32_t *docs = NULL;
    int64_t *counts = NULL;
    Py_ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    n = run_query(&q, &docs, &counts);
    Py_END_ALLOW_THREADS
    if (n < 0) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *d = PyByteArray_FromStringAndSize((const char *)docs, n * (Py_ssize_t)sizeof(uint32_t));
    PyObject *c = PyByteArray_FromStringAndSize((const char *)counts, n * (Py_ssize_t)sizeof(int64_t));
    free(docs);
    free(counts);
    if (d && c)
        result = PyTuple_Pack(2, d, c);
    Py_XDECREF(d);
    Py_XDECREF(c);
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&levels[i]);
        if (directories[i].obj)
            PyBuffer_Release(&directories[i]);
    }
    PyMem_Free(levels);
    PyMem_Free(directories);
    Py_XDECREF(seq);
    Py_XDECREF(dseq);
    PyBuffer_Release(&keys);
    return result;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

PyDoc_STRVAR(insert_doc,
"insert(recent, keys, key_mask, doc) -> bytearray\n\n"
"recent: sorted uint64 entries; keys: uint64 band keys of document number `doc`.\n"
"Returns recent with one entry (key & key_mask | doc) per key merged in, still sorted.");

static PyObject *insert(PyObject *self, PyObject *args)
{
    Py_buffer recent = {0}, keys = {0};
    unsigned long long key_mask, doc;
    PyObject *out = NULL;
    if (!PyArg_ParseTuple(args, "y*y*KK", &recent, &keys, &key_mask, &doc))
        return NULL;
    if (recent.len % (Py_ssize_t)sizeof(uint64_t) || keys.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "entries and keys must be 64-bit");
        goto done;
    }
    Py_ssize_t n_old = recent.len / (Py_ssize_t)sizeof(uint64_t), n_new = keys.len / (Py_ssize_t)sizeof(uint64_t);
    out = PyByteArray_FromStringAndSize(NULL, (n_old + n_new) * (Py_ssize_t)sizeof(uint64_t));
    uint64_t *fresh = PyMem_Malloc(sizeof(uint64_t) * (size_t)(n_new + 1));
    if (!out || !fresh) {
        Py_CLEAR(out);
        PyMem_Free(fresh);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    const uint64_t *old = recent.buf, *k = keys.buf;
    uint64_t *merged = (uint64_t *)PyByteArray_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_new; i++)
        fresh[i] = (k[i] & key_mask) | doc;
    qsort(fresh, (size_t)n_new, sizeof(uint64_t), compare_u64);
    Py_ssize_t i = 0, j = 0, o = 0;
    while (i < n_old && j < n_new)
        merged[o++] = old[i] <= fresh[j] ? old[i++] : fresh[j++];
    while (i < n_old)
        merged[o++] = old[i++];
    while (j < n_new)
        merged[o++] = fresh[j++];
    Py_END_ALLOW_THREADS
    PyMem_Free(fresh);
done:
    PyBuffer_Release(&recent);
    PyBuffer_Release(&keys);
    return out;
}

typedef struct {
    uint32_t doc;
    uint32_t textual;
    int64_t hits;
} Found;

static int compare_found(const void *x, const void *y)
{
    uint32_t a = ((const Found *)x)->doc, b = ((const Found *)y)->doc;
    return (a > b) - (a < b);
}

PyDoc_STRVAR(merge_found_doc,
"merge_found(docs, hits, textual) -> (docs, hits, textual)\n\n"
"Several queries' answers as one: `docs` a list of uint32 arrays, `hits` the int64 hits\n"
"aligned with them, the first `textual` of them from text (not story) indexes.  Returns the\n"
"distinct documents (uint32, ascending), their summed hits (int64) and whether a textual\n"
"source found each (uint8), as bytearrays.");

static PyObject *merge_found(PyObject *self, PyObject *args)
{
    PyObject *docs_obj, *hits_obj, *result = NULL;
    Py_ssize_t textual;
    if (!PyArg_ParseTuple(args, "OOn", &docs_obj, &hits_obj, &textual))
        return NULL;
    PyObject *docs = PySequence_Fast(docs_obj, "docs must be a sequence");
    PyObject *hits = docs ? PySequence_Fast(hits_obj, "hits must be a sequence") : NULL;
    Found *all = NULL;
    if (!hits)
        goto done;
    Py_ssize_t sources = PySequence_Fast_GET_SIZE(docs), total = 0, filled = 0;
    if (PySequence_Fast_GET_SIZE(hits) != sources) {
        PyErr_SetString(PyExc_ValueError, "one hits array per docs array");
        goto done;
    }
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        for (Py_ssize_t i = 0; i < sources; i++) {
            Py_buffer d, h;
            if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(docs, i), &d, PyBUF_C_CONTIGUOUS) < 0)
                goto done;
            if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(hits, i), &h, PyBUF_C_CONTIGUOUS) < 0) {
                PyBuffer_Release(&d);
                goto done;
            }
            Py_ssize_t n = d.len / (Py_ssize_t)sizeof(uint32_t);
            int ok = d.len % (Py_ssize_t)sizeof(uint32_t) == 0 && h.len == n * (Py_ssize_t)sizeof(int64_t);
            if (ok && pass == 0) {
                total += n;
            } else if (ok) {
                const uint32_t *dv = d.buf;
                const int64_t *hv = h.buf;
                for (Py_ssize_t j = 0; j < n; j++) {
                    all[filled].doc = dv[j];
                    all[filled].textual = i < textual;
                    all[filled++].hits = hv[j];
                }
            }
            PyBuffer_Release(&d);
            PyBuffer_Release(&h);
            if (!ok) {
                PyErr_SetString(PyExc_ValueError, "docs must be uint32 arrays and hits int64 arrays of the same length");
                goto done;
            }
        }
        if (pass == 0 && !(all = PyMem_Malloc(sizeof(Found) * (size_t)(total + 1)))) {
            PyErr_NoMemory();
            goto done;
        }
    }
    qsort(all, (size_t)total, sizeof(Found), compare_found);
    Py_ssize_t n_out = 0;
    for (Py_ssize_t i = 0; i < total; i++) {
        if (n_out && all[n_out - 1].doc == all[i].doc) {
            all[n_out - 1].hits += all[i].hits;
            all[n_out - 1].textual |= all[i].textual;
        } else {
            all[n_out++] = all[i];
        }
    }
    PyObject *d = PyByteArray_FromStringAndSize(NULL, n_out * (Py_ssize_t)sizeof(uint32_t));
    PyObject *h = PyByteArray_FromStringAndSize(NULL, n_out * (Py_ssize_t)sizeof(int64_t));
    PyObject *t = PyByteArray_FromStringAndSize(NULL, n_out);
    if (d && h && t) {
        uint32_t *dv = (uint32_t *)PyByteArray_AS_STRING(d);
        int64_t *hv = (int64_t *)PyByteArray_AS_STRING(h);
        char *tv = PyByteArray_AS_STRING(t);
        for (Py_ssize_t i = 0; i < n_out; i++) {
            dv[i] = all[i].doc;
            hv[i] = all[i].hits;
            tv[i] = (char)all[i].textual;
        }
        result = PyTuple_Pack(3, d, h, t);
    }
    Py_XDECREF(d);
    Py_XDECREF(h);
    Py_XDECREF(t);
done:
    PyMem_Free(all);
    Py_XDECREF(docs);
    Py_XDECREF(hits);
    return result;
}

static PyMethodDef methods[] = {
    {"merge_found", merge_found, METH_VARARGS, merge_found_doc},
    {"query", query, METH_VARARGS, query_doc},
    {"insert", insert, METH_VARARGS, insert_doc},
    {"directory", directory, METH_VARARGS, directory_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bandsearch", "The band index's query and insert, compiled.", -1, methods,
};

PyMODINIT_FUNC PyInit__bandsearch(void)
{
    return PyModule_Create(&module);
}
