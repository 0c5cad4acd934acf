// PLACEHOLDER until the idfile branch lands (replaced whole by it).
import { GateError } from "./errors.js";

export type IdFileFormat = "json" | "jsonl" | "csv" | "lines";
export interface IdFile {
  ids: (string | number)[];
  path: string;
  sha256: string;
  format: IdFileFormat;
  bytes: number;
}
export async function readIdFile(_path: string, _roots: readonly string[], _maxIds: number): Promise<IdFile> {
  throw new GateError("INVALID_INPUT", "ids_file is not available yet");
}
