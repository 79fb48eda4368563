/*
 * block.c - SST blocks with prefix compression and restart points
 * (block.h; layout in docs/formats/sst.md).
 */
#include "base/le.h"
#include "engine/block.h"

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "engine/ikey.h"

void block_builder_init(struct block_builder *b, unsigned restart_interval)
{
	ASSERT(restart_interval >= 1);
	buf_init(&b->data);
	buf_init(&b->last_key);
	buf_init(&b->restarts);
	b->interval = restart_interval;
	b->counter = 0;
	b->entry_count = 0;
}

void block_builder_deinit(struct block_builder *b)
{
	buf_deinit(&b->data);
	buf_deinit(&b->last_key);
	buf_deinit(&b->restarts);
}

void block_builder_reset(struct block_builder *b)
{
	b->data.len = 0;
	b->last_key.len = 0;
	b->restarts.len = 0;
	b->counter = 0;
	b->entry_count = 0;
}

size_t block_builder_size(const struct block_builder *b)
{
	size_t restarts = b->restarts.len + (b->entry_count ? 0 : 4);
	return b->data.len + restarts + 4;
}

int block_builder_add(struct block_builder *b, struct bytes key, struct bytes value)
{
	size_t shared = 0;
	bool restart = b->counter == 0 || b->counter >= b->interval;
	if (!restart) {
		size_t n = key.len < b->last_key.len ? key.len : b->last_key.len;
		while (shared < n && key.ptr[shared] == b->last_key.data[shared])
			shared++;
	}
	size_t unshared = key.len - shared;
	size_t need = 3 * 5 + unshared + value.len;
	int rc = buf_reserve(&b->data, need, SST_BLOCK_RAW_BYTES_MAX);
	if (!rc && restart)
		rc = buf_reserve(&b->restarts, 4, SST_BLOCK_RAW_BYTES_MAX);
	if (!rc)
		rc = buf_reserve(&b->last_key,
		                 key.len > b->last_key.len ? key.len - b->last_key.len : 0,
		                 SST_BLOCK_RAW_BYTES_MAX);
	if (rc)
		return rc;
	if (restart) {
		le_put32(b->restarts.data + b->restarts.len, (uint32_t)b->data.len);
		b->restarts.len += 4;
		b->counter = 0;
	}
	uint8_t *p = b->data.data + b->data.len;
	size_t n = block_put_varint(p, shared);
	n += block_put_varint(p + n, unshared);
	n += block_put_varint(p + n, value.len);
	b->data.len += n;
	buf_put(&b->data, key.ptr + shared, unshared);
	buf_put(&b->data, value.ptr, value.len);
	b->last_key.len = shared;
	buf_put(&b->last_key, key.ptr + shared, unshared);
	b->counter++;
	b->entry_count++;
	return 0;
}

int block_builder_finish(struct block_builder *b, struct bytes *out)
{
	/* An empty block still has one restart at 0, so the reader need not
	 * special-case restart_count == 0. */
	if (b->entry_count == 0) {
		int rc = buf_reserve(&b->restarts, 4, SST_BLOCK_RAW_BYTES_MAX);
		if (rc)
			return rc;
		le_put32(b->restarts.data, 0);
		b->restarts.len = 4;
	}
	int rc = buf_reserve(&b->data, b->restarts.len + 4, SST_BLOCK_RAW_BYTES_MAX);
	if (rc)
		return rc;
	buf_put(&b->data, b->restarts.data, b->restarts.len);
	uint8_t cnt[4];
	le_put32(cnt, (uint32_t)(b->restarts.len / 4));
	buf_put(&b->data, cnt, 4);
	*out = bytes_make(b->data.data, b->data.len);
	return 0;
}

/* ---- Iterator -------------------------------------------------------- */

int block_iter_init(struct block_iter *it, struct bytes block)
{
	it->data = NULL;
	it->limit = 0;
	it->restart_count = 0;
	it->next = 0;
	it->key_len = 0;
	it->key_on_heap = false;
	buf_init(&it->key_heap);
	it->value = bytes_make(NULL, 0);
	it->valid = false;
	it->err = 0;
	it->data = block.ptr;
	if (block.len < 8)
		return it->err = ERR_CORRUPT;
	uint32_t count = le_get32(block.ptr + block.len - 4);
	if (count == 0 || count > (block.len - 4) / 4)
		return it->err = ERR_CORRUPT;
	it->restart_count = count;
	it->limit = block.len - 4 - (size_t)count * 4;
	return 0;
}

void block_iter_deinit(struct block_iter *it)
{
	buf_deinit(&it->key_heap);
}

static void fail(struct block_iter *it, int err)
{
	it->valid = false;
	if (!it->err)
		it->err = err;
}

/* Parses the entry header at off: p is left at its key bytes. False for
 * a header running past the entries (corrupt). */
static bool parse_at(const struct block_iter *it, size_t off, const uint8_t **p,
                     uint64_t *shared, uint64_t *unshared, uint64_t *vlen)
{
	const uint8_t *end = it->data + it->limit;
	*p = it->data + off;
	return block_get_varint(p, end, shared) && block_get_varint(p, end, unshared) &&
	    block_get_varint(p, end, vlen) && *unshared <= (size_t)(end - *p) &&
	    *vlen <= (size_t)(end - *p) - *unshared;
}

/* Makes the current key shared + unshared bytes long with its first
 * shared bytes kept and the rest from src. False when out of memory. */
static bool key_set(struct block_iter *it, size_t shared, const uint8_t *src, size_t unshared)
{
	size_t len = shared + unshared;
	if (!it->key_on_heap && len > sizeof(it->key_inline)) {
		it->key_heap.len = 0;
		if (buf_reserve(&it->key_heap, len, SST_BLOCK_RAW_BYTES_MAX))
			return false;
		buf_put(&it->key_heap, it->key_inline, shared);
		it->key_on_heap = true;
	}
	if (it->key_on_heap) {
		it->key_heap.len = shared;
		if (buf_reserve(&it->key_heap, unshared, SST_BLOCK_RAW_BYTES_MAX))
			return false;
		buf_put(&it->key_heap, src, unshared);
	} else if (unshared) {
		memcpy(it->key_inline + shared, src, unshared);
	}
	it->key_len = len;
	return true;
}

/* Decodes the entry at off into key/value; invalid at the end of entries. */
static void decode_at(struct block_iter *it, size_t off)
{
	if (off >= it->limit) {
		it->valid = false;
		return;
	}
	const uint8_t *p;
	uint64_t shared, unshared, vlen;
	if (!parse_at(it, off, &p, &shared, &unshared, &vlen) || shared > it->key_len) {
		fail(it, ERR_CORRUPT);
		return;
	}
	if (!key_set(it, (size_t)shared, p, (size_t)unshared)) {
		fail(it, ERR_NOMEM);
		return;
	}
	if (it->key_len < IKEY_TRAILER_BYTES) {
		fail(it, ERR_CORRUPT); /* every key of ours is an internal key */
		return;
	}
	it->value = bytes_make(p + unshared, (size_t)vlen);
	it->next = (size_t)(p + unshared + vlen - it->data);
	it->valid = true;
}

static size_t restart_off(const struct block_iter *it, uint32_t i)
{
	return le_get32(it->data + it->limit + (size_t)i * 4);
}

/* The key stored whole at restart point i, where it lies in the block
 * (no copy). False when the entry is malformed, is not stored whole, or
 * is shorter than an internal key. */
bool block_iter_restart_key(const struct block_iter *it, uint32_t i, struct bytes *key)
{
	ASSERT(i < it->restart_count);
	size_t off = restart_off(it, i);
	const uint8_t *p;
	uint64_t shared, unshared, vlen;
	if (off >= it->limit || !parse_at(it, off, &p, &shared, &unshared, &vlen) || shared ||
	    unshared < IKEY_TRAILER_BYTES)
		return false;
	*key = bytes_make(p, (size_t)unshared);
	return true;
}

void block_iter_seek_to_first(struct block_iter *it)
{
	if (it->err)
		return;
	it->key_len = 0;
	decode_at(it, restart_off(it, 0));
}

void block_iter_seek_to_restart(struct block_iter *it, uint32_t i)
{
	ASSERT(i <= it->restart_count);
	if (it->err)
		return;
	it->key_len = 0;
	if (i == it->restart_count)
		it->valid = false;
	else
		decode_at(it, restart_off(it, i));
}

void block_iter_next(struct block_iter *it)
{
	ASSERT(it->valid);
	decode_at(it, it->next);
}

void block_iter_seek(struct block_iter *it, struct bytes target)
{
	if (it->err)
		return;
	/* Binary search for the last restart whose key is < target; the
	 * first key >= target is at or after it. */
	uint32_t lo = 0, hi = it->restart_count - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		struct bytes key;
		if (!block_iter_restart_key(it, mid, &key)) {
			fail(it, ERR_CORRUPT);
			return;
		}
		if (ikey_cmp(key, target) < 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	it->key_len = 0;
	decode_at(it, restart_off(it, lo));
	while (it->valid && ikey_cmp(block_iter_key(it), target) < 0)
		decode_at(it, it->next);
}
