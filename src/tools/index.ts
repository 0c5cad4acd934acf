// Every tool deletegate serves, in the order clients list them.
import { cancelDeleteJob } from "./cancel-delete-job.js";
import { dryRunDelete } from "./dry-run-delete.js";
import { executeDelete } from "./execute-delete.js";
import { getDeleteJob } from "./get-delete-job.js";
import { listBackends } from "./list-backends.js";
import { listDeleteJobs } from "./list-delete-jobs.js";
import type { AnyTool } from "./tool.js";

export const TOOLS: readonly AnyTool[] = [
  listBackends,
  dryRunDelete,
  executeDelete,
  getDeleteJob,
  listDeleteJobs,
  cancelDeleteJob,
];
