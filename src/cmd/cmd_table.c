/*
 * cmd_table.c - the command table: names, arities, flags and key positions
 * as Redis 7 declares them (so COMMAND INFO matches what clients expect),
 * plus ringkv's own commands.
 */
#include "cmd/cmd.h"
#include "cmd/cmd_internal.h"

#define R  CMD_READONLY
#define W  CMD_WRITE
#define F  CMD_FAST
#define A  CMD_ADMIN
#define NA CMD_NOAUTH
#define NM CMD_NOMULTI
#define G  CMD_GLOBAL
#define NC CMD_NOCREATE

#define C(name, arity, flags, first, last, step, group, since, summary)                            \
	{                                                                                          \
#name, arity, flags, first, last, step, cmd_##name, group, summary, since          \
	}

const struct cmd_def cmd_table[] = {
    /* connection */
    C(ping, -1, F, 0, 0, 0, "connection", "1.0.0", "Returns the server's liveliness response."),
    C(echo, 2, F, 0, 0, 0, "connection", "1.0.0", "Returns the given string."),
    C(hello, -1, F | NA, 0, 0, 0, "connection", "6.0.0", "Handshakes with the server."),
    C(auth, -2, F | NA, 0, 0, 0, "connection", "1.0.0", "Authenticates the connection."),
    C(select, 2, F, 0, 0, 0, "connection", "1.0.0", "Changes the selected database (0 only)."),
    C(quit, -1, F | NA | NM, 0, 0, 0, "connection", "1.0.0", "Closes the connection."),
    C(reset, 1, F | NA | NM, 0, 0, 0, "connection", "6.2.0", "Resets the connection."),
    C(client, -2, A, 0, 0, 0, "connection", "2.4.0", "Client connection commands."),
    /* string */
    C(get, 2, R | F, 1, 1, 1, "string", "1.0.0", "Returns the string value of a key."),
    C(set, -3, W, 1, 1, 1, "string", "1.0.0", "Sets the string value of a key."),
    C(setnx, 3, W | F, 1, 1, 1, "string", "1.0.0", "Sets a key only if it does not exist."),
    C(setex, 4, W, 1, 1, 1, "string", "2.0.0", "Sets a value and expiry in seconds."),
    C(psetex, 4, W, 1, 1, 1, "string", "2.6.0", "Sets a value and expiry in milliseconds."),
    C(getset, 3, W | F, 1, 1, 1, "string", "1.0.0", "Sets a value and returns the old one."),
    C(getdel, 2, W | F | NC, 1, 1, 1, "string", "6.2.0", "Returns a value and deletes the key."),
    C(getex, -2, W | F, 1, 1, 1, "string", "6.2.0", "Returns a value and changes its expiry."),
    C(mget, -2, R | F, 1, -1, 1, "string", "1.0.0", "Returns the values of several keys."),
    C(mset, -3, W, 1, -1, 2, "string", "1.0.1", "Sets several keys atomically."),
    C(msetnx, -3, W, 1, -1, 2, "string", "1.0.1", "Sets several keys if none exists."),
    C(incr, 2, W | F, 1, 1, 1, "string", "1.0.0", "Increments an integer value by one."),
    C(incrby, 3, W | F, 1, 1, 1, "string", "1.0.0", "Increments an integer value."),
    C(decr, 2, W | F, 1, 1, 1, "string", "1.0.0", "Decrements an integer value by one."),
    C(decrby, 3, W | F, 1, 1, 1, "string", "1.0.0", "Decrements an integer value."),
    C(incrbyfloat, 3, W | F, 1, 1, 1, "string", "2.6.0", "Increments a float value."),
    C(append, 3, W | F, 1, 1, 1, "string", "2.0.0", "Appends to a value."),
    C(strlen, 2, R | F, 1, 1, 1, "string", "2.2.0", "Returns the length of a value."),
    C(getrange, 4, R, 1, 1, 1, "string", "2.4.0", "Returns a substring of a value."),
    C(setrange, 4, W, 1, 1, 1, "string", "2.2.0", "Overwrites part of a value."),
    C(cas, -4, W | F, 1, 1, 1, "string", "ringkv",
      "Sets a key only if it holds an expected value."),
    C(getttl, 2, R | F, 1, 1, 1, "string", "ringkv",
      "Returns a value and its remaining TTL in ms."),
    /* generic */
    C(del, -2, W | NC, 1, -1, 1, "generic", "1.0.0", "Deletes keys."),
    C(unlink, -2, W | F | NC, 1, -1, 1, "generic", "4.0.0", "Deletes keys."),
    C(exists, -2, R | F, 1, -1, 1, "generic", "1.0.0", "Counts the given keys that exist."),
    C(type, 2, R | F, 1, 1, 1, "generic", "1.0.0", "Returns the type of a key."),
    C(rename, 3, W, 1, 2, 1, "generic", "1.0.0", "Renames a key."),
    C(renamenx, 3, W | F, 1, 2, 1, "generic", "1.0.0", "Renames a key if the new name is free."),
    C(copy, -3, W, 1, 2, 1, "generic", "6.2.0", "Copies a value to a new key."),
    C(expire, -3, W | F | NC, 1, 1, 1, "generic", "1.0.0", "Sets a key's time to live in seconds."),
    C(pexpire, -3, W | F | NC, 1, 1, 1, "generic", "2.6.0", "Sets a key's time to live in ms."),
    C(expireat, -3, W | F | NC, 1, 1, 1, "generic", "1.2.0", "Sets a key's expiry as a Unix time."),
    C(pexpireat, -3, W | F | NC, 1, 1, 1, "generic", "2.6.0",
      "Sets a key's expiry as a Unix time in ms."),
    C(ttl, 2, R | F, 1, 1, 1, "generic", "1.0.0", "Returns a key's time to live in seconds."),
    C(pttl, 2, R | F, 1, 1, 1, "generic", "2.6.0", "Returns a key's time to live in ms."),
    C(expiretime, 2, R | F, 1, 1, 1, "generic", "7.0.0", "Returns a key's expiry Unix time."),
    C(pexpiretime, 2, R | F, 1, 1, 1, "generic", "7.0.0",
      "Returns a key's expiry Unix time in ms."),
    C(persist, 2, W | F | NC, 1, 1, 1, "generic", "2.2.0", "Removes a key's expiry."),
    C(keys, 2, R | G, 0, 0, 0, "generic", "1.0.0", "Returns the keys matching a pattern."),
    C(scan, -2, R | G, 0, 0, 0, "generic", "2.8.0", "Iterates over the keys."),
    C(randomkey, 1, R | G, 0, 0, 0, "generic", "1.0.0", "Returns a random key."),
    C(dbsize, 1, R | F | G, 0, 0, 0, "server", "1.0.0", "Returns the number of keys."),
    C(flushdb, -1, W | G, 0, 0, 0, "server", "1.0.0", "Deletes every key."),
    C(flushall, -1, W | G, 0, 0, 0, "server", "1.0.0", "Deletes every key."),
    /* transactions */
    C(multi, 1, F | NM, 0, 0, 0, "transactions", "1.2.0", "Starts a transaction."),
    C(exec, 1, NM, 0, 0, 0, "transactions", "1.2.0", "Executes the queued commands."),
    C(discard, 1, F | NM, 0, 0, 0, "transactions", "2.0.0", "Discards the queued commands."),
    C(watch, -2, F | NM, 1, -1, 1, "transactions", "2.2.0", "Watches keys for EXEC."),
    C(unwatch, 1, F, 0, 0, 0, "transactions", "2.2.0", "Forgets all watched keys."),
    /* server */
    C(info, -1, 0, 0, 0, 0, "server", "1.0.0", "Returns information about the server."),
    C(config, -2, A, 0, 0, 0, "server", "2.0.0", "Reads or changes settings."),
    C(command, -1, 0, 0, 0, 0, "server", "2.8.13", "Describes the commands."),
    C(time, 1, F, 0, 0, 0, "server", "2.6.0", "Returns the server time."),
    C(shutdown, -1, A | NM, 0, 0, 0, "server", "1.0.0", "Stops the server."),
    C(save, 1, A | NM, 0, 0, 0, "server", "1.0.0", "Makes a checkpoint of the data directory."),
    C(bgsave, -1, A | NM, 0, 0, 0, "server", "1.0.0", "Makes a checkpoint in the background."),
    C(lastsave, 1, F, 0, 0, 0, "server", "1.0.0", "Returns the time of the last checkpoint."),
    C(engine, -2, A, 0, 0, 0, "server", "ringkv", "Storage engine commands (CHECK)."),
    C(getv, -2, R, 1, 1, 1, "cluster", "ringkv",
      "Returns every concurrent value of a key and a context (cluster mode)."),
    C(setv, -4, W, 1, 1, 1, "cluster", "ringkv",
      "Writes a value superseding the versions a GETV context names (cluster mode)."),
    C(delv, -3, W, 1, 1, 1, "cluster", "ringkv",
      "Deletes the versions a GETV context names (cluster mode)."),
    C(cluster, -2, A, 0, 0, 0, "cluster", "ringkv",
      "Cluster commands (STATUS, RING, JOIN)."),
    C(slowlog, -2, A, 0, 0, 0, "server", "2.2.12", "Reads or resets the slow log."),
    C(latency, -2, A, 0, 0, 0, "server", "2.8.13", "Reads or resets latency samples."),
    C(debug, -2, A, 0, 0, 0, "server", "1.0.0", "Debugging commands (enable-debug-command)."),
    /* memory and access introspection (cmd_mem.c, docs/memory.md) */
    C(object, -2, R, 2, 2, 1, "generic", "2.2.3", "Inspects the internals of a key's value."),
    C(hotkeys, -1, R | G, 0, 0, 0, "server", "ringkv",
      "Returns the most frequently accessed keys."),
};

const size_t cmd_table_len = sizeof(cmd_table) / sizeof(cmd_table[0]);
