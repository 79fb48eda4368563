/*
 * limits.h - every bound of ringkv, with the reason for its number.
 *
 * *_DEFAULT is what a node uses unless configured; *_MAX is the largest
 * value the configuration accepts. A breach of a limit is ERR_LIMIT and an
 * error reply to the client: nothing is silently truncated. Limits are
 * checked where data enters, before anything is allocated for it.
 */
#ifndef RINGKV_BASE_LIMITS_H
#define RINGKV_BASE_LIMITS_H

#include <stdint.h>

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/* ---- Client input ---------------------------------------------------- */

/* Largest value (and RESP bulk string): Redis's proto-max-bulk-len default
 * is 512 MiB; we allow raising it to 1 GiB, the largest value the brief
 * promises, and no further so that a value length always fits 32 bits. */
#define VALUE_BYTES_DEFAULT (512 * MIB)
#define VALUE_BYTES_MAX     GIB

/* Largest key. Redis allows 512 MiB keys, but a key is copied into indexes,
 * hints and Merkle leaves; 64 KiB is far above any sane key and keeps those
 * bounded. Raising it past 16 MiB is refused for the same reason. */
#define KEY_BYTES_DEFAULT (64 * KIB)
#define KEY_BYTES_MAX     (16 * MIB)

/* Arguments per command. MSET of a million keys is a legitimate request;
 * argv costs 16 bytes an argument, so 1 Mi args is 16 MiB of index. */
#define ARGS_DEFAULT (1024 * 1024)
#define ARGS_MAX     (64 * 1024 * 1024)

/* Inline (telnet-style) command line: Redis's PROTO_INLINE_MAX_SIZE. */
#define INLINE_BYTES_DEFAULT (64 * KIB)
#define INLINE_BYTES_MAX     (16 * MIB)

/* Length of a RESP header line ("*<n>\r\n", "$<n>\r\n"): 20 digits and the
 * sign fit in far less; anything longer is malformed. */
#define RESP_HEADER_BYTES_MAX 64

/* Unparsed bytes held per client. Must exceed the largest bulk plus its
 * framing; Redis's client-query-buffer-limit default is 1 GiB. */
#define QUERY_BYTES_DEFAULT GIB
#define QUERY_BYTES_MAX     (2 * GIB)

/* Bulk bytes allocated ahead of their arrival: an announced length is
 * trusted only this far, then the buffer grows with the bytes that come. */
#define BULK_PREALLOC_BYTES_MAX (1 * MIB)

/* ---- Clients, buffers, loop ------------------------------------------ */

/* Concurrent client connections: Redis's maxclients default. Each costs a
 * descriptor and a few KiB while idle. */
#define CLIENTS_DEFAULT 10000
#define CLIENTS_MAX     1000000

/* Reply bytes pending for one client past which the server stops reading
 * and executing that client's commands until the client reads (so a client
 * that pipelines without reading holds at most this plus one reply). */
#define OUTPUT_SOFT_BYTES (1 * MIB)

/* Hard cap on one client's pending reply bytes: above it the client is
 * disconnected. It must fit one reply of the largest value. */
#define OUTPUT_BYTES_DEFAULT (2 * GIB)
#define OUTPUT_BYTES_MAX     (64 * GIB)

/* A client whose pending output makes no progress for this long is
 * disconnected: it is not reading, and its memory is held for nothing. */
#define OUTPUT_STALL_MS_DEFAULT 60000

/* Bytes read from a socket in one call: Redis's PROTO_IOBUF_LEN. Larger
 * reads are used while a big bulk is arriving. */
#define READ_CHUNK_BYTES      (16 * KIB)
#define READ_BULK_CHUNK_BYTES (1 * MIB)

/* Commands executed for one client before the loop serves the others. */
#define COMMANDS_PER_TURN 1024

/* Buffers above this are given back after the client goes idle. */
#define IDLE_BUFFER_KEEP_BYTES (64 * KIB)

/* Commands queued in one MULTI: each holds a copy of its arguments. */
#define MULTI_COMMANDS_MAX (1024 * 1024)

/* Keys one client may WATCH at once. */
#define WATCH_KEYS_MAX (64 * 1024)

/* Event loop threads. */
#define THREADS_MAX 256

/* CLIENT SETNAME length. */
#define CLIENT_NAME_BYTES_MAX 256

/* Password length for requirepass/AUTH. */
#define PASSWORD_BYTES_MAX 512

/* Glob patterns nest '*' at most this deep before matching gives up
 * (an adversarial pattern must not cost exponential time). */
#define GLOB_STARS_MAX 32

/* ---- Keyspace -------------------------------------------------------- */

/* Lock stripes (and hash-table shards) of the keyspace. A power of two;
 * enough that threads rarely meet on one stripe. */
#define KEYSPACE_STRIPES 256

/* Buckets moved per rehash step: the pause a resize adds to one request
 * is bounded by this, not by the key count. */
#define REHASH_BUCKETS_PER_STEP 64

/* Active expiry: keys sampled per stripe per round, and the share of one
 * loop thread it may use (Redis: 20 keys, 25%). */
#define EXPIRE_SAMPLE_KEYS 20
#define EXPIRE_CPU_PERCENT 25
#define EXPIRE_HZ          10

/* Largest maxmemory: 1 PiB is far beyond any one machine, and leaves
 * headroom so that used + a value size never overflows in the checks. */
#define MAXMEMORY_BYTES_MAX ((int64_t)1 << 50)

/* ---- Storage engine -------------------------------------------------- */

/* Length of a file path handed to env_fs, terminator included: Linux's
 * PATH_MAX, so every path the OS accepts fits and a buffer for one can live
 * on the stack. */
#define FS_PATH_BYTES_MAX 4096

/* WAL block: the unit a torn or corrupt region costs at most (a reader
 * resynchronises at the next block). 32 KiB as in LevelDB: small enough
 * that a damaged block loses little, large enough that the 12-byte fragment
 * header and block padding stay under 0.1% of the log. Changing it changes
 * the file format (it is recorded in the log header and checked). */
#define WAL_BLOCK_BYTES (32 * KIB)

/* Largest WAL record (one write batch of the engine). A record must hold
 * the largest value plus its key and the batch's framing, so the default
 * follows VALUE_BYTES_DEFAULT and the maximum VALUE_BYTES_MAX; 1 MiB of
 * headroom covers a maximal key and the batch encoding. The reader checks
 * the limit as fragments arrive, before growing its buffer, so a damaged
 * log never makes it allocate more than this. */
#define WAL_RECORD_BYTES_DEFAULT (VALUE_BYTES_DEFAULT + KEY_BYTES_MAX + 1 * MIB)
#define WAL_RECORD_BYTES_MAX     (VALUE_BYTES_MAX + KEY_BYTES_MAX + 1 * MIB)

/* The WAL writer stages encoded fragments in a buffer of this size and
 * hands it to one append when full or at the end of wal_append: 8 blocks
 * make a group commit of small records one write call, while a huge record
 * streams through without a copy of its own size. Allocated once at open. */
#define WAL_WRITE_BUFFER_BYTES (8 * WAL_BLOCK_BYTES)

/* ---- Memtable (engine/memtable.h, engine/arena.h) ---------------------- */

/* Memtable size at which the engine makes it immutable and flushes it, as
 * counted by memtable_bytes() (arena blocks, headers included). 64 MiB as
 * RocksDB's write_buffer_size: big enough that a flush writes a few large
 * SSTables, small enough that WAL replay after a crash takes well under a
 * second per memtable. The maximum bounds that replay time and the memory
 * two memtables (mutable + flushing) hold. */
#define MEMTABLE_BYTES_DEFAULT (64 * MIB)
#define MEMTABLE_BYTES_MAX     (4 * GIB - 1)

/* Arena block: 1 MiB makes a 64 MiB memtable 64 mallocs, which glibc and
 * jemalloc serve from mmap'd memory given back to the OS on free; an
 * allocation above a quarter block gets its own block, so the unused tail
 * of a block is under 256 KiB. */
#define ARENA_BLOCK_BYTES_DEFAULT (1 * MIB)

/* Skip-list tower height, with a 1-in-4 chance of each extra level: 4^12
 * = 16 Mi entries are searched in O(log n) steps, more than a 64 MiB
 * memtable of tiny entries holds (LevelDB uses the same 12 and 4). */
#define MEMTABLE_HEIGHT_MAX 12
#define MEMTABLE_BRANCHING  4

/* ---- SSTables, bloom filters, block cache (engine/sst.h, bloom.h,
 * cache.h; docs/formats/sst.md) ------------------------------------- */

/* Target size of an SST data block before compression: 4 KiB, a page, as
 * in LevelDB: a point read decodes one block, so small blocks keep reads
 * cheap, while the index stays small (one entry per block). Configurable
 * from 256 B (smaller blocks make the index as large as the data) to
 * 1 MiB (larger ones make every point read decode a megabyte). */
#define SST_BLOCK_BYTES_DEFAULT (4 * KIB)
#define SST_BLOCK_BYTES_MIN     256
#define SST_BLOCK_BYTES_MAX     (1 * MIB)

/* Largest decoded data block: a block holds whole entries, so one entry of
 * a maximal key and value (until blob separation keeps large values out of
 * tables) makes a block of its own past the target. The reader checks a
 * stored or decompressed length against this before allocating. */
#define SST_BLOCK_RAW_BYTES_MAX (SST_BLOCK_BYTES_MAX + KEY_BYTES_MAX + VALUE_BYTES_MAX + 64)

/* Index, filter and properties blocks are read whole at open and held
 * while the table is open. 256 MiB covers a filter of 200 million keys at
 * 10 bits a key, far beyond the tables compaction makes (tens of MiB). */
#define SST_AUX_BLOCK_BYTES_MAX (256 * MIB)

/* Largest table file: compaction writes tables of tens of MiB; 64 GiB
 * bounds what one damaged footer can make the reader believe. */
#define SST_TABLE_BYTES_MAX (64 * GIB)

/* Entries between restart points in a data block: a seek binary-searches
 * the restarts, then decodes at most this many entries. 16 as in LevelDB:
 * prefix compression still pays, the scan stays short. */
#define SST_RESTART_INTERVAL 16

/* Bloom bits per key: 10 gives about 1% false positives; 32 is ~1e-6%,
 * past which a larger filter costs memory for nothing. */
#define BLOOM_BITS_PER_KEY_DEFAULT 10
#define BLOOM_BITS_PER_KEY_MAX     32

/* Block cache: 64 MiB by default (LevelDB's 8 MiB is small for a server).
 * Shards (a power of two) each with its own mutex, so readers on different
 * threads rarely meet on one lock. */
#define BLOCK_CACHE_BYTES_DEFAULT (64 * MIB)
#define BLOCK_CACHE_SHARDS        16

/* ---- Blob files (engine/blob.h; docs/formats/blob.md) ----------------- */

/* Values of at least this many bytes are separated into blob files: at
 * 4 KiB a value is a page, so its pointer (under 30 bytes) saves
 * compaction nearly all of it, while smaller values stay in the tree where
 * a point read costs one block (WiscKey and Titan use similar cut-offs). */
#define BLOB_VALUE_BYTES_MIN_DEFAULT (4 * KIB)

/* Size at which the engine rolls over to a new blob file: 256 MiB keeps
 * the file count low (a 1 TiB store is 4k files), and GC of one file
 * copies at most this much. A single record may make a file larger. */
#define BLOB_FILE_BYTES_DEFAULT (256 * MIB)

/* Largest blob file a reader believes: one record of the largest key and
 * value past the roll-over size, with headroom; bounds what a damaged
 * size or pointer can make the reader attempt. */
#define BLOB_FILE_BYTES_MAX (64 * GIB)

/* Piece of a value handed to one env append or read_at, and the one
 * buffer a streamed read holds: 1 MiB amortises the call cost while a
 * 1 GiB value never needs a second copy of itself. */
#define BLOB_IO_CHUNK_BYTES (1 * MIB)

/* Staging buffer of a blob writer: a record whose header, key and value
 * fit is one append; larger ones go straight from the caller's memory. */
#define BLOB_WRITE_BUFFER_BYTES (64 * KIB)

/* ---- Manifest and versions (engine/manifest.h, version_edit.h;
 * docs/formats/manifest.md) ----------------------------------------- */

/* Levels of the LSM tree: L0 plus six sorted levels. With a 10x fan-out
 * and a 256 MiB L1, L6 holds ~250 TiB, beyond any one node (LevelDB: 7). */
#define LSM_LEVELS 7

/* Largest manifest record (one version edit). The snapshot edit that opens
 * every manifest lists every live file, ~100 bytes plus two keys a file,
 * so 64 MiB holds several hundred thousand tables of short keys; a state
 * that does not fit is ERR_LIMIT on writing, never a truncated record. The
 * reader checks it before growing its buffer. */
#define MANIFEST_RECORD_BYTES_MAX (64 * MIB)

/* Files in one version (and added by one edit): 1 Mi tables of 64 MiB is
 * 64 TiB. Bounds what a damaged manifest can make recovery allocate. */
#define MANIFEST_FILES_MAX (1024 * 1024)

/* A manifest past this size is replaced by a new one that starts with a
 * snapshot, so replay at startup reads at most about this much (RocksDB's
 * max_manifest_file_size is 1 GiB; edits are small, 64 MiB is ~500k). */
#define MANIFEST_ROLL_BYTES_DEFAULT (64 * MIB)

/* Directory entries recovery examines for orphans and missing files: the
 * live files plus generous room for leftovers; more is ERR_LIMIT. */
#define MANIFEST_DIR_ENTRIES_MAX (4 * MANIFEST_FILES_MAX)

/* ---- Engine core (engine/lsm.h) ---------------------------------- */

/* L0 tables that trigger a compaction of all of L0 into L1: each L0 table
 * costs every get a filter probe, and 4 (LevelDB's trigger) keeps that
 * small while letting a compaction merge several flushes at once. */
#define LSM_L0_COMPACTION_TRIGGER 4

/* ... but while L1 holds more bytes than L0, an L0 compaction would mostly
 * rewrite L1 (random keys overlap all of it), so L0 waits until it holds
 * as many bytes as L1 or this many tables, whichever comes first. Merging
 * up to 8 flushes per rewrite of L1 about halves what filling a store
 * rewrites, for at most 4 more filter probes per get (RocksDB scores L0
 * by its bytes against the base level the same way). */
#define LSM_L0_COMPACTION_TRIGGER_MAX 8

/* ... and gets that probe L0 tables in vain (the key was deeper, or
 * nowhere) make L0 due at LSM_L0_COMPACTION_TRIGGER tables again once
 * they have wasted one probe per this many bytes the compaction would
 * write (L0 and L1): LevelDB's seek compaction, with its estimate that
 * one wasted lookup costs about what compacting 16 KiB does. A store
 * that is read keeps a short L0; one that is only written merges more
 * flushes at a time. */
#define LSM_SEEK_COMPACTION_BYTES (16 * KIB)

/* L0 tables past which the background thread stops flushing in the middle
 * of a compaction (lsm_compact.c): the flush then waits for the compaction
 * to end and writers stall behind the immutable memtable. A long L0->L1
 * compaction lets L0 grow while it runs, so the next one merges more
 * flushes per rewrite of L1; this bounds what a get then probes (LevelDB
 * stops writes at 12 L0 tables, RocksDB at 36). */
#define LSM_L0_STOP_TRIGGER 12

/* Highest nice value the flush/compaction thread may be given
 * (lsm_options.background_nice, the background-nice setting): Linux's. */
#define LSM_BACKGROUND_NICE_MAX 19

/* Merged entries between two looks, by a running compaction, at a pending
 * flush and at lsm_close: a mutex round trip per ~100 KiB of small entries
 * costs nothing, and a close waits at most a few milliseconds. */
#define LSM_COMPACTION_CHECK_ENTRIES 1024

/* Target size of L1; level n >= 1 targets LSM_L1_BYTES_DEFAULT * 10^(n-1)
 * (LSM_LEVEL_FANOUT): 256 MiB makes L1 four default memtables. */
#define LSM_L1_BYTES_DEFAULT (256 * MIB)
#define LSM_LEVEL_FANOUT     10

/* Compaction output tables are cut at about this size: 64 MiB, one
 * memtable, so a compaction of one table into the next level rewrites
 * ~11 tables (LevelDB: 2 MiB, RocksDB: 64 MiB). */
#define LSM_TABLE_BYTES_DEFAULT (64 * MIB)

/* Values of this size or more go to blob files (the BLOB_THRESHOLD of the
 * design; the same 4 KiB as the blob module's default). */
#define BLOB_THRESHOLD BLOB_VALUE_BYTES_MIN_DEFAULT

/* Entries in one write batch: bounds what one WAL record decodes into. */
#define LSM_BATCH_ENTRIES_MAX (1024 * 1024)

/* Bytes of batches one group-commit leader writes for its followers: large
 * enough that one fsync covers many clients, small enough that a small
 * write queued behind a leader is not held back by megabytes (LevelDB:
 * 1 MiB). */
#define LSM_GROUP_COMMIT_BYTES_MAX (1 * MIB)

/* How long a writer waits for the flush of the previous memtable before it
 * gives up with ERR_AGAIN: a bounded stall, not an unbounded memtable. */
#define LSM_WRITE_STALL_MS_DEFAULT 10000

/* sync=everysec: how often the background syncer fdatasyncs a WAL with
 * unsynced appends. A power cut loses at most about this much of the
 * acknowledged writes (Redis's appendfsync everysec). */
#define LSM_SYNC_INTERVAL_MS_DEFAULT 1000

/* ---- Cluster (cluster/ring.h, dvv.h, wire.h; docs/cluster.md) -------- */

/* Ring partitions (Q): fixed when a cluster is created, a power of two so
 * that a key's partition is the top bits of its hash. 256 gives each of up
 * to ~64 nodes several partitions, so ownership can move in small steps
 * (Riak's ring_creation_size default is 64; Dynamo suggests Q >> S*N). The
 * maximum keeps an owner table at 128 KiB and a partition id in 16 bits;
 * the minimum leaves room for a preference list of RING_REPLICAS_MAX. */
#define RING_PARTITIONS_DEFAULT 256
#define RING_PARTITIONS_MIN     16
#define RING_PARTITIONS_MAX     65536

/* Members of one ring. Gossip carries the whole member list, and Dynamo-
 * style full membership stops scaling in the low thousands; 1024 keeps a
 * gossip message under a megabyte. Member ids are 16 bits; 0xffff is
 * reserved for "no member". */
#define RING_MEMBERS_MAX 1024

/* Member name (unique, for operators), address ("host:port" or a DNS name
 * of at most 253 bytes plus a port) and zone (rack or availability zone). */
#define RING_NAME_BYTES_MAX 64
#define RING_ADDR_BYTES_MAX 264
#define RING_ZONE_BYTES_MAX 64

/* Claim weight of one member, 1..RING_WEIGHT_MAX: relative capacities of
 * machines in one cluster differ by far less than 1000x. */
#define RING_WEIGHT_MAX 1000

/* Replicas per key (N) a preference list may ask for: Dynamo runs N = 3;
 * 16 bounds the fan-out of one request and the stack of a list. */
#define RING_REPLICAS_MAX 16

/* Encoded ring: the 32-byte header, every member at its largest, and the
 * owner table at its largest. Checked by the decoder before anything. */
#define RING_ENCODED_BYTES_MAX                                                                     \
	(32 + RING_MEMBERS_MAX * (10 + RING_NAME_BYTES_MAX + RING_ADDR_BYTES_MAX +               \
	                          RING_ZONE_BYTES_MAX) +                                           \
	 2 * RING_PARTITIONS_MAX)

/* Entries (replica ids) in one version vector of a key. Only coordinators
 * of writes add entries: the N preferred replicas and the fallbacks of
 * sloppy quorums, over the key's life. 64 is ten times N=3 with room for
 * replaced nodes; entries are never pruned (docs/cluster.md), so a key
 * that would need more refuses the write with ERR_LIMIT. */
#define DVV_REPLICAS_MAX 64

/* Concurrent values (siblings) of one key. Past the warning count the
 * coordinator logs the key (a client is writing without its context);
 * the hard maximum bounds what one read returns and one state holds, and
 * an update or merge that would pass it is ERR_LIMIT (the caller then
 * resolves by LWW). Riak warns at 25 and refuses at 100. */
#define DVV_SIBLINGS_WARN 25
#define DVV_SIBLINGS_MAX  100
/* A client's write (replica_update) that would leave more siblings than
 * this fails; merges (replication, read repair, handoff) may go up to
 * DVV_SIBLINGS_MAX, so the siblings written on both sides of a partition
 * still join when it heals. */
#define DVV_SIBLINGS_WRITE_MAX 64

/* Keys of one multi-key command (MGET, MSET, DEL, EXISTS) in a cluster:
 * each key is one quorum request, so one command may not fill the
 * coordinator's queue (COORD_INFLIGHT_MAX) by itself. */
#define CLUSTER_MULTI_KEYS_MAX 1024

/* Replicas in one PN-counter: as DVV_REPLICAS_MAX. */
#define PNCOUNTER_REPLICAS_MAX DVV_REPLICAS_MAX

/* ---- Hinted handoff (cluster/hintlog.h, net/cluster_hints.c) -------- */

/* Records of one target in flight (sent, not yet acked). Handoff to one
 * target is a stream of replica writes; 64 outstanding keep a link busy
 * without letting one target hold unbounded memory. */
#define HINTLOG_INFLIGHT_MAX 64

/* Targets with hints: every member of a ring but this node. */
#define HINTLOG_TARGETS_MAX RING_MEMBERS_MAX

/* Segment size: a fully delivered segment is removed whole, so 4 MiB frees
 * space in small steps while keeping the file count low (1 GiB of backlog
 * is 256 files). One record larger than a segment gets a segment alone. */
#define HINTLOG_SEGMENT_BYTES_DEFAULT (4 * MIB)
#define HINTLOG_SEGMENT_BYTES_MIN     (4 * KIB)
#define HINTLOG_SEGMENT_BYTES_MAX     (1 * GIB)

/* Segments of one target: 64 GiB of default segments; an append that
 * needs one more is refused (ERR_LIMIT). */
#define HINTLOG_SEGMENTS_MAX 16384

/* Record bytes pending per target (cluster-hint-max-bytes): a node that
 * is down for hours under heavy writes must not fill its fallbacks'
 * disks; past the bound, writes for it are refused (the fallback counts as
 * a failed replica) and the owner catches up by read repair. 256 MiB holds
 * about a million small writes. */
#define HINTLOG_PENDING_BYTES_DEFAULT (256 * MIB)
#define HINTLOG_PENDING_BYTES_MAX     (1024 * GIB)

/* Encoded state of a hint: a DVV with its siblings' values; the largest
 * value plus room for the version and sibling framing. Lengths are u32 on
 * disk, which these fit. */
#define HINTLOG_STATE_BYTES_DEFAULT (VALUE_BYTES_DEFAULT + 1 * MIB)
#define HINTLOG_STATE_BYTES_MAX     (VALUE_BYTES_MAX + 1 * MIB)

/* Hints older than this are dropped unsent (cluster-hint-max-age): a node
 * down for longer catches up by read repair, as in Cassandra, whose
 * max_hint_window is 3 hours. The maximum is 30 days. */
#define HINTLOG_MAX_AGE_S_DEFAULT 10800
#define HINTLOG_MAX_AGE_S_MAX     (30 * 86400)

/* Tombstone collection (net/cluster_gc.c). A deleted key's tombstone is
 * kept at least cluster-tombstone-grace seconds, and never less than a
 * hint may wait (cluster-hint-max-age) plus twice cluster-timeout: a hint
 * or a delayed replica message carrying the deleted value must not find
 * the tombstone gone. One day by default (Cassandra's gc_grace_seconds is
 * ten days, but it has no check that every replica holds the tombstone). */
#define TOMBSTONE_GRACE_S_DEFAULT 86400
#define TOMBSTONE_GRACE_S_MAX     (365 * 86400)
/* Keys the collector examines per second (cluster-tombstone-scan-rate). */
#define GC_SCAN_RATE_DEFAULT 1000
#define GC_SCAN_RATE_MAX     1000000
/* Keys the collector examines in one tick of the cluster thread. */
#define GC_TICK_KEYS_MAX 256
/* Tombstones being checked with the other replicas at once. */
#define GC_CHECKS_MAX 16
/* Keys one scan step may hand the collector; more are left for later. */
#define GC_BATCH_KEYS_MAX 256

/* Expired records skipped by one hintlog_next before it gives up with
 * ERR_AGAIN (a bounded slice of work per call, STYLE.md 7). */
#define HINTLOG_EXPIRED_PER_CALL 1024

/* Directory entries recovery accepts (ERR_LIMIT beyond). */
#define HINTLOG_DIR_ENTRIES_MAX (1024 * 1024)

/* Internode frame payload. A replica write carries a key and its value
 * (and the key's version, whose siblings hold values too), so the default
 * follows the value limit with room for a maximal key and the version; the
 * maximum is what the 32-bit length field can say. The decoder grows its
 * buffer with the bytes that arrive, up to the configured cap, never to an
 * announced length. */
#define WIRE_FRAME_BYTES_DEFAULT (VALUE_BYTES_DEFAULT + KEY_BYTES_MAX + 1 * MIB)
#define WIRE_FRAME_BYTES_MAX     ((uint64_t)UINT32_MAX)

/* Payload of a control frame (gossip): a full member list and an encoded
 * ring fit in well under 4 MiB, so a larger one is refused from its header
 * before any of it is buffered. */
#define WIRE_CONTROL_BYTES_MAX (4 * MIB)

#endif
