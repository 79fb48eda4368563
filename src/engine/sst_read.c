/*
 * sst_read.c - opens, reads, iterates and checks SSTables (sst.h; layout in
 * docs/formats/sst.md).
 *
 * Every block read from disk is checked before use: its handle must lie
 * inside the file before the footer, its length under the limit for its
 * kind (checked before anything is allocated for it), its checksum must
 * match, and a compressed block must decompress to exactly the length it
 * claims. The index block stays pinned (in the cache, or owned) while the
 * reader is open; data blocks are pinned only while an iterator or a get
 * uses them.
 *
 * Mapped tables. open maps the file read-only when the env can
 * (env_fs_map); reads then come from the mapping: no syscall and, for an
 * uncompressed data block, no copy: the decoded block is a view into the
 * mapping, checked on its way in like any read (verified when it enters
 * the cache, and on each read without the cache). The mapping is
 * reference counted (struct sst_map): the reader holds one reference and
 * every block that points into it one more, so it stays mapped while such
 * a block is cached or pinned, even by another reader of the same file
 * (an iterator's or a check's), and is unmapped when the last goes. close
 * erases from the cache the blocks that point into its own mapping, so
 * that a removed table's file is released with its reader, not when the
 * cache happens to evict its blocks. Such a block is charged what it holds
 * on the heap (its header and the cache's entry), not the mapped bytes,
 * which are the OS page cache's. The meta, filter and index blocks are
 * copied to the heap at open: a get probes them for every table. When
 * mapping fails (no support, 32-bit, out of mappings) the reader uses
 * read_at, as before.
 */
#include <lz4.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/le.h"
#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/block.h"
#include "engine/bloom.h"
#include "engine/sst_internal.h"

/* A file's mapping, shared by its reader and the blocks that point into
 * it; unmapped when the last reference goes. */
struct sst_map {
	atomic_uint refs;
	struct env_fs *fs;
	struct env_fs_map m;
};

/* A decoded block as the cache and the reader hold it: its bytes follow
 * the header (map == NULL) or lie in map, which the block holds a
 * reference on. */
struct sst_block {
	const uint8_t *data;
	size_t len;
	struct sst_map *map;
	uint8_t own[];
};

/* A block in use: pinned in the cache (h) or owned (h == NULL). */
struct block_ref {
	struct sst_block *blk;
	struct cache_handle *h;
};

struct sst_reader {
	struct env_fs *fs;
	struct env_file *file;
	struct sst_map *map; /* NULL: read with read_at */
	uint64_t file_size, data_end; /* data_end: where the footer starts */
	struct sst_footer footer;
	struct cache *cache;
	uint64_t file_number;
	struct sst_block *meta, *filter;
	struct block_ref index;
	struct sst_props props;
	/* Point lookups' aid, built at open (NULL: none; the plain search
	 * then): for index entry i, key8[i] holds the 8 bytes of its user key
	 * that follow the prefix every index key shares (index_prefix, inside
	 * the pinned index block), big-endian and zero-padded. A binary search
	 * over this dense array replaces most of the key comparisons inside
	 * the index block, which miss the CPU cache on a large table. */
	uint64_t *key8;
	uint32_t key8_count;
	struct bytes index_prefix;
};

/* Bytes [p, p + 8) of user key u, zero-padded, big-endian: a function
 * that never decreases as u grows in bytewise order, among keys that
 * share their first p bytes. */
static uint64_t key8_of(struct bytes u, size_t p)
{
	uint64_t k = 0;
	for (size_t i = p; i < p + 8; i++)
		k = k << 8 | (i < u.len ? u.ptr[i] : 0);
	return k;
}

static size_t common_prefix(struct bytes a, struct bytes b)
{
	size_t n = a.len < b.len ? a.len : b.len, i = 0;
	while (i < n && a.ptr[i] == b.ptr[i])
		i++;
	return i;
}

/* Builds r->key8 from the pinned index block. Leaves it NULL (and the
 * reader correct) when the block does not have one restart per entry or
 * is malformed: the plain search then reports what is wrong. */
static int key8_build(struct sst_reader *r)
{
	struct block_iter it;
	int rc = block_iter_init(&it, bytes_make(r->index.blk->data, r->index.blk->len));
	uint32_t n = it.restart_count;
	struct bytes first, last;
	if (rc || !block_iter_restart_key(&it, 0, &first) ||
	    !block_iter_restart_key(&it, n - 1, &last)) {
		block_iter_deinit(&it);
		return 0;
	}
	size_t p = common_prefix(bytes_make(first.ptr, first.len - IKEY_TRAILER_BYTES),
	                         bytes_make(last.ptr, last.len - IKEY_TRAILER_BYTES));
	uint64_t *k8 = malloc((size_t)n * sizeof(*k8));
	if (!k8) {
		block_iter_deinit(&it);
		return ERR_NOMEM;
	}
	uint32_t i = 0;
	for (block_iter_seek_to_first(&it); it.valid && i < n; block_iter_next(&it), i++) {
		struct bytes k, key = block_iter_key(&it);
		/* One entry per restart, each stored whole: the aid's positions
		 * are then restart numbers. */
		if (!block_iter_restart_key(&it, i, &k) || !bytes_eq(k, key))
			break;
		k8[i] = key8_of(bytes_make(key.ptr, key.len - IKEY_TRAILER_BYTES), p);
	}
	bool ok = i == n && !it.valid && !it.err;
	block_iter_deinit(&it);
	if (!ok) {
		free(k8);
		return 0;
	}
	r->key8 = k8;
	r->key8_count = n;
	r->index_prefix = bytes_make(first.ptr, p);
	return 0;
}

static void map_ref(struct sst_map *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

/* The last reference unmaps: whoever drops it (a reader's close, a cache
 * eviction on any thread, a get's release) saw every use end before. */
static void map_unref(struct sst_map *m)
{
	if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
		env_fs_unmap(m->fs, &m->m);
		free(m);
	}
}

/* A block whose n bytes are its own, or NULL. */
static struct sst_block *block_alloc(size_t n)
{
	struct sst_block *blk = malloc(sizeof(*blk) + n);
	if (blk) {
		blk->data = blk->own;
		blk->len = n;
		blk->map = NULL;
	}
	return blk;
}

/* Frees a block (NULL: nothing), dropping its mapping's reference; the
 * cache's free callback too. */
static void block_free(void *p)
{
	struct sst_block *blk = p;
	if (blk && blk->map)
		map_unref(blk->map);
	free(blk);
}

static void block_unref(struct sst_reader *r, struct block_ref *ref)
{
	if (ref->h)
		cache_release(r->cache, ref->h);
	else
		block_free(ref->blk);
	ref->blk = NULL;
	ref->h = NULL;
}

static int corrupt(const char **reason, const char *why)
{
	if (reason)
		*reason = why;
	return ERR_CORRUPT;
}

/* Decompresses the stored bytes p[0, n) of type into a new block. */
static int decompress(const uint8_t *p, size_t n, uint8_t type, uint64_t raw_max,
                      struct sst_block **out, const char **reason)
{
	if (n < 4)
		return corrupt(reason, "block: compressed block too short");
	uint32_t raw_len = le_get32(p);
	if (raw_len > raw_max)
		return corrupt(reason, "block: decompressed length over the limit");
	struct sst_block *blk = block_alloc(raw_len);
	if (!blk)
		return ERR_NOMEM;
	size_t got;
	if (type == SST_COMPRESSION_LZ4) {
		int r = LZ4_decompress_safe((const char *)p + 4, (char *)blk->own, (int)(n - 4),
		                            (int)raw_len);
		got = r < 0 ? SIZE_MAX : (size_t)r;
	} else {
		got = ZSTD_decompress(blk->own, raw_len, p + 4, n - 4);
		got = ZSTD_isError(got) ? SIZE_MAX : got;
	}
	if (got != raw_len) {
		free(blk);
		return corrupt(reason, "block: decompression failed");
	}
	*out = blk;
	return 0;
}

/* The stored bytes and trailer of the block at h, n + SST_TRAILER_BYTES
 * of them, in *p: a view into the mapping (*buf NULL) or read into a new
 * block *buf. */
static int fetch_block(struct sst_reader *r, struct sst_handle h, const uint8_t **p,
                       struct sst_block **buf, const char **reason)
{
	size_t stored = (size_t)h.size + SST_TRAILER_BYTES;
	*buf = NULL;
	if (r->map)
		return env_fs_map_read(r->fs, &r->map->m, h.offset, stored, p);
	struct sst_block *b = block_alloc(stored);
	if (!b)
		return ERR_NOMEM;
	size_t got;
	int rc = env_fs_read_at(r->fs, r->file, h.offset, b->own, stored, &got);
	if (!rc && got != stored)
		rc = corrupt(reason, "block: truncated file");
	if (rc) {
		free(b);
		return rc;
	}
	b->len = (size_t)h.size;
	*p = b->own;
	*buf = b;
	return 0;
}

/* Reads, verifies and decodes the block at h. From a mapping, an
 * uncompressed block is a view into it when view is set (the block holds
 * a reference on the mapping), else a copy. */
static int read_block(struct sst_reader *r, struct sst_handle h, uint64_t raw_max, bool view,
                      struct sst_block **out, const char **reason)
{
	if (h.size > raw_max + 4 || h.offset > r->data_end ||
	    h.size + SST_TRAILER_BYTES > r->data_end - h.offset)
		return corrupt(reason, "block: handle out of the file or over the limit");
	size_t n = (size_t)h.size;
	const uint8_t *p;
	struct sst_block *buf;
	int rc = fetch_block(r, h, &p, &buf, reason);
	if (rc)
		return rc;
	/* Verified before a byte of it is used, wherever it came from. */
	uint8_t type = p[n];
	if (le_get64(p + n + 1) != sst_block_checksum(p, n, r->footer.seed, h.offset, type))
		rc = corrupt(reason, "block: checksum mismatch");
	else if (type > SST_COMPRESSION_ZSTD)
		rc = corrupt(reason, "block: unknown compression type");
	else if (type != SST_COMPRESSION_NONE)
		rc = decompress(p, n, type, raw_max, out, reason);
	if (rc || type != SST_COMPRESSION_NONE) {
		free(buf);
		return rc;
	}
	if (buf) {
		*out = buf; /* read_at's copy is the block */
		return 0;
	}
	struct sst_block *blk = block_alloc(view ? 0 : n);
	if (!blk)
		return ERR_NOMEM;
	if (view) {
		blk->data = p;
		blk->len = n;
		blk->map = r->map;
		map_ref(r->map);
	} else {
		memcpy(blk->own, p, n);
	}
	*out = blk;
	return 0;
}

/* What a block costs the heap: its header, its own bytes and the cache's
 * entry; not the mapped bytes it may point at (the OS page cache's). */
static size_t block_charge(const struct sst_block *blk)
{
	return sizeof(*blk) + (blk->map ? 0 : blk->len) + cache_entry_bytes();
}

/* A data or index block, through the cache when the reader has one. */
static int load_block(struct sst_reader *r, struct sst_handle h, uint64_t raw_max, bool view,
                      struct block_ref *out, const char **reason)
{
	*out = (struct block_ref){0};
	if (r->cache) {
		out->h = cache_lookup(r->cache, r->file_number, h.offset);
		if (out->h) {
			out->blk = cache_value(out->h);
			return 0;
		}
	}
	int rc = read_block(r, h, raw_max, view, &out->blk, reason);
	if (rc || !r->cache)
		return rc;
	/* On failure the cache has freed the block: forget it. */
	rc = cache_insert(r->cache, r->file_number, h.offset, out->blk, block_charge(out->blk),
	                  block_free, &out->h);
	if (rc)
		*out = (struct block_ref){0};
	return rc;
}

static int decode_handle(struct bytes v, struct sst_handle *h)
{
	const uint8_t *p = v.ptr, *end = v.ptr + v.len;
	if (!block_get_varint(&p, end, &h->offset) || !block_get_varint(&p, end, &h->size) ||
	    p != end)
		return ERR_CORRUPT;
	return 0;
}

/* Maps the file when the env can; r->map stays NULL (read_at) otherwise.
 * A mapping of another length than the size just read (the file is not
 * what it should be) is not used either. */
static void map_file(struct sst_reader *r)
{
	struct sst_map *m = malloc(sizeof(*m));
	if (!m)
		return;
	if (env_fs_map(r->fs, r->file, &m->m) != 0) {
		free(m);
		return;
	}
	if (m->m.len != r->file_size) {
		env_fs_unmap(r->fs, &m->m);
		free(m);
		return;
	}
	atomic_init(&m->refs, 1);
	m->fs = r->fs;
	r->map = m;
}

/* Reads the footer and the filter, properties and index blocks. */
static int open_blocks(struct sst_reader *r, const char **reason)
{
	int rc = env_fs_size(r->fs, r->file, &r->file_size);
	if (rc)
		return rc;
	if (r->file_size < SST_FOOTER_BYTES)
		return corrupt(reason, "file: shorter than a footer");
	if (r->file_size > SST_TABLE_BYTES_MAX)
		return corrupt(reason, "file: larger than SST_TABLE_BYTES_MAX");
	r->data_end = r->file_size - SST_FOOTER_BYTES;
	map_file(r);
	uint8_t foot[SST_FOOTER_BYTES];
	size_t got;
	rc = env_fs_read_at(r->fs, r->file, r->data_end, foot, sizeof(foot), &got);
	if (rc)
		return rc;
	if (got != sizeof(foot))
		return corrupt(reason, "footer: short read");
	if ((rc = sst_footer_decode(foot, &r->footer, reason)))
		return rc;
	const char *why = NULL;
	if ((rc = read_block(r, r->footer.meta, SST_AUX_BLOCK_BYTES_MAX, false, &r->meta, &why)) ||
	    (rc = read_block(r, r->footer.filter, SST_AUX_BLOCK_BYTES_MAX, false, &r->filter,
	                     &why)) ||
	    (rc = load_block(r, r->footer.index, SST_AUX_BLOCK_BYTES_MAX, false, &r->index, &why))) {
		if (reason && why)
			*reason = why;
		return rc;
	}
	if (sst_props_decode(r->meta->data, r->meta->len, &r->props))
		return corrupt(reason, "properties: malformed");
	return key8_build(r);
}

int sst_open(struct sst_reader **out, struct env_fs *fs, const char *path,
             const struct sst_read_options *opt, const char **reason)
{
	ASSERT(out && fs && path);
	struct sst_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return ERR_NOMEM;
	r->fs = fs;
	if (opt) {
		r->cache = opt->cache;
		r->file_number = opt->file_number;
	}
	int rc = env_fs_open(fs, path, 0, &r->file);
	if (rc) {
		free(r);
		return rc;
	}
	rc = open_blocks(r, reason);
	if (rc) {
		sst_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

static bool block_in_map(const void *value, const void *map)
{
	return ((const struct sst_block *)value)->map == map;
}

/* Erases from the cache the data blocks that point into r's mapping. A
 * block pinned now (by a get on another reader of this file) leaves the
 * table at once and goes, with its reference, when unpinned. */
static void erase_mapped_blocks(struct sst_reader *r)
{
	struct block_iter idx;
	int rc = block_iter_init(&idx, bytes_make(r->index.blk->data, r->index.blk->len));
	for (block_iter_seek_to_first(&idx); !rc && idx.valid; block_iter_next(&idx)) {
		struct sst_handle h;
		if (decode_handle(idx.value, &h))
			break; /* no block was loaded past a malformed handle */
		cache_erase_if(r->cache, r->file_number, h.offset, block_in_map, r->map);
	}
	block_iter_deinit(&idx);
}

void sst_close(struct sst_reader *r)
{
	if (!r)
		return;
	if (r->map && r->cache && r->index.blk)
		erase_mapped_blocks(r);
	if (r->index.blk)
		block_unref(r, &r->index);
	block_free(r->meta);
	block_free(r->filter);
	free(r->key8);
	if (r->map)
		map_unref(r->map);
	env_fs_close(r->fs, r->file);
	free(r);
}

const struct sst_props *sst_props(const struct sst_reader *r)
{
	return &r->props;
}

/* ---- Point lookups --------------------------------------------------- */

/* The first index entry >= target with r->key8: key8 narrows the range,
 * full comparisons (in place) settle the entries that tie with target. */
static void index_seek_key8(const struct sst_reader *r, struct block_iter *idx,
                            struct bytes target)
{
	struct bytes user = bytes_make(target.ptr, target.len - IKEY_TRAILER_BYTES);
	struct bytes pre = r->index_prefix;
	int c = memcmp(user.ptr, pre.ptr, user.len < pre.len ? user.len : pre.len);
	if (c < 0 || (c == 0 && user.len < pre.len)) {
		block_iter_seek_to_restart(idx, 0); /* below every index key */
		return;
	}
	if (c > 0) {
		block_iter_seek_to_restart(idx, r->key8_count); /* above every one */
		return;
	}
	uint64_t t8 = key8_of(user, pre.len);
	uint32_t lo = 0, hi = r->key8_count;
	while (lo < hi) { /* first key8 >= t8 */
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->key8[mid] < t8)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t first_ge = lo;
	hi = r->key8_count;
	while (lo < hi) { /* first key8 > t8: the ties are [first_ge, lo), usually 0 or 1 */
		uint32_t mid = lo + (hi - lo) / 2;
		if (r->key8[mid] <= t8)
			lo = mid + 1;
		else
			hi = mid;
	}
	hi = lo;
	lo = first_ge;
	while (lo < hi) { /* first key >= target among the ties */
		uint32_t mid = lo + (hi - lo) / 2;
		struct bytes k;
		if (!block_iter_restart_key(idx, mid, &k)) {
			idx->err = ERR_CORRUPT; /* key8_build read it whole once */
			idx->valid = false;
			return;
		}
		if (ikey_cmp(k, target) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	block_iter_seek_to_restart(idx, lo);
}

/* Seeks the index to target and loads the data block it points at.
 * *found is false when target is past the table's last key. */
static int locate_block(struct sst_reader *r, struct bytes target, struct block_iter *idx,
                        struct block_ref *ref, bool *found)
{
	int rc = block_iter_init(idx, bytes_make(r->index.blk->data, r->index.blk->len));
	if (rc)
		return rc;
	if (r->key8)
		index_seek_key8(r, idx, target);
	else
		block_iter_seek(idx, target);
	if (idx->err)
		return idx->err;
	*found = idx->valid;
	if (!idx->valid)
		return 0;
	struct sst_handle h;
	if (decode_handle(idx->value, &h))
		return ERR_CORRUPT;
	return load_block(r, h, SST_BLOCK_RAW_BYTES_MAX, true, ref, NULL);
}

/* Looks target up in the loaded block and fills the result. */
static int get_in_block(struct block_ref *ref, struct bytes target, struct bytes user_key,
                        struct sst_get_result *res, struct buf *value)
{
	struct block_iter it;
	int rc = block_iter_init(&it, bytes_make(ref->blk->data, ref->blk->len));
	if (!rc) {
		block_iter_seek(&it, target);
		rc = it.err;
	}
	struct sst_get_result g = {.status = SST_GET_NOT_FOUND};
	struct bytes uk = {0};
	if (!rc && it.valid) {
		/* The index said this block's last key is >= target, so an
		 * entry >= target must be here: its absence is corruption. */
		ikey_decode(block_iter_key(&it), &uk, &g.seq, &g.kind);
		if (bytes_eq(uk, user_key) && g.kind > IKEY_KIND_BLOB)
			rc = ERR_CORRUPT;
		else if (bytes_eq(uk, user_key))
			g.status = g.kind == IKEY_KIND_DELETE ? SST_GET_DELETED : SST_GET_VALUE;
	} else if (!rc) {
		rc = ERR_CORRUPT;
	}
	if (!rc && g.status == SST_GET_VALUE) {
		value->len = 0;
		rc = buf_reserve(value, it.value.len, VALUE_BYTES_MAX + 9);
		if (!rc)
			buf_put(value, it.value.ptr, it.value.len);
	}
	if (!rc)
		*res = g;
	block_iter_deinit(&it);
	return rc;
}

int sst_get(struct sst_reader *r, struct bytes user_key, uint64_t seq_as_of,
            struct sst_get_result *res, struct buf *value)
{
	ASSERT(r && res && value);
	if (user_key.len > KEY_BYTES_MAX)
		return ERR_LIMIT;
	struct bytes filter = bytes_make(r->filter->data, r->filter->len);
	if (!bloom_may_match(filter, bloom_hash(user_key))) {
		*res = (struct sst_get_result){.status = SST_GET_NOT_FOUND};
		return 0;
	}
	/* Short keys are encoded on the stack; only long ones cost a malloc. */
	uint8_t small[256];
	size_t tlen = user_key.len + IKEY_TRAILER_BYTES;
	uint8_t *t = tlen <= sizeof(small) ? small : malloc(tlen);
	if (!t)
		return ERR_NOMEM;
	uint64_t seq = seq_as_of > IKEY_SEQ_MAX ? IKEY_SEQ_MAX : seq_as_of;
	struct bytes target = bytes_make(t, ikey_encode(t, user_key, seq, IKEY_KIND_SEEK));
	struct block_iter idx;
	struct block_ref ref = {0};
	bool found = false;
	int rc = locate_block(r, target, &idx, &ref, &found);
	block_iter_deinit(&idx);
	if (!rc && !found)
		*res = (struct sst_get_result){.status = SST_GET_NOT_FOUND};
	else if (!rc)
		rc = get_in_block(&ref, target, user_key, res, value);
	if (ref.blk)
		block_unref(r, &ref);
	if (t != small)
		free(t);
	return rc;
}

/* ---- Iterator -------------------------------------------------------- */

struct sst_iter {
	struct sst_reader *r;
	struct block_iter index;
	struct block_ref ref;
	struct block_iter data;
	bool have_data;
	int err;
};

int sst_iter_create(struct sst_reader *r, struct sst_iter **out)
{
	struct sst_iter *it = calloc(1, sizeof(*it));
	if (!it)
		return ERR_NOMEM;
	it->r = r;
	it->err = block_iter_init(&it->index, bytes_make(r->index.blk->data, r->index.blk->len));
	*out = it;
	return 0;
}

static void drop_data(struct sst_iter *it)
{
	if (!it->have_data)
		return;
	block_iter_deinit(&it->data);
	block_unref(it->r, &it->ref);
	it->have_data = false;
}

void sst_iter_destroy(struct sst_iter *it)
{
	if (!it)
		return;
	drop_data(it);
	block_iter_deinit(&it->index);
	free(it);
}

static void set_err(struct sst_iter *it, int err)
{
	if (!it->err)
		it->err = err;
	drop_data(it);
}

/* Loads the data block the index iterator is at. */
static bool load_data(struct sst_iter *it)
{
	drop_data(it);
	if (it->index.err) {
		set_err(it, it->index.err);
		return false;
	}
	if (!it->index.valid)
		return false;
	struct sst_handle h;
	int rc = decode_handle(it->index.value, &h);
	if (!rc)
		rc = load_block(it->r, h, SST_BLOCK_RAW_BYTES_MAX, true, &it->ref, NULL);
	if (rc) {
		set_err(it, rc);
		return false;
	}
	it->have_data = true;
	rc = block_iter_init(&it->data, bytes_make(it->ref.blk->data, it->ref.blk->len));
	if (rc)
		set_err(it, rc);
	return rc == 0;
}

/* Moves past exhausted blocks; the builder writes no empty data block, so
 * an empty one is corruption. */
static void settle(struct sst_iter *it)
{
	while (it->have_data && !it->data.valid) {
		if (it->data.err) {
			set_err(it, it->data.err);
			return;
		}
		block_iter_next(&it->index);
		if (!load_data(it))
			return;
		block_iter_seek_to_first(&it->data);
	}
}

void sst_iter_seek_to_first(struct sst_iter *it)
{
	if (it->err)
		return;
	block_iter_seek_to_first(&it->index);
	if (load_data(it))
		block_iter_seek_to_first(&it->data);
	settle(it);
}

void sst_iter_seek(struct sst_iter *it, struct bytes target)
{
	ASSERT(target.len >= IKEY_TRAILER_BYTES);
	if (it->err)
		return;
	block_iter_seek(&it->index, target);
	if (load_data(it))
		block_iter_seek(&it->data, target);
	settle(it);
}

void sst_iter_next(struct sst_iter *it)
{
	ASSERT(sst_iter_valid(it));
	block_iter_next(&it->data);
	settle(it);
}

bool sst_iter_valid(const struct sst_iter *it)
{
	return !it->err && it->have_data && it->data.valid;
}

struct bytes sst_iter_key(const struct sst_iter *it)
{
	ASSERT(sst_iter_valid(it));
	return block_iter_key(&it->data);
}

struct bytes sst_iter_value(const struct sst_iter *it)
{
	ASSERT(sst_iter_valid(it));
	return it->data.value;
}

int sst_iter_status(const struct sst_iter *it)
{
	return it->err;
}

/* ---- Check ----------------------------------------------------------- */

/* Reads one block from disk and, for data blocks, decodes every entry. */
static int check_block(struct sst_reader *r, struct sst_handle h, bool data,
                       struct sst_check_result *res)
{
	struct sst_block *blk;
	uint64_t max = data ? SST_BLOCK_RAW_BYTES_MAX : SST_AUX_BLOCK_BYTES_MAX;
	int rc = read_block(r, h, max, true, &blk, &res->reason);
	bool blk_read = rc == 0;
	if (!rc && data) {
		struct block_iter it;
		rc = block_iter_init(&it, bytes_make(blk->data, blk->len));
		for (block_iter_seek_to_first(&it); it.valid; block_iter_next(&it))
			;
		rc = rc ? rc : it.err;
		block_iter_deinit(&it);
		if (rc == ERR_CORRUPT)
			res->reason = "block: malformed entries";
	}
	if (blk_read)
		block_free(blk);
	if (rc == ERR_CORRUPT)
		res->bad_offset = h.offset;
	res->blocks_checked += rc == 0;
	return rc;
}

int sst_check(struct sst_reader *r, struct sst_check_result *res)
{
	memset(res, 0, sizeof(*res));
	const struct sst_handle aux[3] = {r->footer.meta, r->footer.filter, r->footer.index};
	for (int i = 0; i < 3; i++) {
		int rc = check_block(r, aux[i], false, res);
		if (rc)
			return rc;
	}
	struct block_iter idx;
	int rc = block_iter_init(&idx, bytes_make(r->index.blk->data, r->index.blk->len));
	for (block_iter_seek_to_first(&idx); !rc && idx.valid; block_iter_next(&idx)) {
		struct sst_handle h;
		if (decode_handle(idx.value, &h)) {
			res->reason = "index: malformed block handle";
			rc = ERR_CORRUPT;
		} else {
			rc = check_block(r, h, true, res);
		}
	}
	rc = rc ? rc : idx.err;
	if (rc == ERR_CORRUPT && !res->reason)
		res->reason = "index: malformed entries";
	block_iter_deinit(&idx);
	return rc;
}
