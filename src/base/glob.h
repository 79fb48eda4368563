/*
 * glob.h - Redis-compatible glob matching for KEYS and SCAN MATCH.
 *
 * Supports '*', '?', '[abc]', '[^a]', '[a-z]' and '\' escapes, binary-safe,
 * with an optional ASCII case-insensitive mode. Matching cost is bounded:
 * a pattern with more than GLOB_STARS_MAX '*' runs, or one that would need
 * more than a fixed amount of backtracking, does not match (rather than
 * taking exponential time on an adversarial pattern).
 *
 * Two deliberate differences from Redis's stringmatchlen: a pattern made
 * only of '*' matches the empty string too (Redis's loop never runs on "",
 * though KEYS * returns the empty key because it skips matching), and bytes
 * compare unsigned, so a range such as [\x80-\xff] means what it says.
 */
#ifndef RINGKV_BASE_GLOB_H
#define RINGKV_BASE_GLOB_H

#include <stdbool.h>

#include "base/bytes.h"

bool glob_match(struct bytes pattern, struct bytes s, bool nocase);

/* True when the pattern matches any string ("*", "**", ...): lets SCAN and
 * KEYS skip matching altogether. */
bool glob_matches_all(struct bytes pattern);

#endif
