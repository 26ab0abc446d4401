package redis

import goredis "github.com/redis/go-redis/v9"

// The scripts below run inside Redis, so each one is atomic. Numbers that
// must stay exact (times in microseconds since the epoch, which need 51
// bits) are passed in as strings and never formatted by Lua, whose
// tostring keeps only 14 significant digits.

// applyScript runs one decision's operations: it first looks at every op
// (pruning what can no longer count), and only if all are admitted applies
// them. KEYS[i] is op i's key. ARGV[1] is the number of ops; each op then
// takes argsPerOp arguments:
//
//	kind  "w" window, "s" slot, "m" sum below
//	id    the call's id (window and slot member)
//	lo    w: the window's start (exclusive, µs); s: the time (µs), leases at or before it have ended
//	score w: the event time (µs); s: the lease end (µs)
//	limit w, s: the most events or slots
//	max   m: the sum must stay below this; w: events at or before it
//	      (µs; the window's start less counter.LateGrace) are pruned
//	ttl   w, s: how long the key must live at least (ms)
//	hi    w: the event time (µs); unused by the count, which also takes in
//	      events stamped after it (another node's slightly later clock, a
//	      concurrent call): a limit is never exceeded by calls racing
//
// It returns {failed, n1, ok1, added1, sum1, n2, …}: failed is the 0-based
// index of the first refused op, or -1 when all were applied.
var applyScript = goredis.NewScript(`
local nops = tonumber(ARGV[1])
local out = {-1}
local failed = -1
for i = 1, nops do
	local b = 1 + (i - 1) * 8
	local k, kind, id = KEYS[i], ARGV[b + 1], ARGV[b + 2]
	local lo, limit = ARGV[b + 3], tonumber(ARGV[b + 5])
	local n, ok, added, sum = 0, 0, 0, "0"
	if kind == "w" then
		redis.call("ZREMRANGEBYSCORE", k, "-inf", ARGV[b + 6])
		n = redis.call("ZCOUNT", k, "(" .. lo, "+inf")
		if redis.call("ZSCORE", k, id) then
			ok = 1
		elseif n < limit then
			n, ok, added = n + 1, 1, 1
		end
	elseif kind == "s" then
		redis.call("ZREMRANGEBYSCORE", k, "-inf", lo)
		n = redis.call("ZCARD", k)
		if redis.call("ZSCORE", k, id) then
			ok = 1
		elseif n < limit then
			n, ok, added = n + 1, 1, 1
		end
	elseif kind == "m" then
		sum = redis.call("HGET", k, "v") or "0"
		if tonumber(sum) < tonumber(ARGV[b + 6]) then ok = 1 end
	end
	if ok == 0 and failed < 0 then failed = i - 1 end
	out[#out + 1] = n
	out[#out + 1] = ok
	out[#out + 1] = added
	out[#out + 1] = sum
end
out[1] = failed
if failed >= 0 then return out end
for i = 1, nops do
	local b = 1 + (i - 1) * 8
	local k, kind = KEYS[i], ARGV[b + 1]
	if kind == "w" and out[4 + (i - 1) * 4] == 1 then
		redis.call("ZADD", k, ARGV[b + 4], ARGV[b + 2])
		redis.call("PEXPIRE", k, ARGV[b + 7])
	elseif kind == "s" then
		redis.call("ZADD", k, ARGV[b + 4], ARGV[b + 2])
		local ttl = tonumber(ARGV[b + 7])
		if redis.call("PTTL", k) < ttl then redis.call("PEXPIRE", k, ttl) end
	end
end
return out
`)

// argsPerOp is how many ARGV entries applyScript takes per op.
const argsPerOp = 8

// forceScript writes what a node counted locally while Redis was away,
// without checking limits (the node already decided): KEYS[1] is the key,
// ARGV = {kind, id, score, ttl}. Kinds: "w" window event, "s" slot, "u"
// remove a window event or slot.
var forceScript = goredis.NewScript(`
local k, kind = KEYS[1], ARGV[1]
if kind == "u" then return redis.call("ZREM", k, ARGV[2]) end
if kind == "w" then
	redis.call("ZADD", k, "NX", ARGV[3], ARGV[2])
else
	redis.call("ZADD", k, ARGV[3], ARGV[2])
end
local ttl = tonumber(ARGV[4])
if redis.call("PTTL", k) < ttl then redis.call("PEXPIRE", k, ttl) end
return 1
`)

// extendScript moves the lease of a held slot: KEYS[1], ARGV = {id, lease
// (µs), ttl (ms)}. It returns 1 when the slot was held.
var extendScript = goredis.NewScript(`
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
local ttl = tonumber(ARGV[3])
if redis.call("PTTL", KEYS[1]) < ttl then redis.call("PEXPIRE", KEYS[1], ttl) end
return 1
`)

// addScript adds ARGV[2] to the sum in KEYS[1] once per id ARGV[1] and
// returns the sum as a string. The hash holds the sum in field "v" and one
// field "i:<id>" per id counted; ARGV[3] is the key's time to live (ms).
var addScript = goredis.NewScript(`
if redis.call("HSETNX", KEYS[1], "i:" .. ARGV[1], "1") == 1 then
	redis.call("HINCRBYFLOAT", KEYS[1], "v", ARGV[2])
	redis.call("PEXPIRE", KEYS[1], ARGV[3])
end
return redis.call("HGET", KEYS[1], "v") or "0"
`)

// scripts lists every script, to load them ahead of pipelined EVALSHAs.
var scripts = []*goredis.Script{applyScript, forceScript, extendScript, addScript}
