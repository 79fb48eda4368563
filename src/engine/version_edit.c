/*
 * version_edit.c - encoding and decoding of version edits.
 *
 * Layout (docs/formats/manifest.md): fields of varint tag | varint
 * body_bytes | body, in the order comparator, log number, next file, last
 * seq, deletes, adds, compaction pointers. The body length on every field
 * is what makes an unknown optional field skippable; it is redundant for
 * known fields, so a mismatch is a cheap extra corruption check.
 */
#include "engine/version_edit.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "engine/block.h"
#include "engine/ikey.h"

#define IKEY_BYTES_MAX (KEY_BYTES_MAX + IKEY_TRAILER_BYTES)

void version_edit_init(struct version_edit *e)
{
	memset(e, 0, sizeof(*e));
}

void version_edit_deinit(struct version_edit *e)
{
	free(e->adds);
	free(e->dels);
	free(e->blobs);
	memset(e, 0, sizeof(*e));
}

void version_edit_set_comparator(struct version_edit *e)
{
	e->has |= VEDIT_HAS_COMPARATOR;
}

void version_edit_set_log_number(struct version_edit *e, uint64_t n)
{
	e->has |= VEDIT_HAS_LOG_NUMBER;
	e->log_number = n;
}

void version_edit_set_next_file(struct version_edit *e, uint64_t n)
{
	e->has |= VEDIT_HAS_NEXT_FILE;
	e->next_file = n;
}

void version_edit_set_last_seq(struct version_edit *e, uint64_t seq)
{
	e->has |= VEDIT_HAS_LAST_SEQ;
	e->last_seq = seq;
}

void version_edit_set_compact_pointer(struct version_edit *e, uint32_t level, struct bytes ikey)
{
	ASSERT(level < LSM_LEVELS);
	e->pointer_mask |= 1u << level;
	e->compact_pointer[level] = ikey;
}

/* Grows an array of elem-byte items to hold one more. */
static int grow(void **arr, size_t *cap, size_t count, size_t elem)
{
	if (count >= MANIFEST_FILES_MAX)
		return ERR_LIMIT;
	if (count < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return ERR_NOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int version_edit_add_file(struct version_edit *e, const struct vedit_file *f)
{
	ASSERT(f->level < LSM_LEVELS);
	ASSERT(f->smallest.len >= IKEY_TRAILER_BYTES && f->largest.len >= IKEY_TRAILER_BYTES);
	ASSERT(ikey_cmp(f->smallest, f->largest) <= 0);
	ASSERT(f->min_seq <= f->max_seq);
	int rc = grow((void **)&e->adds, &e->add_cap, e->add_count, sizeof(*e->adds));
	if (rc)
		return rc;
	e->adds[e->add_count++] = *f;
	return 0;
}

int version_edit_delete_file(struct version_edit *e, uint32_t level, uint64_t number)
{
	ASSERT(level < LSM_LEVELS);
	int rc = grow((void **)&e->dels, &e->del_cap, e->del_count, sizeof(*e->dels));
	if (rc)
		return rc;
	e->dels[e->del_count].level = level;
	e->dels[e->del_count].number = number;
	e->del_count++;
	return 0;
}

void version_edit_set_blobs_tracked(struct version_edit *e)
{
	e->has |= VEDIT_HAS_BLOBS_TRACKED;
}

int version_edit_blob(struct version_edit *e, const struct vedit_blob *b)
{
	ASSERT(b->op >= VEDIT_BLOB_FILE && b->op <= VEDIT_BLOB_DELETE);
	ASSERT(b->number != 0);
	int rc = grow((void **)&e->blobs, &e->blob_cap, e->blob_count, sizeof(*e->blobs));
	if (rc)
		return rc;
	e->blobs[e->blob_count++] = *b;
	return 0;
}

/* ---- Encoding --------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Reserves and writes a field header; the caller then writes body bytes. */
static int field_begin(struct buf *out, uint64_t tag, size_t body)
{
	int rc = buf_reserve(out, 2 * BLOCK_VARINT64_BYTES_MAX + body, MANIFEST_RECORD_BYTES_MAX);
	if (rc)
		return rc;
	out->len += block_put_varint(out->data + out->len, tag);
	out->len += block_put_varint(out->data + out->len, body);
	return 0;
}

static void put_var(struct buf *out, uint64_t v)
{
	out->len += block_put_varint(out->data + out->len, v);
}

static void put_slice(struct buf *out, struct bytes b)
{
	put_var(out, b.len);
	buf_put(out, b.ptr, b.len);
}

static int put_u64_field(struct buf *out, uint64_t tag, uint64_t v)
{
	int rc = field_begin(out, tag, varint_len(v));
	if (!rc)
		put_var(out, v);
	return rc;
}

static int put_add(struct buf *out, const struct vedit_file *f)
{
	size_t body = varint_len(f->level) + varint_len(f->number) + varint_len(f->size) +
	    varint_len(f->min_seq) + varint_len(f->max_seq) + varint_len(f->blob_refs) +
	    varint_len(f->smallest.len) + f->smallest.len + varint_len(f->largest.len) +
	    f->largest.len;
	int rc = field_begin(out, VEDIT_TAG_ADD_FILE, body);
	if (rc)
		return rc;
	size_t start = out->len;
	put_var(out, f->level);
	put_var(out, f->number);
	put_var(out, f->size);
	put_var(out, f->min_seq);
	put_var(out, f->max_seq);
	put_var(out, f->blob_refs);
	put_slice(out, f->smallest);
	put_slice(out, f->largest);
	ASSERT(out->len - start == body); /* the reader checks the same length */
	return 0;
}

/* The varints of a blob field's body, by op. */
static size_t blob_fields(const struct vedit_blob *b, uint64_t v[6])
{
	v[0] = b->number;
	switch (b->op) {
	case VEDIT_BLOB_FILE:
		v[1] = b->linked_bytes;
		v[2] = b->linked_records;
		v[3] = b->garbage_bytes;
		v[4] = b->garbage_records;
		v[5] = b->sealed ? 1 : 0;
		return 6;
	case VEDIT_BLOB_LINK:
		v[1] = b->linked_bytes;
		v[2] = b->linked_records;
		return 3;
	case VEDIT_BLOB_GARBAGE:
		v[1] = b->garbage_bytes;
		v[2] = b->garbage_records;
		return 3;
	default:
		return 1;
	}
}

static int put_blob(struct buf *out, const struct vedit_blob *b)
{
	uint64_t v[6];
	size_t n = blob_fields(b, v), body = 0;
	for (size_t i = 0; i < n; i++)
		body += varint_len(v[i]);
	int rc = field_begin(out, (uint64_t)b->op, body);
	for (size_t i = 0; !rc && i < n; i++)
		put_var(out, v[i]);
	return rc;
}

static int encode_fields(const struct version_edit *e, struct buf *out)
{
	int rc = 0;
	if (e->has & VEDIT_HAS_COMPARATOR) {
		struct bytes c = bytes_cstr(VEDIT_COMPARATOR);
		rc = field_begin(out, VEDIT_TAG_COMPARATOR, c.len);
		if (!rc)
			buf_put(out, c.ptr, c.len);
	}
	if (!rc && (e->has & VEDIT_HAS_LOG_NUMBER))
		rc = put_u64_field(out, VEDIT_TAG_LOG_NUMBER, e->log_number);
	if (!rc && (e->has & VEDIT_HAS_NEXT_FILE))
		rc = put_u64_field(out, VEDIT_TAG_NEXT_FILE, e->next_file);
	if (!rc && (e->has & VEDIT_HAS_LAST_SEQ))
		rc = put_u64_field(out, VEDIT_TAG_LAST_SEQ, e->last_seq);
	for (size_t i = 0; !rc && i < e->del_count; i++) {
		const struct vedit_delete *d = &e->dels[i];
		rc = field_begin(out, VEDIT_TAG_DELETE_FILE,
		                 varint_len(d->level) + varint_len(d->number));
		if (!rc) {
			put_var(out, d->level);
			put_var(out, d->number);
		}
	}
	for (size_t i = 0; !rc && i < e->add_count; i++)
		rc = put_add(out, &e->adds[i]);
	if (!rc && (e->has & VEDIT_HAS_BLOBS_TRACKED))
		rc = field_begin(out, VEDIT_TAG_BLOBS_TRACKED, 0);
	for (size_t i = 0; !rc && i < e->blob_count; i++)
		rc = put_blob(out, &e->blobs[i]);
	for (uint32_t l = 0; !rc && l < LSM_LEVELS; l++) {
		if (!(e->pointer_mask & (1u << l)))
			continue;
		struct bytes k = e->compact_pointer[l];
		rc = field_begin(out, VEDIT_TAG_COMPACT_POINTER,
		                 varint_len(l) + varint_len(k.len) + k.len);
		if (!rc) {
			put_var(out, l);
			put_slice(out, k);
		}
	}
	return rc;
}

int version_edit_encode(const struct version_edit *e, struct buf *out)
{
	size_t old_len = out->len;
	int rc = encode_fields(e, out);
	if (rc)
		out->len = old_len; /* no half-encoded edit is ever left behind */
	return rc;
}

/* ---- Decoding --------------------------------------------------------- */

struct cursor {
	const uint8_t *p, *end;
};

static bool get_var(struct cursor *c, uint64_t *v)
{
	return block_get_varint(&c->p, c->end, v);
}

static bool get_level(struct cursor *c, uint32_t *level)
{
	uint64_t v;
	if (!get_var(c, &v) || v >= LSM_LEVELS)
		return false;
	*level = (uint32_t)v;
	return true;
}

/* An internal key: length bounded by the key limit and the bytes left. */
static bool get_ikey(struct cursor *c, struct bytes *k)
{
	uint64_t n;
	if (!get_var(c, &n) || n < IKEY_TRAILER_BYTES || n > IKEY_BYTES_MAX ||
	    n > (uint64_t)(c->end - c->p))
		return false;
	*k = bytes_make(c->p, (size_t)n);
	c->p += n;
	return true;
}

static int decode_add(struct version_edit *e, struct cursor *c, const char **reason)
{
	struct vedit_file f;
	if (!get_level(c, &f.level) || !get_var(c, &f.number) || !get_var(c, &f.size) ||
	    !get_var(c, &f.min_seq) || !get_var(c, &f.max_seq) || !get_var(c, &f.blob_refs) ||
	    !get_ikey(c, &f.smallest) || !get_ikey(c, &f.largest)) {
		*reason = "malformed add-file field";
		return ERR_CORRUPT;
	}
	if (f.size > SST_TABLE_BYTES_MAX || f.min_seq > f.max_seq || f.max_seq > IKEY_SEQ_MAX ||
	    ikey_cmp(f.smallest, f.largest) > 0 || f.number == 0) {
		*reason = "add-file field out of range";
		return ERR_CORRUPT;
	}
	int rc = grow((void **)&e->adds, &e->add_cap, e->add_count, sizeof(*e->adds));
	if (rc) {
		*reason = "too many files in one edit";
		return rc == ERR_LIMIT ? ERR_CORRUPT : rc;
	}
	e->adds[e->add_count++] = f;
	return 0;
}

static int decode_delete(struct version_edit *e, struct cursor *c, const char **reason)
{
	uint32_t level;
	uint64_t number;
	if (!get_level(c, &level) || !get_var(c, &number)) {
		*reason = "malformed delete-file field";
		return ERR_CORRUPT;
	}
	int rc = version_edit_delete_file(e, level, number);
	if (rc) {
		*reason = "too many files in one edit";
		return rc == ERR_LIMIT ? ERR_CORRUPT : rc;
	}
	return 0;
}

static int decode_blob(struct version_edit *e, enum vedit_blob_op op, struct cursor *c,
                       const char **reason)
{
	struct vedit_blob b = {.op = op};
	uint64_t v[6];
	size_t n = blob_fields(&b, v);
	for (size_t i = 0; i < n; i++) {
		if (!get_var(c, &v[i])) {
			*reason = "malformed blob file field";
			return ERR_CORRUPT;
		}
	}
	b.number = v[0];
	if (op == VEDIT_BLOB_FILE) {
		b.linked_bytes = v[1];
		b.linked_records = v[2];
		b.garbage_bytes = v[3];
		b.garbage_records = v[4];
		b.sealed = v[5] != 0;
	} else if (op == VEDIT_BLOB_LINK) {
		b.linked_bytes = v[1];
		b.linked_records = v[2];
	} else if (op == VEDIT_BLOB_GARBAGE) {
		b.garbage_bytes = v[1];
		b.garbage_records = v[2];
	}
	bool whole = op == VEDIT_BLOB_FILE;
	if (b.number == 0 || (whole && (v[5] > 1 || b.garbage_bytes > b.linked_bytes ||
	                                b.garbage_records > b.linked_records)) ||
	    b.linked_bytes > BLOB_FILE_BYTES_MAX || b.garbage_bytes > BLOB_FILE_BYTES_MAX) {
		*reason = "blob file field out of range";
		return ERR_CORRUPT;
	}
	int rc = version_edit_blob(e, &b);
	if (rc) {
		*reason = "too many blob files in one edit";
		return rc == ERR_LIMIT ? ERR_CORRUPT : rc;
	}
	return 0;
}

/* Sets a scalar field once; a repeated one is corruption. */
static int decode_scalar(struct version_edit *e, unsigned bit, uint64_t *dst, struct cursor *c,
                         const char **reason)
{
	if ((e->has & bit) || !get_var(c, dst)) {
		*reason = "malformed or repeated scalar field";
		return ERR_CORRUPT;
	}
	e->has |= bit;
	return 0;
}

static int decode_field(struct version_edit *e, uint64_t tag, struct cursor *c, const char **reason)
{
	switch (tag) {
	case VEDIT_TAG_COMPARATOR: {
		struct bytes name = bytes_make(c->p, (size_t)(c->end - c->p));
		if ((e->has & VEDIT_HAS_COMPARATOR) ||
		    !bytes_eq(name, bytes_cstr(VEDIT_COMPARATOR))) {
			*reason = "unknown or repeated comparator";
			return ERR_CORRUPT;
		}
		e->has |= VEDIT_HAS_COMPARATOR;
		c->p = c->end;
		return 0;
	}
	case VEDIT_TAG_LOG_NUMBER:
		return decode_scalar(e, VEDIT_HAS_LOG_NUMBER, &e->log_number, c, reason);
	case VEDIT_TAG_NEXT_FILE:
		return decode_scalar(e, VEDIT_HAS_NEXT_FILE, &e->next_file, c, reason);
	case VEDIT_TAG_LAST_SEQ:
		return decode_scalar(e, VEDIT_HAS_LAST_SEQ, &e->last_seq, c, reason);
	case VEDIT_TAG_DELETE_FILE:
		return decode_delete(e, c, reason);
	case VEDIT_TAG_ADD_FILE:
		return decode_add(e, c, reason);
	case VEDIT_TAG_BLOB_FILE:
	case VEDIT_TAG_BLOB_LINK:
	case VEDIT_TAG_BLOB_GARBAGE:
	case VEDIT_TAG_BLOB_SEAL:
	case VEDIT_TAG_BLOB_DELETE:
		return decode_blob(e, (enum vedit_blob_op)tag, c, reason);
	case VEDIT_TAG_BLOBS_TRACKED:
		if (e->has & VEDIT_HAS_BLOBS_TRACKED) {
			*reason = "repeated blob tracking marker";
			return ERR_CORRUPT;
		}
		e->has |= VEDIT_HAS_BLOBS_TRACKED;
		return 0;
	case VEDIT_TAG_COMPACT_POINTER: {
		uint32_t level;
		struct bytes k;
		if (!get_level(c, &level) || !get_ikey(c, &k)) {
			*reason = "malformed compaction pointer";
			return ERR_CORRUPT;
		}
		e->pointer_mask |= 1u << level;
		e->compact_pointer[level] = k;
		return 0;
	}
	default:
		if (tag & VEDIT_TAG_OPTIONAL) {
			c->p = c->end; /* a hint from a newer version: skip it */
			return 0;
		}
		*reason = "unknown required field";
		return ERR_CORRUPT;
	}
}

int version_edit_decode(struct version_edit *e, struct bytes in, const char **reason)
{
	ASSERT(e->has == 0 && e->add_count == 0 && e->del_count == 0 && e->blob_count == 0);
	if (in.len > MANIFEST_RECORD_BYTES_MAX) {
		*reason = "edit over the record limit";
		return ERR_CORRUPT;
	}
	struct cursor c = {in.ptr, in.ptr + in.len};
	/* Bounded: every field consumes at least two bytes of in. */
	while (c.p < c.end) {
		uint64_t tag, body;
		if (!get_var(&c, &tag) || !get_var(&c, &body) || body > (uint64_t)(c.end - c.p)) {
			*reason = "malformed field header";
			return ERR_CORRUPT;
		}
		struct cursor f = {c.p, c.p + body};
		int rc = decode_field(e, tag, &f, reason);
		if (rc)
			return rc;
		if (f.p != f.end) {
			*reason = "field body length mismatch";
			return ERR_CORRUPT;
		}
		c.p += body;
	}
	return 0;
}
