// Approver passwords: scrypt hashes in the config's format, checked in constant time, never the password itself.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  hashPassword,
  PASSWORD_HASH,
  parsePasswordHash,
  verifyPassword,
} from "../../src/approval/password.js";
import { CLI } from "../integration/harness.js";

describe("approver password hashes", () => {
  it("a hash verifies its password and no other, and two hashes of one password differ (salted)", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toMatch(PASSWORD_HASH);
    expect(hash).not.toMatch(/[\s"',]/);
    expect(await verifyPassword("correct horse battery staple", hash)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", hash)).toBe(false);
    expect(await verifyPassword("", hash)).toBe(false);
    expect(await hashPassword("correct horse battery staple")).not.toBe(hash);
  });

  it("refuses malformed or absurdly expensive hashes", async () => {
    const good = await hashPassword("pw");
    const [, , , , salt, value] = good.split("$");
    for (const bad of [
      "",
      "plain-password",
      `scrypt$1000$8$1$${salt}$${value}`,
      `scrypt$2147483648$8$1$${salt}$${value}`,
      `scrypt$32768$8$1$${salt}`,
      `bcrypt$32768$8$1$${salt}$${value}`,
    ]) {
      expect(parsePasswordHash(bad), bad).toBeNull();
      expect(await verifyPassword("pw", bad)).toBe(false);
    }
  });

  it("`deletegate approver hash` reads the password from stdin and prints only the hash", async () => {
    const result = spawnSync(process.execPath, [CLI, "approver", "hash"], {
      input: "s3cret pass\n",
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
    expect(result.stderr).toBe("");
    const printed = result.stdout.trim();
    expect(result.stdout).toBe(`${printed}\n`);
    expect(printed).toMatch(PASSWORD_HASH);
    expect(await verifyPassword("s3cret pass", printed)).toBe(true);
    expect(result.stdout).not.toContain("s3cret");
    const asArgument = spawnSync(process.execPath, [CLI, "approver", "hash", "s3cret"], { encoding: "utf8" });
    expect(asArgument.status).toBe(2);
    expect(asArgument.stdout).toBe("");
    const empty = spawnSync(process.execPath, [CLI, "approver", "hash"], { input: "", encoding: "utf8" });
    expect(empty.status).toBe(2);
  });
});
