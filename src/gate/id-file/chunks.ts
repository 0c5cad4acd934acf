// Reading the ids file: fixed chunks, hashed, decoded as UTF-8 as they come.
import type { Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { invalid } from "./messages.js";

/**
 * Small enough that each decoded piece is an ordinary young-generation string, which dies cheaply: at 256 KiB every
 * piece went to V8's large-object space, whose garbage waits for a full collection, and a 1M-id file's dry run
 * peaked at 191–219 MB on Node 22 (185–192 MB at 16 KiB; on Node 20 181–191 MB, now 176–181).
 */
const CHUNK_BYTES = 16 * 1024;

interface Piece {
  text: string;
  /** Bytes read and hashed so far, this piece's included. */
  end: number;
}

/**
 * The file from its start as decoded text, chunk by chunk, each chunk's bytes added to `hash` before it is yielded.
 * Chunks are always CHUNK_BYTES at multiples of it, so two passes over the same bytes cut them alike. The last piece
 * is empty: it ends the decoding (refusing a cut-off character).
 */
export async function* pieces(file: FileHandle, hash: Hash, shown: string): AsyncGenerator<Piece> {
  const decoder = new TextDecoder("utf-8", { fatal: true }); // also drops a leading BOM
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let end = 0; ; ) {
    const { bytesRead } = await file.read(buffer, 0, CHUNK_BYTES, end);
    const bytes = buffer.subarray(0, bytesRead);
    hash.update(bytes);
    let text: string;
    try {
      text = decoder.decode(bytes, { stream: bytesRead > 0 });
    } catch {
      throw invalid(
        `ids_file ${shown} is not UTF-8 text (near byte ${end + decodableLength(bytes)}); save it as UTF-8.`,
      );
    }
    end += bytesRead;
    yield { text, end };
    if (bytesRead === 0) return;
  }
}

/** How many leading bytes decode (a cut-off character at the end counts as decodable): where decoding failed. */
function decodableLength(bytes: Uint8Array): number {
  const decodes = (length: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, length), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  // Binary search: a prefix decodes only if every shorter one does.
  let low = 0;
  let high = bytes.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (decodes(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}
