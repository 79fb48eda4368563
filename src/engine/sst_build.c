/*
 * sst_build.c - writes an SSTable (sst.h; layout in docs/formats/sst.md).
 *
 * Entries go into a block builder; a full block (past the target size) is
 * compressed when that saves at least 1/8, checksummed and staged in an
 * output buffer that is handed to the env in SST_WRITE_BUFFER_BYTES
 * appends, so that small blocks do not cost a write call each. The user
 * key hashes are kept (8 bytes a distinct user key) for the filter, which
 * is built at finish. After any env failure the builder is failed: the
 * file's tail is unknown, so nothing more is written.
 */
#include <lz4.h>
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

/* Staged output handed to the env per append: large enough that 4 KiB
 * blocks cost one write call per 16, small enough to be nothing. */
#define SST_WRITE_BUFFER_BYTES (64 * KIB)

/* zstd level 1: flushes and compactions are on the write path, and level
 * 1 keeps most of the ratio at several times the speed of the default. */
#define SST_ZSTD_LEVEL 1

struct sst_builder {
	struct env_fs *fs;
	struct env_file *file;
	char *path;
	uint64_t seed;
	uint32_t block_bytes, bits_per_key;
	enum sst_compression compression;
	ZSTD_CCtx *zstd;
	struct block_builder data, index;
	struct buf out;      /* staged file bytes */
	struct buf scratch;  /* compression output, filter, properties */
	struct buf last_key; /* the previous internal key */
	struct buf smallest; /* the first internal key */
	uint64_t offset;     /* file bytes appended or staged */
	uint64_t *hashes;
	size_t hash_count, hash_cap;
	struct sst_props props;
	int failed;
};

static void release(struct sst_builder *b, bool remove_file)
{
	if (b->file)
		env_fs_close(b->fs, b->file);
	if (remove_file)
		env_fs_remove(b->fs, b->path); /* best effort: an orphan is collected later */
	ZSTD_freeCCtx(b->zstd);
	block_builder_deinit(&b->data);
	block_builder_deinit(&b->index);
	buf_deinit(&b->out);
	buf_deinit(&b->scratch);
	buf_deinit(&b->last_key);
	buf_deinit(&b->smallest);
	free(b->hashes);
	free(b->path);
	free(b);
}

static int options_check(const struct sst_options *opt, uint32_t *block, uint32_t *bits)
{
	*block = opt->block_bytes ? opt->block_bytes : SST_BLOCK_BYTES_DEFAULT;
	*bits = opt->bloom_bits_per_key ? opt->bloom_bits_per_key : BLOOM_BITS_PER_KEY_DEFAULT;
	if (*block < SST_BLOCK_BYTES_MIN || *block > SST_BLOCK_BYTES_MAX ||
	    *bits > BLOOM_BITS_PER_KEY_MAX || opt->compression > SST_COMPRESSION_ZSTD)
		return ERR_INVALID;
	return 0;
}

int sst_builder_init(struct sst_builder **out, struct env_fs *fs, const char *path,
                     const struct sst_options *opt)
{
	ASSERT(out && fs && path && opt);
	uint32_t block, bits;
	int rc = options_check(opt, &block, &bits);
	if (rc)
		return rc;
	size_t plen = strnlen(path, FS_PATH_BYTES_MAX);
	if (plen >= FS_PATH_BYTES_MAX)
		return ERR_LIMIT;
	struct sst_builder *b = calloc(1, sizeof(*b));
	if (!b)
		return ERR_NOMEM;
	b->fs = fs;
	b->seed = opt->seed;
	b->block_bytes = block;
	b->bits_per_key = bits;
	b->compression = opt->compression;
	block_builder_init(&b->data, SST_RESTART_INTERVAL);
	block_builder_init(&b->index, 1); /* few entries: binary search on every key */
	b->path = malloc(plen + 1);
	if (!b->path ||
	    (opt->compression == SST_COMPRESSION_ZSTD && !(b->zstd = ZSTD_createCCtx()))) {
		release(b, false);
		return ERR_NOMEM;
	}
	memcpy(b->path, path, plen + 1);
	b->props.format_version = SST_FORMAT_VERSION;
	b->props.compression = opt->compression;
	rc = env_fs_open(fs, path, ENV_FS_CREATE | ENV_FS_TRUNCATE, &b->file);
	if (rc) {
		release(b, false);
		return rc;
	}
	*out = b;
	return 0;
}

static int out_flush(struct sst_builder *b)
{
	if (b->out.len == 0)
		return 0;
	int rc = env_fs_append(b->fs, b->file, b->out.data, b->out.len);
	b->out.len = 0;
	return rc;
}

/* Compresses raw into scratch as u32 raw length | compressed bytes.
 * Returns the stored length, or 0 when compression is not worth it. */
static size_t compress_block(struct sst_builder *b, struct bytes raw)
{
	size_t bound = b->compression == SST_COMPRESSION_LZ4
	    ? (size_t)LZ4_compressBound((int)raw.len)
	    : ZSTD_compressBound(raw.len);
	b->scratch.len = 0;
	if (bound == 0 || buf_reserve(&b->scratch, 4 + bound, SIZE_MAX))
		return 0; /* store uncompressed: correct, just larger */
	uint8_t *dst = b->scratch.data + 4;
	size_t n;
	if (b->compression == SST_COMPRESSION_LZ4) {
		int r = LZ4_compress_default((const char *)raw.ptr, (char *)dst, (int)raw.len,
		                             (int)bound);
		n = r > 0 ? (size_t)r : 0;
	} else {
		n = ZSTD_compressCCtx(b->zstd, dst, bound, raw.ptr, raw.len, SST_ZSTD_LEVEL);
		n = ZSTD_isError(n) ? 0 : n;
	}
	/* Keep compression only when it saves at least 1/8: below that the
	 * decompression cost on every read outweighs the space. */
	if (n == 0 || 4 + n > raw.len - raw.len / 8)
		return 0;
	le_put32(b->scratch.data, (uint32_t)raw.len);
	return 4 + n;
}

/* Stages a block (compressed if allowed and worth it) and its trailer. */
static int write_block(struct sst_builder *b, struct bytes raw, bool compress, struct sst_handle *h)
{
	uint8_t type = SST_COMPRESSION_NONE;
	struct bytes stored = raw;
	if (compress && b->compression != SST_COMPRESSION_NONE) {
		size_t n = compress_block(b, raw);
		if (n) {
			type = (uint8_t)b->compression;
			stored = bytes_make(b->scratch.data, n);
		}
	}
	if (b->offset + stored.len + SST_TRAILER_BYTES > SST_TABLE_BYTES_MAX)
		return ERR_LIMIT;
	int rc = buf_reserve(&b->out, stored.len + SST_TRAILER_BYTES, SIZE_MAX);
	if (rc)
		return rc;
	uint8_t trailer[SST_TRAILER_BYTES];
	trailer[0] = type;
	le_put64(trailer + 1, sst_block_checksum(stored.ptr, stored.len, b->seed, b->offset, type));
	buf_put(&b->out, stored.ptr, stored.len);
	buf_put(&b->out, trailer, SST_TRAILER_BYTES);
	h->offset = b->offset;
	h->size = stored.len;
	b->offset += stored.len + SST_TRAILER_BYTES;
	return b->out.len >= SST_WRITE_BUFFER_BYTES ? out_flush(b) : 0;
}

static int flush_data_block(struct sst_builder *b)
{
	struct bytes raw;
	struct sst_handle h;
	int rc = block_builder_finish(&b->data, &raw);
	if (!rc)
		rc = write_block(b, raw, true, &h);
	if (rc)
		return rc;
	uint8_t hv[2 * BLOCK_VARINT64_BYTES_MAX];
	size_t n = block_put_varint(hv, h.offset);
	n += block_put_varint(hv + n, h.size);
	rc = block_builder_add(&b->index, bytes_make(b->last_key.data, b->last_key.len),
	                       bytes_make(hv, n));
	if (rc)
		return rc;
	block_builder_reset(&b->data);
	b->props.data_block_count++;
	b->props.data_bytes += h.size + SST_TRAILER_BYTES;
	return 0;
}

static int hash_user_key(struct sst_builder *b, struct bytes user_key)
{
	if (b->hash_count == b->hash_cap) {
		size_t cap = b->hash_cap ? 2 * b->hash_cap : 1024;
		uint64_t *h = realloc(b->hashes, cap * sizeof(*h));
		if (!h)
			return ERR_NOMEM;
		b->hashes = h;
		b->hash_cap = cap;
	}
	b->hashes[b->hash_count++] = bloom_hash(user_key);
	return 0;
}

/* Records the entry in the properties, the filter and last_key. */
static int note_entry(struct sst_builder *b, struct bytes ikey)
{
	struct bytes user, prev_user;
	uint64_t seq, prev_seq;
	enum ikey_kind kind, prev_kind;
	bool ok = ikey_decode(ikey, &user, &seq, &kind);
	ASSERT(ok && kind <= IKEY_KIND_BLOB);
	bool first = b->props.entry_count == 0;
	struct bytes last = bytes_make(b->last_key.data, b->last_key.len);
	bool same_user = !first && ikey_decode(last, &prev_user, &prev_seq, &prev_kind) &&
	    bytes_eq(user, prev_user);
	int rc = same_user ? 0 : hash_user_key(b, user);
	if (!rc && first)
		rc = buf_reserve(&b->smallest, ikey.len, SIZE_MAX);
	if (!rc)
		rc = buf_reserve(&b->last_key, ikey.len > b->last_key.len ? ikey.len : 0, SIZE_MAX);
	if (rc)
		return rc;
	if (first)
		buf_put(&b->smallest, ikey.ptr, ikey.len);
	b->last_key.len = 0;
	buf_put(&b->last_key, ikey.ptr, ikey.len);
	struct sst_props *p = &b->props;
	p->min_seq = first || seq < p->min_seq ? seq : p->min_seq;
	p->max_seq = first || seq > p->max_seq ? seq : p->max_seq;
	p->tombstone_count += kind == IKEY_KIND_DELETE;
	p->entry_count++;
	return 0;
}

int sst_builder_add(struct sst_builder *b, struct bytes ikey, struct bytes value)
{
	ASSERT(b && ikey.len >= IKEY_TRAILER_BYTES);
	if (b->failed)
		return b->failed;
	if (ikey.len - IKEY_TRAILER_BYTES > KEY_BYTES_MAX || value.len > VALUE_BYTES_MAX + 9)
		return ERR_LIMIT;
	/* Order is the caller's promise (a flush or a merge): a violation is
	 * a bug that would make the table unsearchable. */
	ASSERT(b->props.entry_count == 0 ||
	       ikey_cmp(bytes_make(b->last_key.data, b->last_key.len), ikey) < 0);
	int rc = block_builder_add(&b->data, ikey, value);
	if (!rc)
		rc = note_entry(b, ikey);
	if (!rc && block_builder_size(&b->data) >= b->block_bytes)
		rc = flush_data_block(b);
	if (rc)
		b->failed = rc;
	return rc;
}

/* Filter, properties, index and footer; then sync. */
static int write_tail(struct sst_builder *b)
{
	struct sst_footer f = {.seed = b->seed, .version = SST_FORMAT_VERSION};
	int rc = b->data.entry_count ? flush_data_block(b) : 0;
	size_t n = bloom_encoded_bytes(b->hash_count, b->bits_per_key);
	b->scratch.len = 0;
	if (!rc)
		rc = buf_reserve(&b->scratch, n, SIZE_MAX);
	if (rc)
		return rc;
	bloom_build(b->scratch.data, n, b->hashes, b->hash_count, b->bits_per_key);
	if ((rc = write_block(b, bytes_make(b->scratch.data, n), false, &f.filter)))
		return rc;
	b->props.smallest = bytes_make(b->smallest.data, b->smallest.len);
	b->props.largest = bytes_make(b->last_key.data, b->last_key.len);
	n = sst_props_encoded_bytes(&b->props);
	b->scratch.len = 0;
	if ((rc = buf_reserve(&b->scratch, n, SIZE_MAX)))
		return rc;
	sst_props_encode(b->scratch.data, &b->props);
	struct bytes raw;
	if ((rc = write_block(b, bytes_make(b->scratch.data, n), false, &f.meta)) ||
	    (rc = block_builder_finish(&b->index, &raw)) ||
	    (rc = write_block(b, raw, false, &f.index)) ||
	    (rc = buf_reserve(&b->out, SST_FOOTER_BYTES, SIZE_MAX)))
		return rc;
	sst_footer_encode(b->out.data + b->out.len, &f);
	b->out.len += SST_FOOTER_BYTES;
	b->offset += SST_FOOTER_BYTES;
	if ((rc = out_flush(b)) || (rc = env_fs_sync(b->fs, b->file)))
		return rc;
	return 0;
}

int sst_builder_finish(struct sst_builder *b, uint64_t *file_bytes)
{
	ASSERT(b);
	int rc = b->failed ? b->failed : write_tail(b);
	if (rc) {
		release(b, true);
		return rc;
	}
	uint64_t size = b->offset;
	rc = env_fs_close(b->fs, b->file);
	b->file = NULL;
	release(b, rc != 0);
	if (!rc && file_bytes)
		*file_bytes = size;
	return rc;
}

void sst_builder_abandon(struct sst_builder *b)
{
	if (b)
		release(b, true);
}
