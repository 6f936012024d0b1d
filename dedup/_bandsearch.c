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

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "packed band levels are read as little-endian words"
#endif

/* A large level is stored packed, under a directory.
 *
 * An entry is a band key's top bits over a `doc_bits`-bit document number (dedup/lsh.py).
 * The directory has 2**bits + 1 positions (bits chosen so that about 16 entries fall between
 * two): dir[d] is the first entry whose top `bits` bits are >= d, and the last is the level's
 * length.  Band keys are hashes, spread evenly, so a key's bucket is found among ~16 entries
 * instead of by a binary search of the whole level, most of whose probes would miss the
 * cache.  And since an entry's top bits are given by the directory slot it lies in, they are
 * not stored.  Nor are all of its document number's bits: a level holds the documents of one
 * span of arrivals (levels merge in order), so it stores each document number minus the
 * level's smallest, in as many bits as its largest difference needs.  At a million documents
 * an entry keeps ~33 bits instead of 64.
 *
 * The packed bytes: a header of two uint32 (the smallest document number and the largest
 * difference), the entries back to back, and 8 bytes of padding, so that every entry is read
 * as one unaligned word. */
#define PACKED_HEADER 8
#define PACKED_PAD 8
#define MIN_BITS 8 /* width <= 56: an entry and its bit offset in a byte fit one 64-bit word */

typedef struct {
    const uint64_t *plain; /* sorted entries, or NULL when packed */
    const uint8_t *packed; /* the entries, after the header */
    const uint32_t *dir;
    int low_bits;  /* 64 - directory bits: the bits an entry has below its directory slot */
    int doc_bits;  /* an entry's document bits (in every level) */
    int rel_bits;  /* bits of a packed entry's document number less `base` */
    int width;     /* stored bits per packed entry */
    uint64_t base; /* the smallest document number of a packed level */
    uint64_t span; /* its largest document number less `base` */
    Py_ssize_t n;
} Level;

static inline uint64_t packed_low(const uint8_t *p, int width, Py_ssize_t i)
{
    uint64_t bit = (uint64_t)i * (uint64_t)width, word;
    memcpy(&word, p + (bit >> 3), sizeof word);
    return (word >> (bit & 7)) & ((UINT64_C(1) << width) - 1);
}

static inline void packed_put(uint8_t *p, int width, Py_ssize_t i, uint64_t low)
{
    uint64_t bit = (uint64_t)i * (uint64_t)width, word;
    memcpy(&word, p + (bit >> 3), sizeof word);
    word |= low << (bit & 7); /* the bytes start zeroed */
    memcpy(p + (bit >> 3), &word, sizeof word);
}

static Py_ssize_t packed_bytes(Py_ssize_t n, int width)
{
    return PACKED_HEADER + (n * width + 7) / 8 + PACKED_PAD;
}

static int bit_length(uint64_t x)
{
    int bits = 0;
    while (bits < 64 && x >> bits)
        bits++;
    return bits;
}

/* The stored form of `value` (an entry) in a packed level, and back; `slot` its top bits. */
static inline uint64_t packed_code(const Level *l, uint64_t value)
{
    uint64_t doc_mask = (UINT64_C(1) << l->doc_bits) - 1;
    uint64_t key_low = (value & ((UINT64_C(1) << l->low_bits) - 1)) >> l->doc_bits;
    return (key_low << l->rel_bits) | ((value & doc_mask) - l->base);
}

static inline uint64_t packed_doc(const Level *l, uint64_t code)
{
    return (code & ((UINT64_C(1) << l->rel_bits) - 1)) + l->base;
}

static inline uint64_t packed_value(const Level *l, uint64_t slot, uint64_t code)
{
    return (slot << l->low_bits) | ((code >> l->rel_bits) << l->doc_bits) | packed_doc(l, code);
}

/* First position in packed p[lo:hi] whose code is >= x. */
static Py_ssize_t packed_lower_bound(const uint8_t *p, int width, Py_ssize_t lo, Py_ssize_t hi, uint64_t x)
{
    Py_ssize_t count = hi - lo;
    while (count > 0) {
        Py_ssize_t half = count / 2;
        if (packed_low(p, width, lo + half) < x) {
            lo += half + 1;
            count -= half + 1;
        } else {
            count = half;
        }
    }
    return lo;
}

/* First position in packed p[lo:hi] whose code is >= x, for x usually found close after lo
 * (a bucket's end, a few entries after its start; but a common key's bucket can hold
 * thousands): doubling steps, then a binary search, as `gallop`. */
static Py_ssize_t packed_gallop(const uint8_t *p, int width, Py_ssize_t lo, Py_ssize_t hi, uint64_t x)
{
    Py_ssize_t step = 1, probe = lo;
    while (probe < hi && packed_low(p, width, probe) < x) {
        lo = probe + 1;
        probe += step;
        step *= 2;
    }
    return packed_lower_bound(p, width, lo, probe < hi ? probe : hi, x);
}

/* Set a packed level's layout: `bits` directory bits, documents from `base` to base + span. */
static void level_layout(Level *level, int bits, int doc_bits, uint64_t base, uint64_t span)
{
    level->low_bits = 64 - bits;
    level->doc_bits = doc_bits;
    level->rel_bits = bit_length(span);
    level->width = level->low_bits - (doc_bits - level->rel_bits);
    level->base = base;
    level->span = span;
}

/* A level from its data buffer and its directory buffer (.buf NULL: a plain level), checked
 * so that no search can leave the buffers.  Returns 0, or -1 with an exception set. */
static int level_from(Level *level, const Py_buffer *data, const Py_buffer *dir, int doc_bits)
{
    memset(level, 0, sizeof *level);
    level->doc_bits = doc_bits;
    if (!dir || !dir->buf) {
        if (data->len % (Py_ssize_t)sizeof(uint64_t)) {
            PyErr_SetString(PyExc_ValueError, "a level without a directory must hold 64-bit entries");
            return -1;
        }
        level->plain = data->buf;
        level->n = data->len / (Py_ssize_t)sizeof(uint64_t);
        return 0;
    }
    Py_ssize_t slots = dir->len / (Py_ssize_t)sizeof(uint32_t) - 1;
    int bits = 0;
    while (((Py_ssize_t)1 << bits) < slots)
        bits++;
    if (dir->len % (Py_ssize_t)sizeof(uint32_t) || slots != ((Py_ssize_t)1 << bits) || bits < MIN_BITS || bits > 32) {
        PyErr_SetString(PyExc_ValueError, "a directory must hold 2**bits + 1 uint32 positions, bits from 8 to 32");
        return -1;
    }
    uint32_t header[2] = {0, 0};
    if (data->len >= PACKED_HEADER)
        memcpy(header, data->buf, sizeof header);
    level->dir = dir->buf;
    level->n = level->dir[slots];
    level->packed = (const uint8_t *)data->buf + PACKED_HEADER;
    level_layout(level, bits, doc_bits, header[0], header[1]);
    if (level->dir[0] != 0 || data->len < packed_bytes(level->n, level->width) || bits + doc_bits > 64
            || ((uint64_t)header[0] + header[1]) >> doc_bits) {
        PyErr_SetString(PyExc_ValueError, "a directory does not match its level");
        return -1;
    }
    return 0;
}

/* Cursor over a level's entries in order, whole. */
typedef struct {
    Level level;
    Py_ssize_t i, slot;
} Cursor;

static inline uint64_t cursor_value(Cursor *c)
{
    const Level *l = &c->level;
    if (l->plain)
        return l->plain[c->i];
    while (l->dir[c->slot + 1] <= (uint32_t)c->i)
        c->slot++;
    return packed_value(l, (uint64_t)c->slot, packed_low(l->packed, l->width, c->i));
}

/* The smallest and largest document number in `level` (a plain one is read whole). */
static void document_range(const Level *level, uint64_t *lo, uint64_t *hi)
{
    if (!level->plain) {
        *lo = level->base;
        *hi = level->base + level->span;
        return;
    }
    uint64_t mask = (UINT64_C(1) << level->doc_bits) - 1, a = UINT64_MAX, b = 0;
    for (Py_ssize_t i = 0; i < level->n; i++) {
        uint64_t doc = level->plain[i] & mask;
        a = doc < a ? doc : a;
        b = doc > b ? doc : b;
    }
    *lo = a;
    *hi = b;
}

PyDoc_STRVAR(merge_doc,
"merge(levels, bits, doc_bits) -> (data, directory)\n\n"
"levels: (data, directory or None) pairs of sorted levels, plain (uint64 entries) or packed;\n"
"doc_bits: the low bits of an entry that are its document number (1 to 32).\n"
"Returns their entries merged in order: with bits 0 as plain uint64 entries and directory\n"
"None; with bits from 8 to 32, packed under a directory of 2**bits + 1 positions.  Both are\n"
"bytearrays.  Packs (one plain level), unpacks (one packed level, bits 0) and merges.");

static PyObject *merge(PyObject *self, PyObject *args)
{
    PyObject *level_seq, *result = NULL, *data = NULL, *directory = NULL;
    int bits, doc_bits;
    if (!PyArg_ParseTuple(args, "Oii", &level_seq, &bits, &doc_bits))
        return NULL;
    if (bits != 0 && (bits < MIN_BITS || bits > 32)) {
        PyErr_SetString(PyExc_ValueError, "bits must be 0 (plain) or from 8 to 32");
        return NULL;
    }
    if (doc_bits < 1 || doc_bits > 32) {
        PyErr_SetString(PyExc_ValueError, "doc_bits must be from 1 to 32");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(level_seq, "levels must be a sequence of (data, directory) pairs");
    if (!seq)
        return NULL;
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq), got = 0, total = 0;
    Py_buffer *buffers = PyMem_Calloc((size_t)(2 * k + 1), sizeof(Py_buffer));
    Cursor *cursors = PyMem_Calloc((size_t)k + 1, sizeof(Cursor));
    if (!buffers || !cursors) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < k; got++) {
        PyObject *pair = PySequence_Fast_GET_ITEM(seq, got), *data_obj, *dir_obj;
        if (!PyArg_ParseTuple(pair, "OO", &data_obj, &dir_obj))
            goto done;
        if (PyObject_GetBuffer(data_obj, &buffers[2 * got], PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (dir_obj != Py_None && PyObject_GetBuffer(dir_obj, &buffers[2 * got + 1], PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&buffers[2 * got]);
            goto done;
        }
        if (level_from(&cursors[got].level, &buffers[2 * got], &buffers[2 * got + 1], doc_bits) < 0) {
            got++;
            goto done;
        }
        total += cursors[got].level.n;
    }
    if (bits && total > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a packed level holds fewer than 2**32 entries");
        goto done;
    }
    Level to; /* the output's layout, when packed */
    uint64_t first = UINT64_MAX, last = 0;
    for (Py_ssize_t c = 0; c < k; c++) {
        uint64_t lo, hi;
        if (cursors[c].level.n) {
            document_range(&cursors[c].level, &lo, &hi);
            first = lo < first ? lo : first;
            last = hi > last ? hi : last;
        }
    }
    if (!total)
        first = 0;
    memset(&to, 0, sizeof to);
    level_layout(&to, bits, doc_bits, first, last - first);
    int width = to.width;
    Py_ssize_t slots = ((Py_ssize_t)1 << bits) + 1;
    data = PyByteArray_FromStringAndSize(NULL, bits ? packed_bytes(total, width) : total * (Py_ssize_t)sizeof(uint64_t));
    directory = bits ? PyByteArray_FromStringAndSize(NULL, slots * (Py_ssize_t)sizeof(uint32_t)) : Py_NewRef(Py_None);
    if (!data || !directory)
        goto done;
    uint8_t *out = (uint8_t *)PyByteArray_AS_STRING(data), *entries = out + PACKED_HEADER;
    uint32_t *dir = bits ? (uint32_t *)PyByteArray_AS_STRING(directory) : NULL;
    uint64_t *head = PyMem_RawMalloc(sizeof(uint64_t) * (size_t)(k + 1)); /* each level's next entry */
    Py_BEGIN_ALLOW_THREADS
    if (bits) {
        uint32_t header[2] = {(uint32_t)to.base, (uint32_t)to.span};
        memset(out, 0, (size_t)packed_bytes(total, width));
        memcpy(out, header, sizeof header);
    }
    Py_ssize_t d = 0, live = 0;
    for (Py_ssize_t c = 0; c < k && head; c++) {
        if (cursors[c].level.n) {
            cursors[live] = cursors[c];
            head[live] = cursor_value(&cursors[live]);
            live++;
        }
    }
    for (Py_ssize_t o = 0; o < total && head; o++) {
        Py_ssize_t best = 0;
        for (Py_ssize_t c = 1; c < live; c++) /* a few levels: a scan beats a heap */
            if (head[c] < head[best])
                best = c;
        uint64_t value = head[best];
        if (++cursors[best].i < cursors[best].level.n) {
            head[best] = cursor_value(&cursors[best]);
        } else { /* this level is done */
            live--;
            cursors[best] = cursors[live];
            head[best] = head[live];
        }
        if (bits) {
            Py_ssize_t top = (Py_ssize_t)(value >> to.low_bits);
            while (d <= top)
                dir[d++] = (uint32_t)o;
            packed_put(entries, width, o, packed_code(&to, value));
        } else {
            memcpy(out + o * (Py_ssize_t)sizeof(uint64_t), &value, sizeof value);
        }
    }
    while (bits && d < slots)
        dir[d++] = (uint32_t)total;
    Py_END_ALLOW_THREADS
    if (head)
        result = PyTuple_Pack(2, data, directory);
    else
        PyErr_NoMemory();
    PyMem_RawFree(head);
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&buffers[2 * i]);
        if (buffers[2 * i + 1].obj)
            PyBuffer_Release(&buffers[2 * i + 1]);
    }
    PyMem_Free(buffers);
    PyMem_Free(cursors);
    Py_XDECREF(data);
    Py_XDECREF(directory);
    Py_DECREF(seq);
    return result;
}

typedef struct {
    const Level *levels;
    Py_ssize_t n_levels;
    const uint64_t *keys;
    Py_ssize_t n_keys;
    uint64_t key_step, key_mask;
    Py_ssize_t max_bucket; /* < 0: no limit */
} Query;

/* Where `key`'s bucket lies in a plain level: [*first, *end), searched from `start` (keys
 * ascend, so the previous key's bucket start). */
static void plain_bucket(const Query *q, const Level *level, uint64_t key, Py_ssize_t start, Py_ssize_t *first,
                         Py_ssize_t *end)
{
    *first = lower_bound(level->plain, start, level->n, key);
    *end = key == q->key_mask ? level->n : gallop(level->plain, *first, level->n, key + q->key_step);
}

/* Where `key`'s bucket lies in a packed level, given its directory slot's entries
 * [*first, *end): narrowed to the bucket.  Every entry of a key lies in the key's slot; the
 * key's bucket holds the codes from its low key bits over 0 to those over all ones. */
static void packed_bucket(const Level *level, uint64_t key, Py_ssize_t *first, Py_ssize_t *end)
{
    uint64_t code = ((key & ((UINT64_C(1) << level->low_bits) - 1)) >> level->doc_bits) << level->rel_bits;
    Py_ssize_t hi = *end;
    *first = packed_lower_bound(level->packed, level->width, *first, hi, code);
    /* code + 2**rel_bits cannot overflow: width <= 56 */
    *end = packed_gallop(level->packed, level->width, *first, hi, code + (UINT64_C(1) << level->rel_bits));
}

/* The document number of a level's entry `i`. */
static inline uint32_t level_doc(const Level *level, Py_ssize_t i)
{
    if (level->plain)
        return (uint32_t)(level->plain[i] & ((UINT64_C(1) << level->doc_bits) - 1));
    return (uint32_t)packed_doc(level, packed_low(level->packed, level->width, i));
}

/* Keys whose searches of a large level overlap: a packed level is searched in groups of this
 * many keys, each step (directory slot, then the slot's entries) first prefetched for the
 * whole group, so that their cache misses wait on memory together instead of one by one
 * (a search of an index larger than the caches is bound by those misses). */
#define SEARCH_GROUP 16

static inline void prefetch(const void *p)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, 0);
#else
    (void)p;
#endif
}

/* Every key's bucket in `level` into lo[k], hi[k]. */
static void locate_in_level(const Query *q, const Level *level, int ascending, Py_ssize_t *lo, Py_ssize_t *hi)
{
    Py_ssize_t nk = q->n_keys;
    if (level->plain) {
        Py_ssize_t start = 0;
        for (Py_ssize_t k = 0; k < nk; k++) {
            plain_bucket(q, level, q->keys[k], start, &lo[k], &hi[k]);
            if (ascending)
                start = lo[k]; /* an equal next key starts here again */
        }
        return;
    }
    for (Py_ssize_t k = 0; k < nk && k < SEARCH_GROUP; k++)
        prefetch(&level->dir[q->keys[k] >> level->low_bits]);
    for (Py_ssize_t g = 0; g < nk; g += SEARCH_GROUP) {
        Py_ssize_t end = g + SEARCH_GROUP < nk ? g + SEARCH_GROUP : nk;
        for (Py_ssize_t k = end; k < nk && k < end + SEARCH_GROUP; k++) /* the next group's */
            prefetch(&level->dir[q->keys[k] >> level->low_bits]);
        for (Py_ssize_t k = g; k < end; k++) {
            uint64_t slot = q->keys[k] >> level->low_bits;
            lo[k] = level->dir[slot];
            hi[k] = level->dir[slot + 1];
            uint64_t mid = (uint64_t)(lo[k] + hi[k]) / 2 * (uint64_t)level->width;
            prefetch(level->packed + (mid >> 3)); /* the slot's entries: ~16, a line or two */
        }
        for (Py_ssize_t k = g; k < end; k++)
            packed_bucket(level, q->keys[k], &lo[k], &hi[k]);
    }
}

/* Every key's bucket in every level: [lo, hi) at l * n_keys + k, and each key's entries in
 * all levels in size[k].  With `ascending` keys a plain level's search for a key starts at
 * the previous key's bucket; otherwise at the level's start. */
static void locate_buckets(const Query *q, int ascending, Py_ssize_t *lo, Py_ssize_t *hi, int64_t *size)
{
    Py_ssize_t nk = q->n_keys;
    for (Py_ssize_t l = 0; l < q->n_levels; l++) {
        locate_in_level(q, &q->levels[l], ascending, lo + l * nk, hi + l * nk);
        for (Py_ssize_t k = 0; k < nk; k++)
            size[k] += hi[l * nk + k] - lo[l * nk + k];
    }
}

/* Arrays a thread's searches reuse, one per role: allocating and freeing six arrays a search
 * was ~2% of indexing.  An array past SCRATCH_LIMIT bytes is the search's own, freed after. */
enum { SCRATCH_LO, SCRATCH_HI, SCRATCH_SIZES, SCRATCH_DOCS, SCRATCH_TMP, SCRATCH_COUNTS, SCRATCH_ROLES };
#define SCRATCH_LIMIT ((size_t)1 << 20)
static _Thread_local struct {
    void *data;
    size_t capacity;
} scratch[SCRATCH_ROLES];

static void *scratch_array(int role, size_t bytes)
{
    if (bytes > SCRATCH_LIMIT)
        return malloc(bytes);
    if (scratch[role].capacity < bytes) {
        size_t capacity = bytes < 4096 ? 4096 : 2 * bytes;
        capacity = capacity < SCRATCH_LIMIT ? capacity : SCRATCH_LIMIT;
        void *data = malloc(capacity);
        if (!data)
            return NULL;
        free(scratch[role].data);
        scratch[role].data = data;
        scratch[role].capacity = capacity;
    }
    return scratch[role].data;
}

/* Done with an array from `scratch_array`: freed if it was the search's own. */
static void scratch_done(int role, void *data)
{
    if (data != scratch[role].data)
        free(data);
}

/* The query's work, without the GIL.  Fills `docs` (ascending, distinct) and `counts`;
 * returns their length, or -1 when out of memory. */
static Py_ssize_t run_query(const Query *q, uint32_t **docs_out, int64_t **counts_out)
{
    Py_ssize_t nk = q->n_keys, nl = q->n_levels;
    Py_ssize_t *lo = scratch_array(SCRATCH_LO, sizeof(Py_ssize_t) * (size_t)(nk * nl + 1));
    Py_ssize_t *hi = scratch_array(SCRATCH_HI, sizeof(Py_ssize_t) * (size_t)(nk * nl + 1));
    int64_t *size = scratch_array(SCRATCH_SIZES, sizeof(int64_t) * (size_t)(nk + 1));
    uint32_t *docs = NULL, *tmp = NULL;
    int64_t *counts = NULL;
    Py_ssize_t total = 0, n_out = -1;
    if (!lo || !hi || !size)
        goto done;
    memset(size, 0, sizeof(int64_t) * (size_t)(nk + 1));
    locate_buckets(q, 1, lo, hi, size);
    for (Py_ssize_t k = 0; k < nk; k++) {
        if (q->max_bucket >= 0 && size[k] > q->max_bucket)
            size[k] = 0; /* too common a key: ignored */
        total += size[k];
    }
    docs = scratch_array(SCRATCH_DOCS, sizeof(uint32_t) * (size_t)(total + 1));
    tmp = scratch_array(SCRATCH_TMP, sizeof(uint32_t) * (size_t)(total + 1));
    counts = scratch_array(SCRATCH_COUNTS, sizeof(int64_t) * (size_t)(total + 1));
    if (!docs || !tmp || !counts)
        goto done;
    Py_ssize_t filled = 0;
    for (Py_ssize_t l = 0; l < nl; l++) {
        for (Py_ssize_t k = 0; k < nk; k++) {
            if (!size[k])
                continue;
            for (Py_ssize_t i = lo[l * nk + k]; i < hi[l * nk + k]; i++)
                docs[filled++] = level_doc(&q->levels[l], i);
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
    *docs_out = docs; /* the caller hands them to `scratch_done` */
    *counts_out = counts;
    docs = NULL;
    counts = NULL;
done:
    scratch_done(SCRATCH_LO, lo);
    scratch_done(SCRATCH_HI, hi);
    scratch_done(SCRATCH_SIZES, size);
    scratch_done(SCRATCH_DOCS, docs);
    scratch_done(SCRATCH_TMP, tmp);
    scratch_done(SCRATCH_COUNTS, counts);
    return n_out;
}

/* `buckets`' work, without the GIL: every key's documents, each key's ascending, one key
 * after another in `docs`, and how many each key has in `sizes`.  Returns the number of
 * documents, or -1 when out of memory. */
static Py_ssize_t run_buckets(const Query *q, uint32_t **docs_out, int64_t **sizes_out)
{
    Py_ssize_t nk = q->n_keys, nl = q->n_levels, total = 0, n_out = -1;
    Py_ssize_t *lo = scratch_array(SCRATCH_LO, sizeof(Py_ssize_t) * (size_t)(nk * nl + 1));
    Py_ssize_t *hi = scratch_array(SCRATCH_HI, sizeof(Py_ssize_t) * (size_t)(nk * nl + 1));
    int64_t *sizes = scratch_array(SCRATCH_COUNTS, sizeof(int64_t) * (size_t)(nk + 1));
    uint32_t *docs = NULL, *tmp = NULL;
    if (!lo || !hi || !sizes)
        goto done;
    memset(sizes, 0, sizeof(int64_t) * (size_t)(nk + 1));
    locate_buckets(q, 0, lo, hi, sizes); /* keys in any order */
    for (Py_ssize_t k = 0; k < nk; k++)
        total += sizes[k];
    docs = scratch_array(SCRATCH_DOCS, sizeof(uint32_t) * (size_t)(total + 1));
    tmp = scratch_array(SCRATCH_TMP, sizeof(uint32_t) * (size_t)(total + 1));
    if (!docs || !tmp)
        goto done;
    Py_ssize_t filled = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        Py_ssize_t first = filled;
        for (Py_ssize_t l = 0; l < nl; l++)
            for (Py_ssize_t i = lo[l * nk + k]; i < hi[l * nk + k]; i++)
                docs[filled++] = level_doc(&q->levels[l], i);
        radix_sort_u32(docs + first, tmp, filled - first);
    }
    n_out = total;
    *docs_out = docs; /* the caller hands them to `scratch_done` */
    *sizes_out = sizes;
    docs = NULL;
    sizes = NULL;
done:
    scratch_done(SCRATCH_LO, lo);
    scratch_done(SCRATCH_HI, hi);
    scratch_done(SCRATCH_COUNTS, sizes);
    scratch_done(SCRATCH_DOCS, docs);
    scratch_done(SCRATCH_TMP, tmp);
    return n_out;
}

PyDoc_STRVAR(query_doc,
"query(levels, directories, keys, key_step, key_mask, doc_mask, max_bucket) -> (docs, counts)\n\n"
"levels: sorted levels, each plain (uint64 entries; its directory None) or packed under its\n"
"directory (see `merge`); keys: uint64 query keys in any order, masked with key_mask here\n"
"(a key given twice counts once); "
"doc_mask 2**doc_bits - 1.\n"
"Returns two bytearrays: the distinct document numbers found (uint32, ascending) and how\n"
"many buckets held each (int64).  max_bucket < 0 means no limit.");

static PyObject *search(PyObject *args, int per_key)
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
    Py_buffer *data = NULL, *directories = NULL;
    Level *levels = NULL;
    uint64_t *masked = NULL; /* the keys, masked (and sorted for a query) */
    int doc_bits = bit_length(doc_mask);
    if (!dseq)
        goto done;
    if (doc_mask != (UINT64_C(1) << doc_bits) - 1 || doc_bits < 1 || doc_bits > 32) {
        PyErr_SetString(PyExc_ValueError, "doc_mask must be 2**doc_bits - 1, doc_bits from 1 to 32");
        goto done;
    }
    if (PySequence_Fast_GET_SIZE(dseq) != nl) {
        PyErr_SetString(PyExc_ValueError, "one directory (or None) per level");
        goto done;
    }
    data = PyMem_Calloc((size_t)nl + 1, sizeof(Py_buffer));
    directories = PyMem_Calloc((size_t)nl + 1, sizeof(Py_buffer));
    levels = PyMem_Calloc((size_t)nl + 1, sizeof(Level));
    if (!data || !directories || !levels) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < nl; got++) {
        PyObject *dir = PySequence_Fast_GET_ITEM(dseq, got);
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &data[got], PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        if (dir != Py_None && PyObject_GetBuffer(dir, &directories[got], PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&data[got]);
            goto done;
        }
        if (level_from(&levels[got], &data[got], &directories[got], doc_bits) < 0) {
            got++;
            goto done;
        }
    }
    if (keys.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "keys must be 64-bit");
        goto done;
    }
    Py_ssize_t n_keys = keys.len / (Py_ssize_t)sizeof(uint64_t);
    masked = malloc(sizeof(uint64_t) * (size_t)(n_keys + 1));
    if (!masked) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_keys; k++)
        masked[k] = ((const uint64_t *)keys.buf)[k] & key_mask;
    Query q = {levels, nl, masked, n_keys, key_step, key_mask, max_bucket};
    uint32_t *docs = NULL;
    int64_t *counts = NULL;
    Py_ssize_t n;
    Py_BEGIN_ALLOW_THREADS
    if (!per_key) { /* a query searches its distinct keys in order (see locate_buckets) */
        sort_u64(masked, n_keys);
        q.n_keys = drop_repeats_u64(masked, n_keys);
    }
    n = per_key ? run_buckets(&q, &docs, &counts) : run_query(&q, &docs, &counts);
    Py_END_ALLOW_THREADS
    if (n < 0) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *d = PyByteArray_FromStringAndSize((const char *)docs, n * (Py_ssize_t)sizeof(uint32_t));
    Py_ssize_t n_counts = per_key ? q.n_keys : n; /* per key, or per document found */
    PyObject *c = PyByteArray_FromStringAndSize((const char *)counts, n_counts * (Py_ssize_t)sizeof(int64_t));
    scratch_done(SCRATCH_DOCS, docs);
    scratch_done(SCRATCH_COUNTS, counts);
    if (d && c)
        result = PyTuple_Pack(2, d, c);
    Py_XDECREF(d);
    Py_XDECREF(c);
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&data[i]);
        if (directories[i].obj)
            PyBuffer_Release(&directories[i]);
    }
    PyMem_Free(data);
    PyMem_Free(directories);
    PyMem_Free(levels);
    free(masked);
    Py_XDECREF(seq);
    Py_XDECREF(dseq);
    PyBuffer_Release(&keys);
    return result;
}

static PyObject *query(PyObject *self, PyObject *args)
{
    return search(args, 0);
}

PyDoc_STRVAR(buckets_doc,
"buckets(levels, directories, keys, key_step, key_mask, doc_mask, max_bucket) -> (docs, sizes)\n\n"
"As `query`, but each key's bucket on its own, in the order of keys; max_bucket (ignored)\n"
"as there.  Returns two bytearrays: every key's document numbers (uint32, each key's ascending,\n"
"one key after another) and how many each key has (int64, one per key).");

static PyObject *buckets(PyObject *self, PyObject *args)
{
    return search(args, 1);
}

PyDoc_STRVAR(insert_doc,
"insert(buffer, count, keys, key_mask, doc) -> count\n\n"
"buffer: writable uint64 array whose first `count` entries are sorted; keys: uint64 band keys\n"
"of document number `doc`.  Merges one entry (key & key_mask | doc) per distinct masked key\n"
"into the buffer, in place, and returns the new count.  The buffer must have room for them.");

/* In place, from the back: no new buffer per document (a fresh ~32 KB allocation for each of
 * them sent glibc's malloc searching its bins, ~4% of indexing). */
static PyObject *insert(PyObject *self, PyObject *args)
{
    Py_buffer buffer = {0}, keys = {0};
    Py_ssize_t count;
    unsigned long long key_mask, doc;
    PyObject *out = NULL;
    if (!PyArg_ParseTuple(args, "w*ny*KK", &buffer, &count, &keys, &key_mask, &doc))
        return NULL;
    Py_ssize_t capacity = buffer.len / (Py_ssize_t)sizeof(uint64_t);
    Py_ssize_t n_new = keys.len / (Py_ssize_t)sizeof(uint64_t);
    if (buffer.len % (Py_ssize_t)sizeof(uint64_t) || keys.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "entries and keys must be 64-bit");
        goto done;
    }
    if (count < 0 || count > capacity || n_new > capacity - count) {
        PyErr_Format(PyExc_ValueError, "a buffer of %zd entries cannot take %zd more after %zd", capacity, n_new, count);
        goto done;
    }
    uint64_t *fresh = PyMem_Malloc(sizeof(uint64_t) * (size_t)(n_new + 1));
    if (!fresh) {
        PyErr_NoMemory();
        goto done;
    }
    const uint64_t *k = keys.buf;
    uint64_t *entries = buffer.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_new; i++)
        fresh[i] = (k[i] & key_mask) | doc;
    sort_u64(fresh, n_new);
    n_new = drop_repeats_u64(fresh, n_new); /* a key given twice is one entry */
    /* Ties keep the old entry first, as a forward merge would. */
    Py_ssize_t i = count - 1, j = n_new - 1, o = count + n_new - 1;
    while (j >= 0)
        entries[o--] = i >= 0 && entries[i] > fresh[j] ? entries[i--] : fresh[j--];
    Py_END_ALLOW_THREADS
    PyMem_Free(fresh);
    out = PyLong_FromSsize_t(count + n_new);
done:
    PyBuffer_Release(&buffer);
    PyBuffer_Release(&keys);
    return out;
}

typedef struct {
    uint32_t doc;
    uint32_t textual;
    int64_t hits;
} Found;

#define MAX_MERGED_RUNS 8

static int compare_found(const void *x, const void *y)
{
    uint32_t a = ((const Found *)x)->doc, b = ((const Found *)y)->doc;
    return (a > b) - (a < b);
}

/* Several queries' answers as one (see `merge_found`): the distinct documents in ascending
 * order in `*out` (PyMem_Malloc'ed), their count returned; -1 with an exception set. */
static Py_ssize_t gather_found(PyObject *docs_obj, PyObject *hits_obj, Py_ssize_t textual, Found **out)
{
    PyObject *docs = PySequence_Fast(docs_obj, "docs must be a sequence");
    PyObject *hits = docs ? PySequence_Fast(hits_obj, "hits must be a sequence") : NULL;
    Found *all = NULL;
    Py_ssize_t n_out = -1;
    if (!hits)
        goto done;
    Py_ssize_t sources = PySequence_Fast_GET_SIZE(docs), total = 0, filled = 0;
    if (PySequence_Fast_GET_SIZE(hits) != sources) {
        PyErr_SetString(PyExc_ValueError, "one hits array per docs array");
        goto done;
    }
    /* Each query's answer ascends: with a few sources, merge their runs rather than sort. */
    int runs_ascend = sources <= MAX_MERGED_RUNS;
    Py_ssize_t run_end[MAX_MERGED_RUNS];
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
                    runs_ascend &= j == 0 || dv[j] > dv[j - 1];
                    all[filled].doc = dv[j];
                    all[filled].textual = i < textual;
                    all[filled++].hits = hv[j];
                }
                if (i < MAX_MERGED_RUNS)
                    run_end[i] = filled;
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
    if (runs_ascend && sources > 1) {
        Found *merged = PyMem_Malloc(sizeof(Found) * (size_t)(total + 1));
        if (!merged) {
            PyErr_NoMemory();
            goto done;
        }
        Py_ssize_t head[MAX_MERGED_RUNS];
        for (Py_ssize_t i = 0; i < sources; i++)
            head[i] = i ? run_end[i - 1] : 0;
        for (Py_ssize_t o = 0; o < total; o++) {
            Py_ssize_t best = -1;
            for (Py_ssize_t i = 0; i < sources; i++)
                if (head[i] < run_end[i] && (best < 0 || all[head[i]].doc < all[head[best]].doc))
                    best = i;
            merged[o] = all[head[best]++];
        }
        PyMem_Free(all);
        all = merged;
    } else if (!runs_ascend) {
        qsort(all, (size_t)total, sizeof(Found), compare_found);
    }
    n_out = 0;
    for (Py_ssize_t i = 0; i < total; i++) {
        if (n_out && all[n_out - 1].doc == all[i].doc) {
            all[n_out - 1].hits += all[i].hits;
            all[n_out - 1].textual |= all[i].textual;
        } else {
            all[n_out++] = all[i];
        }
    }
    *out = all;
    all = NULL;
done:
    PyMem_Free(all);
    Py_XDECREF(docs);
    Py_XDECREF(hits);
    return n_out;
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
    Found *all = NULL;
    if (!PyArg_ParseTuple(args, "OOn", &docs_obj, &hits_obj, &textual))
        return NULL;
    Py_ssize_t n_out = gather_found(docs_obj, hits_obj, textual, &all);
    if (n_out < 0)
        return NULL;
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
    PyMem_Free(all);
    return result;
}

typedef struct {
    uint64_t hash;
    Py_ssize_t at; /* position among the candidates */
} Tied;

static inline void sift_down_tied(Tied *v, Py_ssize_t root, Py_ssize_t n)
{
    for (Py_ssize_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && v[child + 1].hash > v[child].hash)
            child++;
        if (v[root].hash >= v[child].hash)
            return;
        Tied t = v[root];
        v[root] = v[child];
        v[child] = t;
    }
}

/* Sort by hash (equal hashes in any order: the caller gives up on those), comparisons
 * inline: insertion for a few, else a heapsort.  qsort's call per comparison was ~2% of
 * indexing. */
static void sort_tied(Tied *v, Py_ssize_t n)
{
    if (n <= 16) {
        for (Py_ssize_t i = 1; i < n; i++) {
            Tied x = v[i];
            Py_ssize_t j = i;
            for (; j > 0 && v[j - 1].hash > x.hash; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    for (Py_ssize_t i = n / 2; i-- > 0;)
        sift_down_tied(v, i, n);
    for (Py_ssize_t end = n - 1; end > 0; end--) {
        Tied t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift_down_tied(v, 0, end);
    }
}

/* A candidate's hits as a key whose ascending order is the hits' descending order. */
static inline uint64_t descending_key(int64_t hits)
{
    return ~((uint64_t)hits ^ (UINT64_C(1) << 63));
}

/* The `keep` best of the candidates at positions `at[0..n)` (ascending positions into
 * `found`), by most hits, ties at the cut going to the smallest body hash: written to
 * `chosen` as those above the cut in ascending position, then the tied ones chosen in hash
 * order.  Returns how many were written (keep), or -1 when two tied candidates have the same
 * body hash (only ids could order them: the caller decides in Python), -2 out of memory. */
static Py_ssize_t best_of(const Found *found, const Py_ssize_t *at, Py_ssize_t n, Py_ssize_t keep,
                          const uint64_t *hashes, Py_ssize_t *chosen)
{
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)(n + 1));
    Tied *tied = malloc(sizeof(Tied) * (size_t)(n + 1));
    Py_ssize_t out = -2, n_tied = 0;
    if (!keys || !tied)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++)
        keys[i] = descending_key(found[at[i]].hits);
    sort_u64(keys, n);
    int64_t cut = (int64_t)(~keys[keep - 1] ^ (UINT64_C(1) << 63));
    out = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const Found *f = &found[at[i]];
        if (f->hits > cut) {
            chosen[out++] = at[i];
        } else if (f->hits == cut) {
            tied[n_tied].hash = hashes[f->doc];
            tied[n_tied++].at = at[i];
        }
    }
    sort_tied(tied, n_tied);
    for (Py_ssize_t i = 1; i < n_tied; i++)
        if (tied[i].hash == tied[i - 1].hash) {
            out = -1;
            goto done;
        }
    for (Py_ssize_t i = 0; out < keep; i++)
        chosen[out++] = tied[i].at;
done:
    free(keys);
    free(tied);
    return out;
}

PyDoc_STRVAR(rank_found_doc,
"rank_found(docs, hits, textual, exclude, story_keep, keep, body_hashes) -> (ranked, textual) or None\n\n"
"The candidates of several queries' answers (as `merge_found` takes them), less document\n"
"`exclude` (-1: none): of those found by story queries alone, the `story_keep` best; of all\n"
"left, the `keep` best.  Best: most hits; ties at a cut go to the smallest body hash\n"
"(`body_hashes`: uint64 by document number).  Returns two bytearrays of uint32: the ranked\n"
"documents (ascending, or when cut, those above the cut ascending and then the tied ones\n"
"chosen in hash order) and the documents a textual query found (ascending); None when two\n"
"candidates tied at a cut have the same body hash.");

static PyObject *rank_found(PyObject *self, PyObject *args)
{
    PyObject *docs_obj, *hits_obj, *result = NULL;
    Py_ssize_t textual, exclude, story_keep, keep;
    Py_buffer hashes = {0};
    Found *all = NULL;
    Py_ssize_t *at = NULL, *chosen = NULL;
    unsigned char *dropped = NULL;
    Py_ssize_t status = 0;
    if (!PyArg_ParseTuple(args, "OOnnnny*", &docs_obj, &hits_obj, &textual, &exclude, &story_keep, &keep, &hashes))
        return NULL;
    if (story_keep < 1 || keep < 1 || hashes.len % (Py_ssize_t)sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "story_keep and keep must be positive, body_hashes uint64");
        goto done;
    }
    Py_ssize_t n = gather_found(docs_obj, hits_obj, textual, &all);
    if (n < 0)
        goto done;
    const uint64_t *hv = hashes.buf;
    Py_ssize_t n_hashes = hashes.len / (Py_ssize_t)sizeof(uint64_t), n_story = 0, n_left = 0, n_text = 0;
    at = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    chosen = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n + 1));
    dropped = PyMem_Calloc((size_t)n + 1, 1);
    if (!at || !chosen || !dropped) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if ((Py_ssize_t)all[i].doc >= n_hashes) {
            PyErr_SetString(PyExc_ValueError, "a document found has no body hash");
            goto done;
        }
        dropped[i] = exclude >= 0 && all[i].doc == (uint64_t)exclude;
        if (!all[i].textual && !dropped[i])
            at[n_story++] = i;
    }
    if (n_story > story_keep) { /* the story-only candidates not chosen are dropped */
        status = best_of(all, at, n_story, story_keep, hv, chosen);
        if (status < 0)
            goto undecided;
        for (Py_ssize_t i = 0; i < n_story; i++)
            dropped[at[i]] = 1;
        for (Py_ssize_t i = 0; i < status; i++)
            dropped[chosen[i]] = 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!dropped[i]) {
            at[n_left++] = i;
            n_text += all[i].textual != 0;
        }
    }
    Py_ssize_t n_ranked = n_left;
    if (n_left > keep) {
        status = n_ranked = best_of(all, at, n_left, keep, hv, chosen);
        if (status < 0)
            goto undecided;
    } else {
        memcpy(chosen, at, sizeof(Py_ssize_t) * (size_t)n_left);
    }
    PyObject *r = PyByteArray_FromStringAndSize(NULL, n_ranked * (Py_ssize_t)sizeof(uint32_t));
    PyObject *t = PyByteArray_FromStringAndSize(NULL, n_text * (Py_ssize_t)sizeof(uint32_t));
    if (r && t) {
        uint32_t *rv = (uint32_t *)PyByteArray_AS_STRING(r), *tv = (uint32_t *)PyByteArray_AS_STRING(t);
        for (Py_ssize_t i = 0; i < n_ranked; i++)
            rv[i] = all[chosen[i]].doc;
        for (Py_ssize_t i = 0, o = 0; i < n_left; i++)
            if (all[at[i]].textual)
                tv[o++] = all[at[i]].doc;
        result = PyTuple_Pack(2, r, t);
    }
    Py_XDECREF(r);
    Py_XDECREF(t);
    goto done;
undecided: /* best_of: -1 undecided, -2 out of memory */
    if (status == -2) {
        PyErr_NoMemory();
    } else {
        result = Py_None;
        Py_INCREF(result);
    }
done:
    PyMem_Free(all);
    PyMem_Free(at);
    PyMem_Free(chosen);
    PyMem_Free(dropped);
    PyBuffer_Release(&hashes);
    return result;
}

static PyMethodDef methods[] = {
    {"merge_found", merge_found, METH_VARARGS, merge_found_doc},
    {"rank_found", rank_found, METH_VARARGS, rank_found_doc},
    {"query", query, METH_VARARGS, query_doc},
    {"insert", insert, METH_VARARGS, insert_doc},
    {"merge", merge, METH_VARARGS, merge_doc},
    {"buckets", buckets, METH_VARARGS, buckets_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_bandsearch", "The band index's query and insert, compiled.", -1, methods,
};

PyMODINIT_FUNC PyInit__bandsearch(void)
{
    return PyModule_Create(&module);
}
