// The Redis store's one connection: node-redis loaded and connected on first use, its scripts registered, and a
// Redis that does not answer turned into an error that says so instead of a call that hangs.
import type { defineScript, RedisClientType } from "@redis/client";
import { SCRIPTS } from "./redis-scripts.js";

/** A Redis that does not answer in this long fails the call (and the start-up) instead of hanging it. */
const REDIS_TIMEOUT_MS = 5_000;

type Scripts = { [Name in keyof typeof SCRIPTS]: (typeof SCRIPTS)[Name] & { SHA1: string } };
/** node-redis's client with the store's scripts as methods: `client.<script>(keys, args)`. */
// biome-ignore lint/complexity/noBannedTypes: node-redis's own defaults (no modules, no functions)
export type RedisClient = RedisClientType<{}, {}, Scripts>;
type RedisModule = typeof import("@redis/client");

export class RedisConnection {
  private client: RedisClient | undefined;
  private connecting: Promise<RedisClient> | undefined;
  private timeoutError: RedisModule["TimeoutError"] | undefined;
  private lastError: Error | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    /** Hears every error of the connection (refused, lost, reconnecting), which node-redis emits as events. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Connected now (background work waits for a connection rather than opening one). */
  get ready(): boolean {
    return this.client?.isReady === true;
  }

  /** Runs `work` on the connected client; a Redis that does not answer fails it with a message that says so. */
  async run<T>(work: (client: RedisClient) => Promise<T>): Promise<T> {
    const client = await this.connected();
    try {
      return await work(client);
    } catch (error) {
      if (this.timeoutError && error instanceof this.timeoutError) {
        throw new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS / 1000} s`, { cause: error });
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const client = this.client;
    if (!client?.isOpen) return;
    // A client still trying to connect has nothing to finish: it stops at once.
    if (client.isReady) await client.close();
    else client.destroy();
  }

  /** The client, connecting it on first use; waits at most REDIS_TIMEOUT_MS for the connection. */
  private async connected(): Promise<RedisClient> {
    if (this.client?.isReady) return this.client;
    if (!this.connecting) {
      this.connecting = this.connect();
      // Each caller waits for it below; a failure is theirs, not an unhandled rejection.
      this.connecting.catch(() => undefined);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const cause = this.lastError ? `: ${this.lastError.message}` : "";
        reject(new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS / 1000} s${cause}`));
      }, REDIS_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.connecting, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** node-redis takes a tenth of a second to load: only a redis:// store loads it. */
  private async connect(): Promise<RedisClient> {
    const redis: RedisModule = await import("@redis/client");
    if (this.closed) throw new Error("the Redis store is closed");
    const client = redis.createClient({
      url: this.url,
      scripts: defined(redis.defineScript),
      // node-redis reconnects by itself (backing off up to 2 s); a command waits for it at most REDIS_TIMEOUT_MS.
      socket: { connectTimeout: REDIS_TIMEOUT_MS },
      commandOptions: { timeout: REDIS_TIMEOUT_MS },
    });
    // Without a listener a connection error would be thrown from an event emitter and end the process.
    client.on("error", (error: Error) => {
      this.lastError = error;
      this.onError(error);
    });
    this.timeoutError = redis.TimeoutError;
    this.client = client;
    await client.connect();
    return client;
  }
}

/** The scripts with their SHA1, as createClient takes them: called by SHA, sent whole again on NOSCRIPT. */
function defined(define: typeof defineScript): Scripts {
  return Object.fromEntries(
    Object.entries(SCRIPTS).map(([name, script]) => [name, define(script)]),
  ) as unknown as Scripts;
}
