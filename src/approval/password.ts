// Approver passwords: only scrypt hashes live in the config (made by `deletegate approver hash`), checked in
// constant time. The password itself is never an argument, a log field or a stored value.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  length: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

/** scrypt cost: N = 2^15, r = 8, p = 1 (about 50 ms and 32 MB here), a 16-byte salt and a 32-byte hash. */
const DEFAULT = { N: 32_768, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;

/** `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>` (SPEC §2): no spaces, quotes or commas. */
export const PASSWORD_HASH = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{32,})$/;

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** The hash's parameters, or null when it is not one `hashPassword` makes (or asks for absurd work). */
export function parsePasswordHash(text: string): Parsed | null {
  const match = PASSWORD_HASH.exec(text);
  if (!match) return null;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // A power of two, and bounded: a config must not make every sign-in cost seconds or gigabytes.
  if (N < 1024 || N > 1_048_576 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return null;
  return {
    N,
    r,
    p,
    salt: Buffer.from(match[4] as string, "base64url"),
    hash: Buffer.from(match[5] as string, "base64url"),
  };
}

function maxmem({ N, r, p }: { N: number; r: number; p: number }): number {
  return 128 * N * r * p + 64 * 1024 * 1024;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(password, salt, HASH_BYTES, { ...DEFAULT, maxmem: maxmem(DEFAULT) });
  return `scrypt$${DEFAULT.N}$${DEFAULT.r}$${DEFAULT.p}$${salt.toString("base64url")}$${hash.toString("base64url")}`;
}

/** True when `password` matches `stored`; compared in constant time, and as slow for a malformed hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  const params = parsed ?? { ...DEFAULT, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };
  const actual = await scrypt(password, params.salt, params.hash.length, {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: maxmem(params),
  });
  return parsed !== null && timingSafeEqual(actual, params.hash);
}
