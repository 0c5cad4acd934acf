// The key paths a config schema accepts, found by walking the zod schemas themselves (for docs/configuration.md).
import type { z } from "zod";

/** A container holds keys of its own (an object, a list of objects, a record); every other key is a leaf. */
export type KeyRole = "leaf" | "container";

/** Wrappers that add no key of their own: what they wrap is what the key holds. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = current.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (
      def.innerType &&
      ["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(def.type)
    )
      current = def.innerType;
    else if (def.type === "pipe" && def.in) current = def.in;
    else return current;
  }
}

/**
 * Every key path under `schema`, written as the docs write them: `a.b` for nested objects, `a[].b` for a list of
 * objects, `a.<name>.b` for a record keyed by names (`recordKey`). Each path says whether it holds keys itself.
 */
export function keyPaths(schema: z.ZodType, prefix = "", recordKey = "<name>"): Map<string, KeyRole> {
  const paths = new Map<string, KeyRole>();
  const walk = (node: z.ZodType, path: string): void => {
    const inner = unwrap(node);
    const def = inner.def as {
      type: string;
      shape?: Record<string, z.ZodType>;
      element?: z.ZodType;
      valueType?: z.ZodType;
    };
    if (def.type === "object" && def.shape) {
      // A list's element is the list's own container, set with the list.
      if (path && !path.endsWith("[]")) paths.set(path, "container");
      for (const [key, value] of Object.entries(def.shape)) walk(value, path ? `${path}.${key}` : key);
    } else if (def.type === "array" && def.element && unwrap(def.element).def.type === "object") {
      paths.set(path, "container");
      walk(def.element, `${path}[]`);
    } else if (def.type === "record" && def.valueType) {
      paths.set(path, "container");
      if (unwrap(def.valueType).def.type === "object") walk(def.valueType, `${path}.${recordKey}`);
    } else paths.set(path, "leaf");
  };
  walk(schema, prefix);
  return paths;
}
