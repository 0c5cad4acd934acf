// Demo data the simulators start with in `npm run simulators` and the demo: ids that exist, so deletes find them.

/** A stable UUID for demo item `index` (version 4 layout). */
export function demoUuid(index: number): string {
  return `00000000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`;
}

function numbered(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${String(index + 1).padStart(4, "0")}`);
}

export const DEMO_SEED = {
  moorcheh: {
    namespace: "kb-support",
    documents: numbered("doc-", 2_000),
    vectors: numbered("vec-", 2_000),
  },
  langsmith: {
    examples: Array.from({ length: 2_000 }, (_, index) => demoUuid(index + 1)),
  },
  subworkflow: {
    datasets: numbered("ds_demo", 20),
  },
  piianoVault: {
    collection: "customers",
    active: Array.from({ length: 2_000 }, (_, index) => demoUuid(index + 1)),
    archived: Array.from({ length: 200 }, (_, index) => demoUuid(10_001 + index)),
  },
};
