// ids_file against a directory swapped for a symbolic link between deletegate's checks and its open: `open` is wrapped
// so the swap happens exactly there, every time, instead of in a race the test might lose. Then the proof itself (the
// open file is the one inside the roots, by device and inode, which is all macOS and Windows have), and the look
// after the read.
import {
  appendFile,
  mkdir,
  mkdtemp,
  realpath,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { GateError } from "../../src/gate/errors.js";
import { readIdFile } from "../../src/gate/id-file/index.js";
import { checkUnchanged, isOpenInsideRoots, openRegularFile } from "../../src/gate/id-file/paths.js";

const hooks = vi.hoisted(() => ({
  beforeOpen: null as null | (() => Promise<void>),
  afterOpen: null as null | (() => Promise<void>),
}));

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  const open: typeof actual.open = async (...args) => {
    await hooks.beforeOpen?.();
    const file = await actual.open(...args);
    await hooks.afterOpen?.();
    return file;
  };
  return { ...actual, open, default: { ...actual, open } };
});

let base: string;
let root: string;
let outside: string;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), "deletegate-id-file-swap-")));
  root = join(base, "ids");
  outside = join(base, "outside");
  await mkdir(join(root, "lists"), { recursive: true });
  await mkdir(outside);
  await writeFile(join(root, "lists", "dsr.txt"), "inside-1\n");
  await writeFile(join(outside, "dsr.txt"), "outside-secret\n");
});

afterEach(() => {
  hooks.beforeOpen = null;
  hooks.afterOpen = null;
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

const lists = () => join(root, "lists");
const away = () => join(root, "lists-away");

/** Replaces root/lists with a symbolic link to the directory outside the roots. */
async function swapOut(): Promise<void> {
  await rename(lists(), away());
  await symlink(outside, lists());
}

async function swapBack(): Promise<void> {
  await unlink(lists());
  await rename(away(), lists());
}

async function refusal(reading: Promise<unknown>): Promise<GateError> {
  const error = await reading.then(
    (read) => new Error(`expected a refusal, read ${JSON.stringify(read)}`),
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof GateError)) throw error;
  return error;
}

describe("a directory swapped for a symbolic link just before the open", () => {
  it("reads the file when nothing is swapped", async () => {
    const file = await readIdFile(join(lists(), "dsr.txt"), [root], 10);
    expect(file.ids).toEqual(["inside-1"]);
  });

  it("refuses the file it opened outside the roots, and shows none of it", async () => {
    hooks.beforeOpen = swapOut;
    try {
      const error = await refusal(readIdFile(join(lists(), "dsr.txt"), [root], 10));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message).toContain("is outside the directories");
      expect(error.message).not.toContain("outside-secret");
    } finally {
      hooks.beforeOpen = null;
      await swapBack();
    }
  });

  it("refuses it too when the swap is undone right after the open, so the path looks innocent again", async () => {
    hooks.beforeOpen = swapOut;
    hooks.afterOpen = swapBack;
    const error = await refusal(readIdFile(join(lists(), "dsr.txt"), [root], 10));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("is outside the directories");
  });
});

describe("the proof that the open file is the one inside the roots", () => {
  it("holds for the file the path names", async () => {
    const path = join(lists(), "dsr.txt");
    const opened = await openRegularFile(path, [root], "shown");
    try {
      expect(await isOpenInsideRoots(opened.handle, opened.stats, path, [root])).toBe(true);
    } finally {
      await opened.handle.close();
    }
  });

  it("fails by device and inode alone: another file than the path names, even where /proc would allow it", async () => {
    // Both files lie under `base`, so only the inode comparison (the portable check) can tell them apart.
    const opened = await openRegularFile(join(outside, "dsr.txt"), [base], "shown");
    try {
      expect(await isOpenInsideRoots(opened.handle, opened.stats, join(lists(), "dsr.txt"), [base])).toBe(
        false,
      );
    } finally {
      await opened.handle.close();
    }
  });

  it.runIf(process.platform === "linux")(
    "fails by the kernel's own path of the open file on Linux, whatever the path now names",
    async () => {
      const opened = await openRegularFile(join(outside, "dsr.txt"), [base], "shown");
      try {
        // The path given names the same file, but the roots do not hold the file the kernel says is open.
        expect(await isOpenInsideRoots(opened.handle, opened.stats, join(outside, "dsr.txt"), [root])).toBe(
          false,
        );
      } finally {
        await opened.handle.close();
      }
    },
  );

  it("fails once the file is gone from its path", async () => {
    const path = join(root, "gone-soon.txt");
    await writeFile(path, "g\n");
    const opened = await openRegularFile(path, [root], "shown");
    try {
      await unlink(path);
      expect(await isOpenInsideRoots(opened.handle, opened.stats, path, [root])).toBe(false);
    } finally {
      await opened.handle.close();
    }
  });
});

describe("after the read", () => {
  async function changedAfterOpen(change: (path: string) => Promise<void>): Promise<GateError> {
    const path = join(root, "moving.txt");
    await writeFile(path, "m1\n");
    const opened = await openRegularFile(path, [root], "shown");
    try {
      await checkUnchanged(opened, [root], "shown");
      await change(path);
      return await refusal(checkUnchanged(opened, [root], "shown"));
    } finally {
      await opened.handle.close();
    }
  }

  it("refuses a file written to while it was read", async () => {
    const error = await changedAfterOpen((path) => appendFile(path, "m2\n"));
    expect(error.message).toContain("changed while it was read");
  });

  it("refuses a file whose path names another file by then", async () => {
    const error = await changedAfterOpen(async (path) => {
      await writeFile(`${path}.new`, "other\n");
      await rename(`${path}.new`, path);
    });
    expect(error.message).toContain("changed while it was read");
  });
});
