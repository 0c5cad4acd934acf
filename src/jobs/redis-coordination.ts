// Coordination across instances sharing one Redis: Lua scripts make each claim, budget check and lease step atomic.
import { type ClaimResult, DAY_MS, type ExecutionClaim } from "./coordination.js";

/** The commands used here, as node-redis's client (under @keyv/redis) offers them. */
export interface RedisClient {
  get(key: string): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  lRange(key: string, start: number, stop: number): Promise<string[]>;
  sMembers(key: string): Promise<string[]>;
  sRem(key: string, member: string): Promise<number>;
}

// KEYS: claim, daily budget (sorted set: score = time, member = "<count>:<job id>"), job index, unfinished jobs.
// ARGV: job id, count, daily limit ("" = none), now, day length in ms.
const CLAIM_EXECUTION = `
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
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return {'claimed', ARGV[1]}`;

// KEYS: daily budget. ARGV: now, day length in ms.
const DAILY_USAGE = `
local used = 0
local since = '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2]))
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf')) do
  used = used + tonumber(string.match(member, '^(%d+):'))
end
return used`;

// KEYS: job index, unfinished jobs. ARGV: job id.
const INDEX_JOB = `
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
return 0`;

// KEYS: claim, job index, unfinished jobs. ARGV: job id.
const DROP_UNCLAIMED = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return 0 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1`;

// KEYS: lease. ARGV: holder, ms.
const ACQUIRE_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// KEYS: lease. ARGV: holder.
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

/** Several instances on one Redis; `prefix` keeps these keys beside the Keyv records (e.g. "deletegate::"). */
export class RedisCoordination {
  constructor(
    /** The connected client (connecting it on first use). */
    private readonly connect: () => Promise<RedisClient>,
    private readonly prefix: string,
  ) {}

  async claimExecution(claim: ExecutionClaim): Promise<ClaimResult> {
    const client = await this.connect();
    const [outcome, value] = (await client.eval(CLAIM_EXECUTION, {
      keys: [
        this.key(`claim:plan:${claim.planId}`),
        this.key(`daily:${claim.backend}`),
        this.key("jobs:index"),
        this.key("jobs:unfinished"),
      ],
      arguments: [
        claim.jobId,
        String(claim.count),
        claim.dailyLimit === null ? "" : String(claim.dailyLimit),
        String(claim.now),
        String(DAY_MS),
      ],
    })) as [string, string];
    if (outcome === "over_budget") return { outcome, used: Number(value) };
    if (outcome === "claimed" || outcome === "taken") return { outcome, jobId: value };
    throw new Error(`unexpected claim answer from Redis: ${outcome}`);
  }

  async dailyUsage(backend: string, now: number): Promise<number> {
    const client = await this.connect();
    const used = await client.eval(DAILY_USAGE, {
      keys: [this.key(`daily:${backend}`)],
      arguments: [String(now), String(DAY_MS)],
    });
    return Number(used);
  }

  /** A Redis claim indexes its job in the same script, so this only guards against a store edited by hand. */
  async dropUnclaimed(job: { id: string; plan_id: string }): Promise<boolean> {
    const client = await this.connect();
    const dropped = await client.eval(DROP_UNCLAIMED, {
      keys: [this.key(`claim:plan:${job.plan_id}`), this.key("jobs:index"), this.key("jobs:unfinished")],
      arguments: [job.id],
    });
    return Number(dropped) === 1;
  }

  async jobIds(): Promise<string[]> {
    const client = await this.connect();
    return client.lRange(this.key("jobs:index"), 0, -1);
  }

  async indexJob(jobId: string): Promise<void> {
    const client = await this.connect();
    await client.eval(INDEX_JOB, {
      keys: [this.key("jobs:index"), this.key("jobs:unfinished")],
      arguments: [jobId],
    });
  }

  async unfinishedJobIds(): Promise<string[]> {
    const client = await this.connect();
    return client.sMembers(this.key("jobs:unfinished"));
  }

  async jobFinished(jobId: string): Promise<void> {
    const client = await this.connect();
    await client.sRem(this.key("jobs:unfinished"), jobId);
  }

  /** Whether `holder` holds the job's lease now. */
  async holds(jobId: string, holder: string): Promise<boolean> {
    const client = await this.connect();
    return (await client.get(this.key(`lease:job:${jobId}`))) === holder;
  }

  async acquireLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return this.leaseScript(ACQUIRE_LEASE, jobId, [holder, String(ms)]);
  }

  async renewLease(jobId: string, holder: string, ms: number): Promise<boolean> {
    return this.leaseScript(RENEW_LEASE, jobId, [holder, String(ms)]);
  }

  async releaseLease(jobId: string, holder: string): Promise<void> {
    await this.leaseScript(RELEASE_LEASE, jobId, [holder]);
  }

  private async leaseScript(script: string, jobId: string, args: string[]): Promise<boolean> {
    const client = await this.connect();
    const answer = await client.eval(script, { keys: [this.key(`lease:job:${jobId}`)], arguments: args });
    return Number(answer) === 1;
  }

  private key(name: string): string {
    return `${this.prefix}${name}`;
  }
}
