// The Redis store's Lua scripts: each is one atomic step over keys of one hash slot (the layout: redis-store.ts).
// node-redis calls a script by its SHA (EVALSHA) and sends it whole (EVAL, which caches it again) only when Redis
// answers NOSCRIPT, after a restart or a SCRIPT FLUSH.
import type { CommandParser } from "@redis/client";

/** A script called as `client.<name>(keys, args)`; `Reply` is what it returns, as node-redis decodes it. */
function lua<Reply>(script: string) {
  return {
    SCRIPT: script,
    parseCommand(parser: CommandParser, keys: readonly string[], args: readonly (string | number)[]) {
      parser.pushKeysLength([...keys]);
      for (const arg of args) parser.push(String(arg));
    },
    // Only a type: node-redis then hands the reply over as Redis sent it.
    transformReply: undefined as unknown as () => Reply,
  };
}

// A job's record is a hash: `record` (JSON), `rev` (bumped by every write, what replaceJob compares) and `cancel`.
// A terminal status gives the record and its batches their retention (ARGV `retention`: ms, or "" while running).
const WRITE_JOB = `
local function write_job(job, batches, record, retention)
  redis.call('HSET', job, 'record', record)
  redis.call('HINCRBY', job, 'rev', 1)
  if retention ~= '' then
    redis.call('PEXPIRE', job, retention)
    redis.call('PEXPIRE', batches, retention)
  end
end
`;

// Lists a job once: in the index (by a sequence, so newest first is claim order), its owner's index, unfinished.
const LIST_JOB = `
local function list_job(jobs, unfinished, seq, owners, owner_jobs, id, owner)
  if redis.call('ZSCORE', jobs, id) then return end
  local n = redis.call('INCR', seq)
  redis.call('ZADD', jobs, n, id)
  redis.call('SADD', unfinished, id)
  if owner_jobs then
    redis.call('ZADD', owner_jobs, n, id)
    redis.call('SADD', owners, owner)
  end
end
`;

export const SCRIPTS = {
  // KEYS: job, batches. ARGV: record, retention, unclaimed ms. A job not yet claimed expires unless claimed.
  putJob: lua<number>(`${WRITE_JOB}
local new = redis.call('EXISTS', KEYS[1]) == 0
write_job(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if new and ARGV[2] == '' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1`),

  // KEYS: lease, job, batches. ARGV: holder, record, retention.
  putJobAsHolder: lua<number>(`${WRITE_JOB}
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
write_job(KEYS[2], KEYS[3], ARGV[2], ARGV[3])
return 1`),

  // KEYS: job, batches. ARGV: rev read, record, retention. Writes only when nobody wrote since the read.
  replaceJob: lua<number>(`${WRITE_JOB}
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return 0 end
write_job(KEYS[1], KEYS[2], ARGV[2], ARGV[3])
return 1`),

  // KEYS: lease, batches. ARGV: holder, batch index, record. Only an existing batch, as the SQLite store.
  putBatchAsHolder: lua<number>(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1`),

  // KEYS: job, batches. ARGV: unclaimed ms, then index and record of each batch. Written before the job record.
  putBatches: lua<number>(`
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end
return 1`),

  // KEYS: job. A request for a job that does not exist is not kept (it would never expire).
  requestCancel: lua<number>(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cancel', '1')
return 1`),

  // KEYS: job, batches. Keeps a job about to be claimed for good; answers its record (its owner is indexed).
  holdJob: lua<string | null>(`
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
return redis.call('HGET', KEYS[1], 'record')`),

  // KEYS: claim, daily budget, index, unfinished, sequence, owners[, owner's index]. The budget is a sorted set:
  // score = claim time, member = "<count>:<job id>". ARGV: job id, count, daily limit ("" = none), now, day ms, owner.
  claimExecution: lua<[string, string]>(`${LIST_JOB}
local existing = redis.call('GET', KEYS[1])
if existing then return {'taken', existing} end
local now = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
if ARGV[3] ~= '' then
  local used = 0
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    used = used + tonumber(string.match(member, '^(%d+):'))
  end
  if used + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return {'over_budget', tostring(used)} end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[2] .. ':' .. ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
list_job(KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[1], ARGV[6])
return {'claimed', ARGV[1]}`),

  // KEYS: daily budget. ARGV: now, day ms, a job id whose claim is left out ("" = none).
  dailyUsage: lua<number>(`
local used = 0
local since = '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2]))
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf')) do
  local count, job = string.match(member, '^(%d+):(.*)$')
  if job ~= ARGV[3] then used = used + tonumber(count) end
end
return used`),

  // KEYS: unfinished, the plan's claim. ARGV: job id, retention ms. The claim goes when its finished job does.
  jobFinished: lua<number>(`
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`),

  // KEYS: any keys of one slot. ARGV: ms to keep them, or "" for good. Answers how many exist.
  keepKeys: lua<number>(`
local kept = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    if ARGV[1] == '' then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ARGV[1]) end
    kept = kept + 1
  end
end
return kept`),

  // KEYS: lease. ARGV: holder, ms. Taken when free, lapsed or already the holder's.
  acquireLease: lua<number>(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`),

  // KEYS: lease. ARGV: holder, ms. A lapsed lease is lost even when nobody took it yet.
  renewLease: lua<number>(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`),

  // KEYS: lease. ARGV: holder.
  releaseLease: lua<number>(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`),
};
