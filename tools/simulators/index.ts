// The registry of simulators: one fixture per backend kind, in the order of src/backends/index.ts. Everything that
// goes over every kind (contract test, reliability suites, demo, `npm run simulators`, examples/) goes over this.
import type { KindFixture } from "./fixture.js";
import { langsmithFixture } from "./langsmith.js";
import { moorchehFixture } from "./moorcheh.js";
import { piianoVaultFixture } from "./piiano-vault.js";
import { splendorFixture } from "./splendor.js";
import { subworkflowFixture } from "./subworkflow.js";

export type { KindFixture, KindSimulator } from "./fixture.js";

export const FIXTURES: readonly KindFixture[] = [
  splendorFixture,
  moorchehFixture,
  langsmithFixture,
  subworkflowFixture,
  piianoVaultFixture,
];

export function fixtureOf(kind: string): KindFixture {
  const fixture = FIXTURES.find((candidate) => candidate.kind === kind);
  if (!fixture) throw new Error(`no simulator fixture for kind ${kind}`);
  return fixture;
}
