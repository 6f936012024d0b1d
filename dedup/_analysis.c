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
    Py_ssize_t n_distinct = sorted_distinct_copy(shingles, n_shingles, distinct);
    Py_ssize_t n_own = sorted_distinct_copy(scratch, n_unquoted, own);
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

/* ---- tokens' hashes and story terms -----------------------------------------------------
 * A token's cache entry is 24 bytes: its hash (uint64), its story term (uint64) and the
 * term's weight (double; 0.0 when the token is no story term).  Blocks are token ranges
 * (`bounds`, int32 pairs); a block's story terms are its tokens' terms, each with its largest
 * weight, in the order of their first occurrence.
 */

#define ENTRY_BYTES 24

PyDoc_STRVAR(token_entries_doc,
"token_entries(cache, keys, compute, limit) -> (hashes, terms, weights)\n\n"
"Each key's 24-byte entry (token hash, story term, weight), looked up in `cache` (a dict) or\n"
"computed by `compute(key)` and stored while the cache holds fewer than `limit` entries;\n"
"returned as three bytearrays (uint64, uint64, float64), one value per key.");

static PyObject *token_entries(PyObject *self, PyObject *args)
{
    PyObject *cache, *keys, *compute;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!OOn", &PyDict_Type, &cache, &keys, &compute, &limit))
        return NULL;
    PyObject *seq = PySequence_Fast(keys, "token_entries: keys must be iterable");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *hashes = PyByteArray_FromStringAndSize(NULL, n * 8);
    PyObject *terms = PyByteArray_FromStringAndSize(NULL, n * 8);
    PyObject *weights = PyByteArray_FromStringAndSize(NULL, n * 8);
    PyObject *result = NULL;
    if (!hashes || !terms || !weights)
        goto done;
    char *h = PyByteArray_AS_STRING(hashes), *t = PyByteArray_AS_STRING(terms), *w = PyByteArray_AS_STRING(weights);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *value = cached_value(cache, items[i], compute, limit);
        if (!value)
            goto done;
        if (!PyBytes_Check(value) || PyBytes_GET_SIZE(value) != ENTRY_BYTES) {
            Py_DECREF(value);
            PyErr_SetString(PyExc_TypeError, "token_entries: compute must return 24 bytes");
            goto done;
        }
        const char *entry = PyBytes_AS_STRING(value);
        memcpy(h + 8 * i, entry, 8);
        memcpy(t + 8 * i, entry + 8, 8);
        memcpy(w + 8 * i, entry + 16, 8);
        Py_DECREF(value);
    }
    result = PyTuple_Pack(3, hashes, terms, weights);
done:
    Py_XDECREF(hashes);
    Py_XDECREF(terms);
    Py_XDECREF(weights);
    Py_DECREF(seq);
    return result;
}

/* An open-addressing table keyed by a term: where it is in a list (`index`) or the first
 * and last rank of the blocks holding it (`index`, `last`), or its largest weight. */
typedef struct { uint64_t term; Py_ssize_t index, last; double weight; int used; } Term_entry;

static Term_entry *term_slot(Term_entry *table, size_t mask, uint64_t term)
{
    size_t i = (size_t)((term * 0x9E3779B97F4A7C15ull) >> 17) & mask;
    while (table[i].used && table[i].term != term)
        i = (i + 1) & mask;
    return &table[i];
}

static size_t table_size(Py_ssize_t items)
{
    size_t size = 16;
    while (size < 2 * (size_t)items)
        size <<= 1;
    return size;
}

/* The arguments of `cohesion` and `story_terms`: the tokens' terms (uint64) and weights
 * (float64), the blocks' bounds (int32 pairs within the tokens) and the block numbers asked
 * about (`chosen`). */
typedef struct {
    Py_buffer views[3];
    const uint64_t *terms;
    const double *weights;
    const int32_t *bounds;
    Py_ssize_t n_tokens, n_blocks, n_chosen;
    Py_ssize_t *chosen;
} Block_terms;

static void release_block_terms(Block_terms *bt)
{
    release_buffers(bt->views, 3);
    PyMem_Free(bt->chosen);
}

static int read_block_terms(PyObject *args, Block_terms *bt, const char *name)
{
    PyObject *objs[3], *blocks;
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &blocks))
        return -1;
    static const char *const names[] = {"terms", "weights", "bounds"};
    static const Py_ssize_t sizes[] = {8, 8, 4};
    if (typed_buffers(objs, bt->views, sizes, names, 3, 0) < 0)
        return -1;
    bt->chosen = NULL;
    bt->terms = bt->views[0].buf;
    bt->weights = bt->views[1].buf;
    bt->bounds = bt->views[2].buf;
    bt->n_tokens = bt->views[0].len / 8;
    bt->n_blocks = bt->views[2].len / 8;
    if (bt->views[1].len / 8 != bt->n_tokens || bt->views[2].len % 8) {
        PyErr_Format(PyExc_ValueError, "%s: terms and weights of different lengths, or bounds not in pairs", name);
        goto fail;
    }
    for (Py_ssize_t b = 0; b < bt->n_blocks; b++) {
        if (bt->bounds[2 * b] < 0 || bt->bounds[2 * b] > bt->bounds[2 * b + 1] || bt->bounds[2 * b + 1] > bt->n_tokens) {
            PyErr_Format(PyExc_ValueError, "%s: a block's bounds outside the tokens", name);
            goto fail;
        }
    }
    PyObject *seq = PySequence_Fast(blocks, "blocks must be a sequence of block numbers");
    if (!seq)
        goto fail;
    bt->n_chosen = PySequence_Fast_GET_SIZE(seq);
    bt->chosen = PyMem_Malloc((bt->n_chosen ? bt->n_chosen : 1) * sizeof(Py_ssize_t));
    if (!bt->chosen) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < bt->n_chosen; i++) {
        Py_ssize_t b = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i));
        if (b == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            goto fail;
        }
        if (b < 0 || b >= bt->n_blocks) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "%s: block %zd out of range", name, b);
            goto fail;
        }
        bt->chosen[i] = b;
    }
    Py_DECREF(seq);
    return 0;
fail:
    release_block_terms(bt);
    return -1;
}

PyDoc_STRVAR(cohesion_doc,
"cohesion(terms, weights, bounds, blocks) -> list\n\n"
"For each of `blocks` (block numbers; rank r in this list), the share of its story terms'\n"
"weight in terms that occur in a block at least two ranks before or after it; 0.0 for a\n"
"block without terms. Weights are summed in the order of the terms' first occurrence.");

static PyObject *cohesion(PyObject *self, PyObject *args)
{
    Block_terms bt;
    if (read_block_terms(args, &bt, "cohesion") < 0)
        return NULL;
    Py_ssize_t total = 0, longest = 0;
    for (Py_ssize_t r = 0; r < bt.n_chosen; r++) {
        Py_ssize_t len = bt.bounds[2 * bt.chosen[r] + 1] - bt.bounds[2 * bt.chosen[r]];
        total += len;
        longest = len > longest ? len : longest;
    }
    /* Each block's distinct terms in first-occurrence order, with their largest weight:
     * the flat list `order`/`best`, block r's from offsets[r] to offsets[r + 1]; `spans`
     * holds each term's first and last rank. */
    size_t block_size = table_size(longest), span_size = table_size(total);
    Term_entry *block_table = PyMem_Calloc(block_size, sizeof(Term_entry));
    Term_entry *spans = PyMem_Calloc(span_size, sizeof(Term_entry));
    uint64_t *order = PyMem_Malloc((total ? total : 1) * sizeof(uint64_t));
    double *best = PyMem_Malloc((total ? total : 1) * sizeof(double));
    Py_ssize_t *offsets = PyMem_Malloc((bt.n_chosen + 1) * sizeof(Py_ssize_t));
    PyObject *out = NULL;
    if (!block_table || !spans || !order || !best || !offsets) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t r = 0; r < bt.n_chosen; r++) {
        offsets[r] = count;
        memset(block_table, 0, block_size * sizeof(Term_entry));
        for (Py_ssize_t i = bt.bounds[2 * bt.chosen[r]]; i < bt.bounds[2 * bt.chosen[r] + 1]; i++) {
            double w = bt.weights[i];
            if (!(w > 0.0))
                continue;
            Term_entry *e = term_slot(block_table, block_size - 1, bt.terms[i]);
            if (!e->used) {
                e->used = 1;
                e->term = bt.terms[i];
                e->index = count;
                order[count] = bt.terms[i];
                best[count++] = w;
                Term_entry *s = term_slot(spans, span_size - 1, bt.terms[i]);
                if (!s->used) {
                    s->used = 1;
                    s->term = bt.terms[i];
                    s->index = r;
                }
                s->last = r;
            } else if (w > best[e->index]) {
                best[e->index] = w;
            }
        }
    }
    offsets[bt.n_chosen] = count;
    out = PyList_New(bt.n_chosen);
    for (Py_ssize_t r = 0; out && r < bt.n_chosen; r++) {
        double sum = 0.0, shared = 0.0;
        for (Py_ssize_t j = offsets[r]; j < offsets[r + 1]; j++) {
            Term_entry *s = term_slot(spans, span_size - 1, order[j]);
            sum += best[j];
            if (s->index <= r - 2 || s->last >= r + 2)
                shared += best[j];
        }
        PyObject *value = PyFloat_FromDouble(sum != 0.0 ? shared / sum : 0.0);
        if (!value) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, r, value);
    }
done:
    PyMem_Free(block_table);
    PyMem_Free(spans);
    PyMem_Free(order);
    PyMem_Free(best);
    PyMem_Free(offsets);
    release_block_terms(&bt);
    return out;
}

PyDoc_STRVAR(story_terms_doc,
"story_terms(terms, weights, bounds, blocks) -> (terms, weights)\n\n"
"The distinct story terms of `blocks` (sorted, uint64) and the largest weight of each\n"
"(float32), as bytearrays.");

static PyObject *story_terms(PyObject *self, PyObject *args)
{
    Block_terms bt;
    if (read_block_terms(args, &bt, "story_terms") < 0)
        return NULL;
    Py_ssize_t total = 0;
    for (Py_ssize_t r = 0; r < bt.n_chosen; r++)
        total += bt.bounds[2 * bt.chosen[r] + 1] - bt.bounds[2 * bt.chosen[r]];
    size_t size = table_size(total);
    Term_entry *table = PyMem_Calloc(size, sizeof(Term_entry));
    uint64_t *distinct = PyMem_Malloc((total ? total : 1) * sizeof(uint64_t));
    PyObject *terms_out = NULL, *weights_out = NULL, *result = NULL;
    if (!table || !distinct) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t count = 0;
    for (Py_ssize_t r = 0; r < bt.n_chosen; r++) {
        for (Py_ssize_t i = bt.bounds[2 * bt.chosen[r]]; i < bt.bounds[2 * bt.chosen[r] + 1]; i++) {
            double w = bt.weights[i];
            if (!(w > 0.0))
                continue;
            Term_entry *e = term_slot(table, size - 1, bt.terms[i]);
            if (!e->used) {
                e->used = 1;
                e->term = bt.terms[i];
                e->weight = w;
                distinct[count++] = bt.terms[i];
            } else if (w > e->weight) {
                e->weight = w;
            }
        }
    }
    sort_u64(distinct, count);
    terms_out = PyByteArray_FromStringAndSize((const char *)distinct, count * 8);
    weights_out = PyByteArray_FromStringAndSize(NULL, count * 4);
    if (!terms_out || !weights_out)
        goto done;
    float *w = (float *)PyByteArray_AS_STRING(weights_out);
    for (Py_ssize_t j = 0; j < count; j++)
        w[j] = (float)term_slot(table, size - 1, distinct[j])->weight;
    result = PyTuple_Pack(2, terms_out, weights_out);
done:
    Py_XDECREF(terms_out);
    Py_XDECREF(weights_out);
    PyMem_Free(table);
    PyMem_Free(distinct);
    release_block_terms(&bt);
    return result;
}

/* ---- repair of plain ASCII text --------------------------------------------------------
 * On ASCII text `dedup.normalise.repair` has no mojibake or compatibility characters to fix:
 * what remains is its layout rules, here in one pass instead of five scans.
 */

PyDoc_STRVAR(ascii_layout_doc,
"ascii_layout(text) -> str\n\n"
"What `dedup.normalise.repair` makes of `text`, an ASCII str without character references:\n"
"'`' as an apostrophe, carriage returns, vertical tabs and form feeds as line breaks, tabs as\n"
"spaces, the other control characters dropped, and each run of spaces as one.");

static inline int ascii_dropped(unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != 0x0b && c != 0x0c) || c == 0x7f;
}

static PyObject *ascii_layout(PyObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text) || PyUnicode_READY(text) < 0 || !PyUnicode_IS_ASCII(text)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "ascii_layout() takes an ASCII str");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const unsigned char *in = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t i = 0;
    /* Most texts need nothing changed: find the first character that does. */
    for (; i < n; i++) {
        unsigned char c = in[i];
        if (c < 0x20 ? c != '\n' : (c == '`' || c == 0x7f || (c == ' ' && i > 0 && in[i - 1] == ' ')))
            break;
    }
    if (i == n) {
        Py_INCREF(text);
        return text;
    }
    PyObject *out = PyUnicode_New(n, 127);
    if (!out)
        return NULL;
    unsigned char *o = PyUnicode_1BYTE_DATA(out);
    memcpy(o, in, i);
    Py_ssize_t w = i;
    for (; i < n; i++) {
        unsigned char c = in[i];
        if (ascii_dropped(c))
            continue;
        if (c == '`')
            c = '\'';
        else if (c == '\r' || c == 0x0b || c == 0x0c)
            c = '\n';
        else if (c == '\t')
            c = ' ';
        if (c == ' ' && w > 0 && o[w - 1] == ' ')
            continue;
        o[w++] = c;
    }
    if (w == n)
        return out;
    PyObject *shorter = PyUnicode_Substring(out, 0, w);
    Py_DECREF(out);
    return shorter;
}

static PyMethodDef methods[] = {
    {"token_entries", token_entries, METH_VARARGS, token_entries_doc},
    {"cohesion", cohesion, METH_VARARGS, cohesion_doc},
    {"story_terms", story_terms, METH_VARARGS, story_terms_doc},
    {"tokenize", tokenize, METH_O, tokenize_doc},
    {"body_features", body_features, METH_VARARGS, body_features_doc},
    {"minhash", minhash, METH_VARARGS, minhash_doc},
    {"ascii_layout", ascii_layout, METH_O, ascii_layout_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_analysis", "The inner loops of analysis, compiled.", -1, methods,
};

PyMODINIT_FUNC PyInit__analysis(void)
{
    return PyModule_Create(&module);
}
