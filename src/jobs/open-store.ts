// Opens the store a config names.
import { RedisStore } from "./redis-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { Store, StoreOptions } from "./store.js";

/** `memory`, `sqlite:<path>` (directory created) or `redis://host:port` (shared by several instances). */
export function openStore(spec: string, options: StoreOptions = {}): Store {
  if (spec === "memory") return SqliteStore.open(":memory:", options);
  if (spec.startsWith("sqlite:")) return SqliteStore.open(spec.slice("sqlite:".length), options);
  if (spec.startsWith("redis://")) return RedisStore.open(spec, options);
  throw new Error(`store "${spec}" is not supported (use memory, sqlite:<path> or redis://host:port)`);
}
