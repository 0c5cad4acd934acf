import { defineConfig } from "vitest/config";

// `npm run test:reliability`: faults, crashes, hostile input, secrets, audit integrity, concurrency, HTTP attacks.
export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
