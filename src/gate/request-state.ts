// The `requestState` of a human confirmation asked with `input_required` (MCP 2026-07-28, SPEC §5): the server
// keeps no session, so what it asked travels with the client and comes back in the retried call. Threat model: the
// agent controls that client. So the state is sealed (AES-256-GCM: a forged or altered state fails to open), bound
// to the plan, its digest and the caller (another plan's or caller's state is refused), short-lived, and single use
// (a replay is refused, across every process on the store). It holds no secret: sealing keeps it unforgeable, and
// unreadable only so the agent learns nothing from it.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from "node:crypto";
import type { HumanPrompt } from "./confirmation.js";
import { GateError } from "./errors.js";

/** A state is accepted this long after it was sealed (the person's time to answer the form). */
export const STATE_TTL_MS = 10 * 60_000;
/** Keys rotate this often; a state sealed with the previous key still opens until it expires. */
export const KEY_EPOCH_MS = 24 * 60 * 60_000;
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4;
/** Bound into every seal as associated data: a ciphertext made for another use cannot pass as a state. */
const AAD = Buffer.from("deletegate requestState v1");
/** A state longer than this is not one deletegate sealed: refused before any work. */
const MAX_STATE_CHARS = 4_096;

/** What a state is bound to. */
export interface StateBinding {
  planId: string;
  digest: string;
  /** Who asked (the HTTP token's name, or the stdio client's name): another caller's state is refused. */
  caller: string;
}

interface Sealed extends StateBinding {
  /** Unique per state: its single use is recorded under it. */
  nonce: string;
  expiresAt: number;
}

/**
 * What a human confirmation needs from a 2026-07-28 client, which is asked by answering `input_required`: this
 * form, and the sealed state the client must send back with the person's answer in its retried call.
 */
export class InputRequired extends Error {
  constructor(
    readonly prompt: HumanPrompt,
    readonly requestState: string,
  ) {
    super("the person's confirmation is asked with input_required");
    this.name = "InputRequired";
  }
}

/** Where keys and used states live: the store, shared by every process. */
export interface StateStore {
  secret(name: string, create: () => string): Promise<string>;
  useOnce(id: string, expiresAt: number): Promise<boolean>;
}

function refused(why: string): GateError {
  return new GateError(
    "CONFIRMATION_INVALID",
    `The requestState is ${why}; nothing was sent. Call execute_delete again without it to be asked again.`,
  );
}

/** The key of one epoch, derived from the master secret (HMAC as a KDF): rotation without storing keys. */
function epochKey(master: Buffer, epoch: number): Buffer {
  return createHmac("sha256", master).update(`requestState key ${epoch}`).digest();
}

export class RequestStates {
  private master: Promise<Buffer> | null = null;

  /**
   * `masterKey`: 32 bytes from the operator (base64), or null to generate one into the store the first time, so
   * every process on the store opens every other's states.
   */
  constructor(
    private readonly store: StateStore,
    private readonly masterKey: string | null = null,
    private readonly now: () => number = Date.now,
  ) {}

  async seal(binding: StateBinding): Promise<string> {
    const now = this.now();
    const epoch = Math.floor(now / KEY_EPOCH_MS);
    const sealed: Sealed = { ...binding, nonce: randomUUID(), expiresAt: now + STATE_TTL_MS };
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", epochKey(await this.key(), epoch), iv);
    cipher.setAAD(AAD);
    const body = Buffer.concat([cipher.update(JSON.stringify(sealed), "utf8"), cipher.final()]);
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt8(VERSION, 0);
    header.writeUInt32BE(epoch, 1);
    return Buffer.concat([header, iv, body, cipher.getAuthTag()]).toString("base64url");
  }

  /**
   * Opens a state the client sent back and uses it up: refused (CONFIRMATION_INVALID) when it is not a string
   * deletegate sealed, was altered, has expired, belongs to another plan, digest or caller, or was used before.
   */
  async open(state: unknown, expected: StateBinding): Promise<void> {
    const sealed = await this.unseal(state);
    if (sealed.expiresAt <= this.now()) throw refused("expired");
    if (sealed.planId !== expected.planId || sealed.digest !== expected.digest) {
      throw refused("for another plan");
    }
    if (sealed.caller !== expected.caller) throw refused("another caller's");
    // Last, so a refused state is not used up by the attempt.
    if (!(await this.store.useOnce(`request-state:${sealed.nonce}`, sealed.expiresAt))) {
      throw refused("already used");
    }
  }

  private async unseal(state: unknown): Promise<Sealed> {
    if (typeof state !== "string" || state.length === 0 || state.length > MAX_STATE_CHARS) {
      throw refused("not one deletegate made");
    }
    const bytes = Buffer.from(state, "base64url");
    if (bytes.length < HEADER_BYTES + IV_BYTES + TAG_BYTES + 2 || bytes.readUInt8(0) !== VERSION) {
      throw refused("not one deletegate made");
    }
    const epoch = bytes.readUInt32BE(1);
    const current = Math.floor(this.now() / KEY_EPOCH_MS);
    // The current key or the one before it: a key older than that has no state left to open.
    if (epoch !== current && epoch !== current - 1) throw refused("expired");
    const iv = bytes.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    const body = bytes.subarray(HEADER_BYTES + IV_BYTES, bytes.length - TAG_BYTES);
    let text: string;
    try {
      const decipher = createDecipheriv("aes-256-gcm", epochKey(await this.key(), epoch), iv);
      decipher.setAAD(AAD);
      decipher.setAuthTag(tag);
      text = Buffer.concat([decipher.update(body), decipher.final()]).toString("utf8");
    } catch {
      throw refused("altered or not one deletegate made");
    }
    return JSON.parse(text) as Sealed;
  }

  private key(): Promise<Buffer> {
    this.master ??= this.loadKey();
    return this.master;
  }

  private async loadKey(): Promise<Buffer> {
    const text =
      this.masterKey ??
      (await this.store.secret("request-state-key", () => randomBytes(32).toString("base64")));
    const key = Buffer.from(text, "base64");
    if (key.length !== 32) throw new Error("the requestState key must be 32 bytes, base64-encoded");
    return key;
  }
}
