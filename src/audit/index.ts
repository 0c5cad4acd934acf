// The audit trail (SPEC §8): writer.ts appends the lines (lock.ts serialises appends across processes), chain.ts
// checks them; this is the front door the rest of deletegate imports.
export {
  type AuditVerdict,
  ChainVerifier,
  GENESIS_SHA256,
  sha256Hex,
  verifyAuditFile,
} from "./chain.js";
export type { Audit, AuditEntry, AuditEventName } from "./entry.js";
export { createAudit, readChainHead } from "./writer.js";
