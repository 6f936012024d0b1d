/* The per-character and per-shingle loops of analysis (dedup/analysis.py, dedup/sketch.py).
 *
 * Analysis walks every character of an article (tokens), every shingle (hashes, distinct
 * sets, passage cuts) and every shingle times every permutation (MinHash).  In Python these
 * are interpreter loops or chains of numpy calls on small arrays; here each is one pass.  Optional: the
 * Python code does the same where this is not built, and tests compare the two on arbitrary
 * Unicode text and random hashes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_sorted.h"

/* ---- tokens ---------------------------------------------------------------------------
 * The same tokens as `dedup.segment._TOKEN` finds with Python's `re` (whose \w is
 * Py_UNICODE_ISALNUM or '_', and \d Py_UNICODE_ISDECIMAL):
 *   a CJK character alone;
 *   or digits, with separators between digits ("1,912.65");
 *   or a letter, then letters and digits, then apostrophe-joined letter runs ("don't").
 */

static inline int is_cjk(Py_UCS4 c)
{
    return (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff)
        || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xac00 && c <= 0xd7af);
}

static inline int is_decimal(Py_UCS4 c)
{
    return c < 128 ? (c >= '0' && c <= '9') : Py_UNICODE_ISDECIMAL(c);
}

static inline int is_alnum(Py_UCS4 c)
{
    if (c < 128)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    return Py_UNICODE_ISALNUM(c);
}

/* [^\W\d_]: a letter (or other alphanumeric that is not a decimal digit). */
static inline int is_letter(Py_UCS4 c)
{
    return is_alnum(c) && !is_decimal(c);
}

/* The end of the token starting at `i`, or `i` when none starts there. */
static Py_ssize_t token_end(int kind, const void *data, Py_ssize_t n, Py_ssize_t i)
{
    Py_UCS4 c = PyUnicode_READ(kind, data, i);
    Py_ssize_t j = i + 1;
    if (is_cjk(c))
        return j;
    if (is_decimal(c)) {
        while (j < n && is_decimal(PyUnicode_READ(kind, data, j)))
            j++;
        for (;;) {
            if (j + 1 >= n)
                return j;
            Py_UCS4 sep = PyUnicode_READ(kind, data, j);
            if (!(sep == '.' || sep == ',' || sep == ':' || sep == '/') || !is_decimal(PyUnicode_READ(kind, data, j + 1)))
                return j;
            j += 2;
            while (j < n && is_decimal(PyUnicode_READ(kind, data, j)))
                j++;
        }
    }
    if (!is_letter(c) || is_cjk(c))
        return i;
    while (j < n) {
        Py_UCS4 d = PyUnicode_READ(kind, data, j);
        if (!is_alnum(d) || is_cjk(d))
            break;
        j++;
    }
    while (j + 1 < n && PyUnicode_READ(kind, data, j) == '\'' && is_letter(PyUnicode_READ(kind, data, j + 1))) {
        j += 2;
        while (j < n && is_letter(PyUnicode_READ(kind, data, j)))
            j++;
    }
    return j;
}

/* The folded key of text[start:end]: lower-cased ASCII here, anything else by str.casefold. */
static PyObject *token_key(PyObject *text, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    char buf[64];
    Py_ssize_t len = end - start;
    if (len <= (Py_ssize_t)sizeof(buf)) {
        Py_ssize_t k = 0;
        for (; k < len; k++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, start + k);
            if (c >= 128)
                break;
            buf[k] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
        }
        if (k == len)
            return PyUnicode_DecodeASCII(buf, len, NULL);
    }
    PyObject *word = PyUnicode_Substring(text, start, end);
    if (!word)
        return NULL;
    PyObject *key = PyObject_CallMethod(word, "casefold", NULL);
    Py_DECREF(word);
    return key;
}

PyDoc_STRVAR(tokenize_doc,
"tokenize(text) -> (keys, starts, ends)\n\n"
"The tokens of `text` as `dedup.segment.tokenize` finds them, each folded as\n"
"`dedup.normalise.token_key` folds it: a list of keys and the tokens' start and end offsets\n"
"(bytearrays of int32).");

static PyObject *tokenize(PyObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "tokenize() takes a str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "text too long for int32 offsets");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *keys = PyList_New(0), *starts = NULL, *ends = NULL, *result = NULL;
    Py_ssize_t count = 0, capacity = 0;
    int32_t *s = NULL, *e = NULL;
    if (!keys)
        return NULL;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t j = token_end(kind, data, n, i);
        if (j == i) {
            i++;
            continue;
        }
        if (count == capacity) {
            capacity = capacity ? 2 * capacity : 256;
            int32_t *grown_s = PyMem_Realloc(s, capacity * sizeof(int32_t));
            if (!grown_s)
                goto fail;
            s = grown_s;
            int32_t *grown_e = PyMem_Realloc(e, capacity * sizeof(int32_t));
            if (!grown_e)
                goto fail;
            e = grown_e;
        }
        PyObject *key = token_key(text, kind, data, i, j);
        if (!key)
            goto fail;
        int failed = PyList_Append(keys, key);
        Py_DECREF(key);
        if (failed)
            goto fail;
        s[count] = (int32_t)i;
        e[count++] = (int32_t)j;
        i = j;
    }
    starts = PyByteArray_FromStringAndSize((const char *)s, count * (Py_ssize_t)sizeof(int32_t));
    ends = PyByteArray_FromStringAndSize((const char *)e, count * (Py_ssize_t)sizeof(int32_t));
    if (starts && ends)
        result = PyTuple_Pack(3, keys, starts, ends);
fail:
    if (!result && !PyErr_Occurred())
        PyErr_NoMemory();
    PyMem_Free(s);
    PyMem_Free(e);
    Py_XDECREF(starts);
    Py_XDECREF(ends);
    Py_DECREF(keys);
    return result;
}

/* ---- buffers --------------------------------------------------------------------------- */

static int typed_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, int writable, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->len % itemsize) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s must hold %zd-byte values", what, itemsize);
        return -1;
    }
    return 0;
}

/* `count` buffers of the given item sizes, the last writable when `last_writable`; on
 * failure none is held. */
static int typed_buffers(PyObject *const *objs, Py_buffer *views, const Py_ssize_t *sizes,
                         const char *const *names, int count, int last_writable)
{
    for (int v = 0; v < count; v++) {
        if (typed_buffer(objs[v], &views[v], sizes[v], last_writable && v == count - 1, names[v]) < 0) {
            while (v--)
                PyBuffer_Release(&views[v]);
            return -1;
        }
    }
    return 0;
}

static void release_buffers(Py_buffer *views, int count)
{
    for (int v = 0; v < count; v++)
        PyBuffer_Release(&views[v]);
}

/* ---- the body's arrays ------------------------------------------------------------------ */

PyDoc_STRVAR(body_features_doc,
"body_features(text, token_hashes, token_ends, bounds, body_blocks, quoted, k, min_tokens,\n"
"              target_tokens) -> (body_tokens, shingles, shingle_blocks, shingle_quoted,\n"
"                                 shingle_set, own_set, passage_starts)\n\n"
"The body's arrays as `dedup.analysis._body_arrays` computes them, as bytearrays: the body's\n"
"tokens (int32: the tokens of `body_blocks`, ascending block numbers), its k-shingle hashes\n"
"(uint64), the block (int32) and quotation flag (bool) of each shingle's first token, the\n"
"sorted distinct shingles and those outside quotations (uint64; all of them when fewer than\n"
"0.3 are outside), and the first shingle of each passage (int32). `bounds` (int32 pairs) must\n"
"tile the tokens, block after block.");

/* Sorted, duplicate-free copy of v[0:n] into out; returns its length. */
static Py_ssize_t distinct_sorted(const uint64_t *v, Py_ssize_t n, uint64_t *out)
{
    memcpy(out, v, n * sizeof(uint64_t));
    sort_u64(out, n);
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (m == 0 || out[i] != out[m - 1])
            out[m++] = out[i];
    return m;
}

static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

#define SHINGLE_FOLD 0x9E3779B97F4A7C15ULL

static PyObject *body_features(PyObject *self, PyObject *args)
{
    PyObject *text, *objs[4], *body_obj;
    Py_ssize_t k, min_tokens, target;
    if (!PyArg_ParseTuple(args, "UOOOOOnnn", &text, &objs[0], &objs[1], &objs[2], &body_obj, &objs[3],
                          &k, &min_tokens, &target))
        return NULL;
    if (PyUnicode_READY(text) < 0)
        return NULL;
    static const char *const names[] = {"token_hashes", "token_ends", "bounds", "quoted"};
    static const Py_ssize_t sizes[] = {8, 4, 4, 1};
    Py_buffer views[4];
    if (typed_buffers(objs, views, sizes, names, 4, 0) < 0)
        return NULL;
    const uint64_t *tok_hash = views[0].buf;
    const int32_t *tok_end = views[1].buf, *bounds = views[2].buf;
    const uint8_t *quoted = views[3].buf;
    Py_ssize_t n_tokens = views[0].len / 8, n_blocks = views[2].len / 8;
    Py_ssize_t n_text = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *body_seq = NULL, *result = NULL;
    int32_t *token_block = NULL;
    uint64_t *scratch = NULL;
    PyObject *out[7] = {NULL};

    if (views[1].len / 4 != n_tokens || views[3].len != n_tokens || views[2].len % 8 || k < 1) {
        PyErr_SetString(PyExc_ValueError, "body_features: token arrays of different lengths, or k < 1");
        goto done;
    }
    /* The block of each token; the blocks must tile the tokens. */
    token_block = PyMem_Malloc((n_tokens ? n_tokens : 1) * sizeof(int32_t));
    if (!token_block) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t b = 0; b < n_blocks; b++) {
        if (bounds[2 * b] != at || bounds[2 * b + 1] < at || bounds[2 * b + 1] > n_tokens) {
            PyErr_SetString(PyExc_ValueError, "body_features: bounds must tile the tokens, block after block");
            goto done;
        }
        for (; at < bounds[2 * b + 1]; at++)
            token_block[at] = (int32_t)b;
    }
    if (at != n_tokens) {
        PyErr_SetString(PyExc_ValueError, "body_features: bounds must tile the tokens, block after block");
        goto done;
    }
    /* The body's tokens. */
    body_seq = PySequence_Fast(body_obj, "body_features: body_blocks must be a sequence of block numbers");
    if (!body_seq)
        goto done;
    Py_ssize_t n_body_blocks = PySequence_Fast_GET_SIZE(body_seq), n_body = 0;
    PyObject **items = PySequence_Fast_ITEMS(body_seq);
    for (Py_ssize_t i = 0; i < n_body_blocks; i++) {
        Py_ssize_t b = PyLong_AsSsize_t(items[i]);
        if (b == -1 && PyErr_Occurred())
            goto done;
        if (b < 0 || b >= n_blocks || (i && b <= PyLong_AsSsize_t(items[i - 1]))) {
            PyErr_SetString(PyExc_ValueError, "body_features: body_blocks must be ascending block numbers");
            goto done;
        }
        n_body += bounds[2 * b + 1] - bounds[2 * b];
    }
    Py_ssize_t n_shingles = n_body == 0 ? 0 : n_body - (k < n_body ? k : n_body) + 1;
    Py_ssize_t width = k < n_body ? k : n_body;
    const Py_ssize_t out_sizes[7] = {n_body * 4, n_shingles * 8, n_shingles * 4, n_shingles, n_shingles * 8,
                                     n_shingles * 8, n_shingles * 4};
    for (int o = 0; o < 7; o++) {
        if (!(out[o] = PyByteArray_FromStringAndSize(NULL, out_sizes[o])))
            goto done;
    }
    scratch = PyMem_Malloc((n_shingles ? n_shingles : 1) * sizeof(uint64_t));
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    int32_t *body = (int32_t *)PyByteArray_AS_STRING(out[0]);
    uint64_t *shingles = (uint64_t *)PyByteArray_AS_STRING(out[1]);
    int32_t *sh_block = (int32_t *)PyByteArray_AS_STRING(out[2]);
    uint8_t *sh_quoted = (uint8_t *)PyByteArray_AS_STRING(out[3]);
    uint64_t *distinct = (uint64_t *)PyByteArray_AS_STRING(out[4]);
    uint64_t *own = (uint64_t *)PyByteArray_AS_STRING(out[5]);
    int32_t *starts = (int32_t *)PyByteArray_AS_STRING(out[6]);
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < n_body_blocks; i++) {
        Py_ssize_t b = PyLong_AsSsize_t(items[i]);
        for (int32_t t = bounds[2 * b]; t < bounds[2 * b + 1]; t++)
            body[j++] = t;
    }
    /* Shingles: hashes folded as `dedup.sketch.shingle_hashes` does, wrapping mod 2**64. */
    Py_ssize_t n_unquoted = 0;
    for (Py_ssize_t i = 0; i < n_shingles; i++) {
        uint64_t h = tok_hash[body[i]];
        for (Py_ssize_t w = 1; w < width; w++)
            h = h * SHINGLE_FOLD + tok_hash[body[i + w]];
        shingles[i] = fmix64(h);
        sh_block[i] = token_block[body[i]];
        sh_quoted[i] = quoted[body[i]] != 0;
        if (!sh_quoted[i])
            scratch[n_unquoted++] = shingles[i];
    }
    Py_ssize_t n_distinct = distinct_sorted(shingles, n_shingles, distinct);
    Py_ssize_t n_own = distinct_sorted(scratch, n_unquoted, own);
    if (n_own == 0 || (double)n_own < 0.3 * (double)n_distinct) {
        memcpy(own, distinct, n_distinct * sizeof(uint64_t));
        n_own = n_distinct;
    }
    /* Passages, cut as `Analyzer._passages` cuts them. */
    Py_ssize_t n_starts = 0, length = 0;
    if (n_shingles > 0)
        starts[n_starts++] = 0;
    for (Py_ssize_t i = 1; i < n_shingles; i++) {
        length++;
        if (length < min_tokens)
            continue;
        int new_block = token_block[body[i]] != token_block[body[i - 1]];
        Py_ssize_t prev_end = tok_end[body[i - 1]];
        int sentence_break = 0;
        if (prev_end >= 0 && prev_end < n_text) {
            Py_UCS4 c = PyUnicode_READ(kind, data, prev_end);
            sentence_break = c == '.' || c == '!' || c == '?';
        }
        if (new_block || (length >= target && sentence_break) || length >= 2 * target) {
            starts[n_starts++] = (int32_t)i;
            length = 0;
        }
    }
    if (n_starts > 1 && n_shingles - starts[n_starts - 1] < min_tokens)
        n_starts--;
    if (PyByteArray_Resize(out[4], n_distinct * 8) < 0 || PyByteArray_Resize(out[5], n_own * 8) < 0 ||
        PyByteArray_Resize(out[6], n_starts * 4) < 0)
        goto done;
    result = PyTuple_New(7);
    if (result) {
        for (int o = 0; o < 7; o++) {
            PyTuple_SET_ITEM(result, o, out[o]);
            out[o] = NULL;
        }
    }
done:
    for (int o = 0; o < 7; o++)
        Py_XDECREF(out[o]);
    Py_XDECREF(body_seq);
    PyMem_Free(token_block);
    PyMem_Free(scratch);
    release_buffers(views, 4);
    return result;
}

/* ---- MinHash ---------------------------------------------------------------------------- */

PyDoc_STRVAR(minhash_doc,
"minhash(values, starts, a, b, out) -> None\n\n"
"For each group g of `values` (uint32 item hashes; group g is values[starts[g]:starts[g+1]],\n"
"the last to the end; `starts` int64, ascending), lowers out[g] (uint32, len(starts) rows of\n"
"len(a)) to the minimum over the group's items v of (v * a + b) mod 2**32, per permutation.");

static PyObject *minhash(PyObject *self, PyObject *args)
{
    PyObject *objs[5];
    if (!PyArg_ParseTuple(args, "OOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4]))
        return NULL;
    static const char *const names[] = {"values", "starts", "a", "b", "out"};
    static const Py_ssize_t sizes[] = {4, 8, 4, 4, 4};
    Py_buffer views[5];
    if (typed_buffers(objs, views, sizes, names, 5, 1) < 0)
        return NULL;
    const uint32_t *values = views[0].buf, *a = views[2].buf, *b = views[3].buf;
    const int64_t *starts = views[1].buf;
    uint32_t *out = views[4].buf;
    Py_ssize_t n = views[0].len / 4, groups = views[1].len / 8, perms = views[2].len / 4;
    PyObject *result = NULL;
    if (views[3].len / 4 != perms || views[4].len / 4 != groups * perms) {
        PyErr_SetString(PyExc_ValueError, "minhash: a and b must be as long as a row of out, and out have one row per group");
        goto done;
    }
    for (Py_ssize_t g = 0; g < groups; g++) {
        if (starts[g] < 0 || starts[g] > n || (g && starts[g] < starts[g - 1])) {
            PyErr_SetString(PyExc_ValueError, "minhash: starts must ascend within the values");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t g = 0; g < groups; g++) {
        Py_ssize_t lo = starts[g], hi = g + 1 < groups ? starts[g + 1] : n;
        uint32_t *row = out + g * perms;
        for (Py_ssize_t i = lo; i < hi; i++) {
            uint32_t v = values[i];
            for (Py_ssize_t p = 0; p < perms; p++) {
                uint32_t h = v * a[p] + b[p];
                row[p] = h < row[p] ? h : row[p];
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release_buffers(views, 5);
    return result;
}

/* ---- cached lookups --------------------------------------------------------------------- */

PyDoc_STRVAR(cached_map_doc,
"cached_map(cache, keys, compute, limit) -> list\n\n"
"[cache[k] if k in cache else compute(k) for k in keys], storing each computed value in\n"
"`cache` (a dict) while it holds fewer than `limit` entries.");

/* cache[key], or compute(key) stored in `cache` while it holds fewer than `limit` entries: a
 * new reference, NULL on error. */
static PyObject *cached_value(PyObject *cache, PyObject *key, PyObject *compute, Py_ssize_t limit)
{
    PyObject *value = PyDict_GetItemWithError(cache, key);
    if (value)
        return Py_NewRef(value);
    if (PyErr_Occurred())
        return NULL;
    value = PyObject_CallOneArg(compute, key);
    if (value && PyDict_GET_SIZE(cache) < limit && PyDict_SetItem(cache, key, value) < 0)
        Py_CLEAR(value);
    return value;
}

static PyObject *cached_map(PyObject *self, PyObject *args)
{
    PyObject *cache, *keys, *compute;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!OOn", &PyDict_Type, &cache, &keys, &compute, &limit))
        return NULL;
    PyObject *seq = PySequence_Fast(keys, "cached_map: keys must be iterable");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *value = cached_value(cache, items[i], compute, limit);
        if (!value) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, value);
    }
    Py_DECREF(seq);
    return out;
}

/* ---- story terms of blocks -------------------------------------------------------------
 * A block's story terms map a term's hash (a Python int) to its weight (a float); the
 * boilerplate test (`dedup.boilerplate`) and the story terms (`dedup.analysis`) read them.
 */

/* Stores `weight` under `term` in `into` unless a larger or equal weight is there. */
static int keep_larger(PyObject *into, PyObject *term, PyObject *weight)
{
    double w = PyFloat_AsDouble(weight);
    if (w == -1.0 && PyErr_Occurred())
        return -1;
    PyObject *old = PyDict_GetItemWithError(into, term);
    if (old) {
        double o = PyFloat_AsDouble(old);
        if (o == -1.0 && PyErr_Occurred())
            return -1;
        if (!(w > o))
            return 0;
    } else if (PyErr_Occurred()) {
        return -1;
    } else if (!(w > 0.0)) {
        return 0;
    }
    return PyDict_SetItem(into, term, weight);
}

PyDoc_STRVAR(term_weights_doc,
"term_weights(cache, keys, compute, limit) -> dict\n\n"
"The largest weight of each term among `keys`: each key's value is looked up as by\n"
"cached_map, and is None or a (term, weight) pair.");

static PyObject *term_weights(PyObject *self, PyObject *args)
{
    PyObject *cache, *keys, *compute;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!OOn", &PyDict_Type, &cache, &keys, &compute, &limit))
        return NULL;
    PyObject *seq = PySequence_Fast(keys, "term_weights: keys must be iterable");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyDict_New();
    for (Py_ssize_t i = 0; out && i < n; i++) {
        PyObject *value = cached_value(cache, items[i], compute, limit);
        if (!value) {
            Py_CLEAR(out);
            break;
        }
        if (value != Py_None) {
            if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
                PyErr_SetString(PyExc_TypeError, "term_weights: compute must return None or a (term, weight) pair");
                Py_CLEAR(out);
            } else if (keep_larger(out, PyTuple_GET_ITEM(value, 0), PyTuple_GET_ITEM(value, 1)) < 0) {
                Py_CLEAR(out);
            }
        }
        Py_DECREF(value);
    }
    Py_DECREF(seq);
    return out;
}

PyDoc_STRVAR(merge_weights_doc,
"merge_weights(into, terms) -> None\n\n"
"Stores each weight of `terms` (a dict) in `into` where it is larger than the one there.");

static PyObject *merge_weights(PyObject *self, PyObject *args)
{
    PyObject *into, *terms, *term, *weight;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &into, &PyDict_Type, &terms))
        return NULL;
    Py_ssize_t pos = 0;
    while (PyDict_Next(terms, &pos, &term, &weight)) {
        if (keep_larger(into, term, weight) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

/* An open-addressing table from a term's hash to the first and last block holding it. */
typedef struct { uint64_t term; Py_ssize_t first, last; int used; } Span_entry;

static Span_entry *span_slot(Span_entry *table, size_t mask, uint64_t term)
{
    size_t i = (size_t)((term * 0x9E3779B97F4A7C15ull) >> 17) & mask;
    while (table[i].used && table[i].term != term)
        i = (i + 1) & mask;
    return &table[i];
}

PyDoc_STRVAR(cohesion_doc,
"cohesion(blocks) -> list\n\n"
"For each of `blocks` (dicts from a term's hash, an int below 2**64, to its weight), the\n"
"share of its weight in terms that occur in a block at least two places before or after it;\n"
"0.0 for a block without terms. Weights are summed in each dict's order.");

static PyObject *cohesion(PyObject *self, PyObject *blocks)
{
    PyObject *seq = PySequence_Fast(blocks, "cohesion: blocks must be a sequence of dicts");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t r = 0; r < n; r++) {
        if (!PyDict_Check(items[r])) {
            PyErr_SetString(PyExc_TypeError, "cohesion: blocks must be dicts");
            Py_DECREF(seq);
            return NULL;
        }
        total += PyDict_GET_SIZE(items[r]);
    }
    size_t size = 16;
    while (size < 2 * (size_t)total)
        size <<= 1;
    Span_entry *table = PyMem_Calloc(size, sizeof(Span_entry));
    PyObject *out = table ? PyList_New(n) : PyErr_NoMemory();
    PyObject *term, *weight;
    for (Py_ssize_t r = 0; out && r < n; r++) {
        Py_ssize_t pos = 0;
        while (PyDict_Next(items[r], &pos, &term, &weight)) {
            uint64_t h = PyLong_AsUnsignedLongLong(term);
            if (h == (uint64_t)-1 && PyErr_Occurred()) {
                Py_CLEAR(out);
                break;
            }
            Span_entry *e = span_slot(table, size - 1, h);
            if (!e->used) {
                e->used = 1;
                e->term = h;
                e->first = r;
            }
            e->last = r;
        }
    }
    for (Py_ssize_t r = 0; out && r < n; r++) {
        Py_ssize_t pos = 0;
        double sum = 0.0, shared = 0.0;
        while (PyDict_Next(items[r], &pos, &term, &weight)) {
            double w = PyFloat_AsDouble(weight);
            if (w == -1.0 && PyErr_Occurred()) {
                Py_CLEAR(out);
                break;
            }
            Span_entry *e = span_slot(table, size - 1, PyLong_AsUnsignedLongLong(term));
            sum += w;
            if (e->first <= r - 2 || e->last >= r + 2)
                shared += w;
        }
        PyObject *value = out ? PyFloat_FromDouble(sum != 0.0 ? shared / sum : 0.0) : NULL;
        if (!value) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, r, value);
    }
    PyMem_Free(table);
    Py_DECREF(seq);
    return out;
}

static PyMethodDef methods[] = {
    {"cached_map", cached_map, METH_VARARGS, cached_map_doc},
    {"term_weights", term_weights, METH_VARARGS, term_weights_doc},
    {"merge_weights", merge_weights, METH_VARARGS, merge_weights_doc},
    {"cohesion", cohesion, METH_O, cohesion_doc},
    {"tokenize", tokenize, METH_O, tokenize_doc},
    {"body_features", body_features, METH_VARARGS, body_features_doc},
    {"minhash", minhash, METH_VARARGS, minhash_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_analysis", "The inner loops of analysis, compiled.", -1, methods,
};

PyMODINIT_FUNC PyInit__analysis(void)
{
    return PyModule_Create(&module);
}
