/*
 * embed.c - ringkv's engine inside a program: open a store, put, get,
 * write a batch, iterate, print a few statistics, close.
 *
 *     embed-example DIR
 *
 * Exits 0 when every step did what it should, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <ringkv/engine.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "embed: %s: %s\n", what, rkv_strerror(err));
	return 1;
}

/* Prints every key from "fruit:" on, in order; returns how many. */
static int print_fruit(rkv_db *db, int *count)
{
	rkv_iter *it;
	int err = rkv_iter_create(db, &it);
	if (err)
		return err;
	*count = 0;
	const char *prefix = "fruit:";
	for (rkv_iter_seek(it, prefix, strlen(prefix)); rkv_iter_valid(it); rkv_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rkv_iter_key(it, &klen);
		if (klen < strlen(prefix) || memcmp(k, prefix, strlen(prefix)) != 0)
			break; /* past the prefix */
		const char *v = rkv_iter_value(it, &vlen);
		if (!v)
			break; /* rkv_iter_status says why */
		printf("  %.*s = %.*s\n", (int)klen, k, (int)vlen, v);
		(*count)++;
	}
	err = rkv_iter_status(it);
	rkv_iter_destroy(it);
	return err;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	struct rkv_options opts = {.sync = RKV_SYNC_ALWAYS, .memtable_bytes = 4 << 20};
	char errbuf[256];
	rkv_db *db;
	int err = rkv_open(argv[1], &opts, &db, errbuf, sizeof(errbuf));
	if (err) {
		fprintf(stderr, "embed: %s\n", errbuf);
		return 1;
	}

	/* One key at a time. */
	if ((err = rkv_put(db, "greeting", 8, "hello", 5)))
		return fail("put", err);
	void *val;
	size_t vlen;
	if ((err = rkv_get(db, "greeting", 8, &val, &vlen)))
		return fail("get", err);
	printf("greeting = %.*s\n", (int)vlen, (char *)val);
	int ok = vlen == 5 && memcmp(val, "hello", 5) == 0;
	rkv_free(val);

	/* Several keys at once: all or nothing. */
	rkv_batch *b;
	if ((err = rkv_batch_create(&b)))
		return fail("batch", err);
	err = rkv_batch_put(b, "fruit:banana", 12, "yellow", 6);
	if (!err)
		err = rkv_batch_put(b, "fruit:apple", 11, "red", 3);
	if (!err)
		err = rkv_batch_put(b, "fruit:cherry", 12, "dark red", 8);
	if (!err)
		err = rkv_batch_delete(b, "greeting", 8);
	if (!err)
		err = rkv_write(db, b);
	rkv_batch_destroy(b);
	if (err)
		return fail("write", err);
	ok = ok && rkv_get(db, "greeting", 8, &val, &vlen) == RKV_ERR_NOT_FOUND;

	/* In key order: apple, banana, cherry. */
	printf("fruit:\n");
	int count;
	if ((err = print_fruit(db, &count)))
		return fail("iterate", err);
	ok = ok && count == 3;

	struct rkv_stats st;
	rkv_stats(db, &st);
	printf("user bytes %llu, WAL bytes %llu, WAL syncs %llu (p99 %llu us), write amp %.2f\n",
	       (unsigned long long)st.user_bytes, (unsigned long long)st.wal_bytes,
	       (unsigned long long)st.wal_syncs, (unsigned long long)(st.wal_sync_p99_ns / 1000),
	       st.write_amp);

	rkv_close(db);
	return ok ? 0 : 1;
}
