/*
 * sst_format.c - the SST footer and properties encodings
 * (sst_internal.h; byte layout in docs/formats/sst.md).
 */
#include <string.h>

#include "base/le.h"
#include "base/err.h"
#include "engine/ikey.h"
#include "engine/sst_internal.h"

static_assert(sizeof(SST_MAGIC) - 1 == 8, "the magic is 8 bytes");
static_assert(SST_FOOTER_BYTES == 6 * 8 + 8 + 4 + 4 + 8 + 8, "footer layout");

void sst_footer_encode(uint8_t *dst, const struct sst_footer *f)
{
	const struct sst_handle *h[3] = {&f->index, &f->filter, &f->meta};
	for (int i = 0; i < 3; i++) {
		le_put64(dst + 16 * i, h[i]->offset);
		le_put64(dst + 16 * i + 8, h[i]->size);
	}
	le_put64(dst + 48, f->seed);
	le_put32(dst + 56, f->version);
	le_put32(dst + 60, 0);
	le_put64(dst + 64, XXH3_64bits(dst, 64));
	memcpy(dst + 72, SST_MAGIC, 8);
}

int sst_footer_decode(const uint8_t *src, struct sst_footer *f, const char **reason)
{
	if (memcmp(src + 72, SST_MAGIC, 8) != 0) {
		*reason = "footer: bad magic (not a table, or truncated)";
		return ERR_CORRUPT;
	}
	if (le_get64(src + 64) != XXH3_64bits(src, 64)) {
		*reason = "footer: checksum mismatch";
		return ERR_CORRUPT;
	}
	f->version = le_get32(src + 56);
	if (f->version != SST_FORMAT_VERSION || le_get32(src + 60) != 0) {
		*reason = "footer: unsupported format version";
		return ERR_CORRUPT;
	}
	struct sst_handle *h[3] = {&f->index, &f->filter, &f->meta};
	for (int i = 0; i < 3; i++) {
		h[i]->offset = le_get64(src + 16 * i);
		h[i]->size = le_get64(src + 16 * i + 8);
	}
	f->seed = le_get64(src + 48);
	return 0;
}

size_t sst_props_encoded_bytes(const struct sst_props *p)
{
	return SST_PROPS_FIXED_BYTES + p->smallest.len + p->largest.len;
}

void sst_props_encode(uint8_t *dst, const struct sst_props *p)
{
	le_put32(dst, p->format_version);
	le_put32(dst + 4, p->compression);
	uint64_t v[6] = {p->entry_count, p->tombstone_count, p->data_block_count,
	                 p->data_bytes,  p->min_seq,         p->max_seq};
	for (int i = 0; i < 6; i++)
		le_put64(dst + 8 + 8 * i, v[i]);
	le_put32(dst + 56, (uint32_t)p->smallest.len);
	le_put32(dst + 60, (uint32_t)p->largest.len);
	le_put32(dst + 64, 0);
	uint8_t *q = dst + SST_PROPS_FIXED_BYTES;
	if (p->smallest.len)
		memcpy(q, p->smallest.ptr, p->smallest.len);
	if (p->largest.len)
		memcpy(q + p->smallest.len, p->largest.ptr, p->largest.len);
}

int sst_props_decode(const uint8_t *src, size_t len, struct sst_props *p)
{
	if (len < SST_PROPS_FIXED_BYTES)
		return ERR_CORRUPT;
	p->format_version = le_get32(src);
	p->compression = le_get32(src + 4);
	uint64_t *v[6] = {&p->entry_count, &p->tombstone_count, &p->data_block_count,
	                  &p->data_bytes,  &p->min_seq,         &p->max_seq};
	for (int i = 0; i < 6; i++)
		*v[i] = le_get64(src + 8 + 8 * i);
	uint64_t ls = le_get32(src + 56), ll = le_get32(src + 60);
	if (le_get32(src + 64) != 0 || ls + ll != len - SST_PROPS_FIXED_BYTES)
		return ERR_CORRUPT;
	bool empty = p->entry_count == 0;
	if (empty ? (ls || ll) : (ls < IKEY_TRAILER_BYTES || ll < IKEY_TRAILER_BYTES))
		return ERR_CORRUPT;
	if (p->format_version != SST_FORMAT_VERSION || p->compression > SST_COMPRESSION_ZSTD ||
	    p->tombstone_count > p->entry_count || (!empty && p->min_seq > p->max_seq))
		return ERR_CORRUPT;
	p->smallest = bytes_make(src + SST_PROPS_FIXED_BYTES, (size_t)ls);
	p->largest = bytes_make(src + SST_PROPS_FIXED_BYTES + ls, (size_t)ll);
	return 0;
}
