// examples/demo.config.json and mcp.json are made from the simulator registry (`npm run docs` writes them, and
// test/unit/docs.test.ts checks they are what it writes): they name every kind's demo backend and secret, and load
// as a valid config.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.js";
import { demoSecrets, EXAMPLE_CONFIG_PATH } from "../../tools/simulators/demo-config.js";
import { FIXTURES } from "../../tools/simulators/index.js";

const ROOT = resolve(import.meta.dirname, "../..");

describe("the example config", () => {
  it("load with the demo secrets: one backend per kind", () => {
    const raw = JSON.parse(readFileSync(resolve(ROOT, EXAMPLE_CONFIG_PATH), "utf8"));
    const config = parseConfig(raw, demoSecrets(), EXAMPLE_CONFIG_PATH);
    expect(Object.values(config.backends).map((backend) => backend.kind)).toEqual(
      FIXTURES.map((fixture) => fixture.kind),
    );
  });
});
