// The registry of backend kinds: adding a kind means adding its adapter here and nowhere else.

import { HttpClient } from "./http.js";
import { langsmith } from "./langsmith.js";
import { moorcheh } from "./moorcheh.js";
import { piianoVault } from "./piiano-vault.js";
import { splendor } from "./splendor.js";
import { subworkflow } from "./subworkflow.js";
import type { BackendClient, BackendConfig, BackendKind } from "./types.js";

export type { BackendConfig, BackendKind } from "./types.js";

export const BACKEND_KINDS: Record<string, BackendKind> = {
  [splendor.kind]: splendor,
  [moorcheh.kind]: moorcheh,
  [langsmith.kind]: langsmith,
  [subworkflow.kind]: subworkflow,
  [piianoVault.kind]: piianoVault,
};

/** The kind of that name, or null (only the registry's own entries: "constructor" or "__proto__" name none). */
export function kindNamed(name: string): BackendKind | null {
  return Object.hasOwn(BACKEND_KINDS, name) ? (BACKEND_KINDS[name] as BackendKind) : null;
}

export function kindOf(backend: BackendConfig): BackendKind {
  const kind = kindNamed(backend.kind);
  if (!kind) throw new Error(`no adapter for kind ${backend.kind}`);
  return kind;
}

/** An adapter client bound to one configured backend, with its HTTP client to close at shutdown. */
export function connectBackend(backend: BackendConfig): { client: BackendClient; http: HttpClient } {
  const kind = kindOf(backend);
  const http = new HttpClient({
    baseUrl: backend.baseUrl,
    timeoutMs: backend.timeoutMs,
    connections: backend.concurrency + 2,
    headers: kind.headers(backend),
    secrets: [backend.credential],
  });
  return { client: kind.createClient(backend, http), http };
}
