// The actor a call is recorded under: on stdio and on --http without tokens it is the name the client gave itself, so
// it is made safe to show (no controls, bidi overrides, zero-width or line-separator characters) and capped in length.
import { describe, expect, it } from "vitest";
import { capActor, MAX_ACTOR_LENGTH } from "../../src/server.js";

describe("capActor", () => {
  it("keeps an ordinary name as it is", () => {
    expect(capActor("claude-code")).toBe("claude-code");
    expect(capActor("Zoë's agent (ünïcode) 🤖")).toBe("Zoë's agent (ünïcode) 🤖");
  });

  it("shows a right-to-left override, a zero-width space and other hiding characters as U+FFFD", () => {
    expect(capActor("bob\u202e")).toBe("bob\ufffd");
    expect(capActor("bo\u200bb")).toBe("bo\ufffdb");
    expect(capActor("a\u2066b\u2069c\ufeff")).toBe("a\ufffdb\ufffdc\ufffd");
    expect(capActor("line\nbreak\u2028sep\u0000nul\u007fdel")).toBe(
      "line\ufffdbreak\ufffdsep\ufffdnul\ufffddel",
    );
    // An unpaired surrogate is not text: replaced too; a pair (an emoji) is kept.
    expect(capActor("x\ud800y\udc00z")).toBe("x\ufffdy\ufffdz");
  });

  it("caps a long name at MAX_ACTOR_LENGTH code points, never cutting a pair, after making it safe", () => {
    expect(capActor("x".repeat(3 * 1024 * 1024))).toBe("x".repeat(MAX_ACTOR_LENGTH));
    const emoji = "🤖".repeat(MAX_ACTOR_LENGTH + 10);
    expect(Array.from(capActor(emoji))).toHaveLength(MAX_ACTOR_LENGTH);
    expect(capActor(`${"\u202e".repeat(MAX_ACTOR_LENGTH + 5)}`)).toBe("\ufffd".repeat(MAX_ACTOR_LENGTH));
  });
});
