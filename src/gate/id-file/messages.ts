// The ids file's refusals, and how text from the agent or the file is shown in them.
import { GateError } from "../errors.js";
import { MAX_ID_LENGTH } from "../plan.js";

export function invalid(message: string): GateError {
  return new GateError("INVALID_INPUT", message);
}

export const changed = (shown: string) =>
  invalid(`ids_file ${shown} changed while it was read; send it again once it is complete.`);

/** subject: what is too long, e.g. "line 3" or "the CSV row on line 3". */
export const tooLong = (shown: string, subject: string, maxLength: number) =>
  invalid(
    `ids_file ${shown}: ${subject} is longer than ${maxLength} characters, and no id is longer than ${MAX_ID_LENGTH}; check that this is the erasure list, and fix the file.`,
  );

export const tooMany = (shown: string, maxIds: number) =>
  new GateError(
    "TOO_MANY_IDS",
    `ids_file ${shown} holds more than ${maxIds} ids (limits.maxIdsPerFile); split it into files of at most ${maxIds} ids.`,
  );

const SHOWN_CHARACTERS = 200;
const UNSAFE_IN_MESSAGE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Text from the agent or the file as shown in a message: cut short, JSON-quoted, no control character left raw. */
export function quote(text: string): string {
  const cut = text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}…` : text;
  return JSON.stringify(cut).replace(UNSAFE_IN_MESSAGE, (character) =>
    character
      .split("")
      .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`)
      .join(""),
  );
}
