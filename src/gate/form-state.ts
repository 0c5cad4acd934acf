// The state of a confirmation form asked in one execute_delete call and answered in the next (MCP 2026-07-28
// `input_required`, SPEC §5). Threat model: the client, and the agent behind it, carry the state between the calls and
// may read, change, replay, keep or move it to another plan or caller; none of that may make an answer count. So the
// state is sealed (AES-256-GCM: encrypted and authenticated), bound to the plan, its digest and the caller, expires,
// and is redeemed once. The key lives in this process only: a state counts in the process that sealed it or nowhere
// (several instances behind a load balancer would need a shared key and a shared record of redeemed states).
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** What a state is good for: one plan (as digested at the dry run), asked of one caller. */
export interface FormBinding {
  planId: string;
  digest: string;
  actor: string;
  owner: string | null;
}

interface SealedPayload extends FormBinding {
  /** Expiry, ms since the epoch. */
  exp: number;
  nonce: string;
}

const VERSION = "v1.";
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Longer than any state sealed here; a longer one is refused unread. */
const MAX_STATE_LENGTH = 4096;

export class FormStates {
  private readonly key = randomBytes(32);
  /** Nonces redeemed and not yet expired, with their expiry. */
  private readonly redeemed = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  seal(binding: FormBinding): string {
    const payload: SealedPayload = {
      ...binding,
      exp: this.now() + this.ttlMs,
      nonce: randomBytes(16).toString("base64url"),
    };
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv, { authTagLength: TAG_BYTES });
    const sealed = Buffer.concat([cipher.update(JSON.stringify(payload), "utf8"), cipher.final()]);
    return `${VERSION}${Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64url")}`;
  }

  /**
   * True, once, for a state sealed here for exactly this binding and not expired; false for anything else (tampered,
   * foreign, expired, replayed, or not a state at all).
   */
  redeem(state: unknown, binding: FormBinding): boolean {
    const payload = this.open(state);
    const now = this.now();
    this.forgetExpired(now);
    if (!payload || payload.exp <= now || this.redeemed.has(payload.nonce)) return false;
    if (
      payload.planId !== binding.planId ||
      payload.digest !== binding.digest ||
      payload.actor !== binding.actor ||
      payload.owner !== binding.owner
    )
      return false;
    this.redeemed.set(payload.nonce, payload.exp);
    return true;
  }

  private open(state: unknown): SealedPayload | null {
    if (typeof state !== "string" || !state.startsWith(VERSION) || state.length > MAX_STATE_LENGTH)
      return null;
    const raw = Buffer.from(state.slice(VERSION.length), "base64url");
    if (raw.length <= IV_BYTES + TAG_BYTES) return null;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, raw.subarray(0, IV_BYTES), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const plain = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
      return JSON.parse(plain.toString("utf8")) as SealedPayload;
    } catch {
      return null;
    }
  }

  private forgetExpired(now: number): void {
    for (const [nonce, exp] of this.redeemed) if (exp <= now) this.redeemed.delete(nonce);
  }
}
