/*
 * fuzz_member.c - libFuzzer target for the membership codec and state
 * machine (cluster/member_codec.h, cluster/member.h).
 *
 * The input is a sequence of messages, each a 2-byte length then that many
 * bytes. Every message goes to member_msg_decode; one that decodes must
 * encode back to exactly the same bytes (the format has one encoding per
 * message), and is then fed to a membership instance with a tick after it,
 * so that arbitrary gossip (unknown members, any incarnation and status,
 * lies about self) is checked never to crash the state machine or break
 * its bounds. Aborts on any check failure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cluster/member.h"
#include "cluster/member_codec.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);          \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct membership m;
	struct member_info self;
	memset(&self, 0, sizeof(self));
	snprintf(self.name, sizeof(self.name), "self");
	snprintf(self.addr, sizeof(self.addr), "127.0.0.11:16380");
	self.incarnation = 5;
	CHECK(membership_init(&m, &self, NULL, 1) == 0);
	struct buf again;
	buf_init(&again);
	uint64_t now = 0;
	size_t off = 0;
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		off += 2;
		if (len > size - off)
			len = size - off;
		struct bytes in = {data + off, len};
		off += len;
		struct member_msg msg;
		if (member_msg_decode(in, &msg) != 0)
			continue;
		again.len = 0;
		CHECK(member_msg_encode(&msg, &again) == 0);
		CHECK(again.len == len && memcmp(again.data, in.ptr, len) == 0);
		(void)membership_recv(&m, &msg, now);
		free(msg.updates);
		now += 137;
		(void)membership_tick(&m, now);
		CHECK(membership_count(&m) <= MEMBERS_MAX);
		for (size_t i = 0; i < m.out_count; i++)
			CHECK(m.outbox[i].update_count <= MEMBERS_MAX + 1);
		CHECK(membership_find(&m, "self")->status == MEMBER_ALIVE);
		membership_clear_out(&m);
	}
	buf_deinit(&again);
	membership_deinit(&m);
	return 0;
}
