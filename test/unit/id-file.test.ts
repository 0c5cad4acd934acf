// ids_file reading: the four formats and their detection, confinement to the roots (.., symbolic links, sibling
// prefixes, hard links), paths that would display as other text, files that are not regular, malformed content,
// lines and tokens longer than any id, the id cap, and a million ids.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmod,
  link,
  mkdir,
  mkdtemp,
  open,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GateError } from "../../src/gate/errors.js";
import { type IdFile, readIdFile } from "../../src/gate/id-file/index.js";

let base: string;
let root: string;

beforeAll(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), "deletegate-id-file-")));
  root = join(base, "ids");
  await mkdir(root);
  await mkdir(join(base, "ids-other"));
  await mkdir(join(base, "outside"));
  await writeFile(join(base, "outside", "secret.txt"), "s1\ns2\n");
  await writeFile(join(base, "ids-other", "x.txt"), "a\n");
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

let fileCount = 0;
/** Writes content to a fresh file under the root and reads it back as ids. */
async function readContent(content: string | Buffer, maxIds = 1000): Promise<IdFile> {
  const path = join(root, `file-${++fileCount}`);
  await writeFile(path, content);
  return readIdFile(path, [root], maxIds);
}

async function refusal(reading: Promise<unknown>): Promise<GateError> {
  const error = await reading.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof GateError)) throw new Error(`expected a GateError, got ${String(error)}`);
  return error;
}

const contentRefusal = async (content: string | Buffer, maxIds?: number) =>
  refusal(readContent(content, maxIds));

describe("formats", () => {
  it("reads plain lines raw, skipping blank ones, with \\r\\n and a BOM", async () => {
    const file = await readContent("\uFEFFa-1\r\n  b 2  \r\n\r\n   \nc,3 is not csv here\nlast");
    expect(file.format).toBe("lines");
    expect(file.ids).toEqual(["a-1", "  b 2  ", "c,3 is not csv here", "last"]);
  });

  it("takes a file whose every line is a number as JSON lines of numbers", async () => {
    const file = await readContent("1\n 22 \n\n-3.5e2\r\n");
    expect(file.format).toBe("jsonl");
    expect(file.ids).toEqual([1, 22, -350]);
  });

  it("reads JSON lines mixing strings (with escapes) and numbers", async () => {
    const file = await readContent('"a"\n12\n\t"x\\"y\\u0041\\n" \r\n\n"é✓𝄞"\n');
    expect(file.format).toBe("jsonl");
    expect(file.ids).toEqual(["a", 12, 'x"yA\n', "é✓𝄞"]);
  });

  it("falls back to plain lines when one line is not JSON", async () => {
    const file = await readContent('1\n"two"\nthree\n');
    expect(file.format).toBe("lines");
    expect(file.ids).toEqual(["1", '"two"', "three"]);
  });

  it("reads a JSON array of strings and numbers, across lines, after a BOM and whitespace", async () => {
    const file = await readContent('\uFEFF \n [ "a" ,1,\n "q\\"\\\\\\n\\u00e9" , -0.5e1,"𝄞" ,\r\n 0 ] \n');
    expect(file.format).toBe("json");
    expect(file.ids).toEqual(["a", 1, 'q"\\\né', -5, "𝄞", 0]);
  });

  it("reads CSV with an id column that is not the first, skipping blank lines", async () => {
    const file = await readContent("name, id ,x\nbob,u1,z\n\r\nann,u2,\r\n");
    expect(file.format).toBe("csv");
    expect(file.ids).toEqual(["u1", "u2"]);
  });

  it("reads CSV without a header from its first column", async () => {
    const file = await readContent("u1,bob\nu2\nu3,ann,more\n");
    expect(file.format).toBe("csv");
    expect(file.ids).toEqual(["u1", "u2", "u3"]);
  });

  it("reads quoted CSV fields holding commas, newlines and doubled quotes", async () => {
    const file = await readContent('id,note\r\n"a,1","x"\n"b""q","line1\nline2"\r\n"c\r\nd",z\n"",empty\n');
    expect(file.ids).toEqual(["a,1", 'b"q', "c\r\nd", ""]);
  });

  it("reads a lone `id` first line as an id: without a comma or a quote it is not CSV (SPEC §4)", async () => {
    const file = await readContent("id\nu1\n");
    expect(file.format).toBe("lines");
    expect(file.ids).toEqual(["id", "u1"]);
  });

  it("takes a first line with a quoted field as CSV once a line is not JSON", async () => {
    const file = await readContent('"a"\nb c\n');
    expect(file.format).toBe("csv");
    expect(file.ids).toEqual(["a", "b c"]);
  });

  it("gives the real path, the byte count and the sha256 of the file", async () => {
    const content = Buffer.from('[ "a", "b" ]\n');
    const file = await readContent(content);
    expect(file.path).toBe(join(root, `file-${fileCount}`));
    expect(file.bytes).toBe(content.length);
    expect(file.sha256).toBe(createHash("sha256").update(content).digest("hex"));
  });
});

describe("streaming", () => {
  // Over a megabyte, so tokens, escapes, multibyte characters and line ends are cut by chunk boundaries.
  const ids = Array.from({ length: 60_000 }, (_, i) => `i${i}-é✓𝄞${i % 7 === 0 ? ',"q"\\' : ""}`);

  it("reads a JSON array cut anywhere", async () => {
    const values = ids.map((id, i) => (i % 5 === 0 ? i : id));
    for (const indent of [0, 1]) {
      const file = await readContent(JSON.stringify(values, null, indent), 100_000);
      expect(file.ids).toEqual(values);
    }
  });

  it("reads JSON lines cut anywhere", async () => {
    const file = await readContent(ids.map((id) => JSON.stringify(id)).join("\r\n"), 100_000);
    expect(file.format).toBe("jsonl");
    expect(file.ids).toEqual(ids);
  });

  it("reads CSV with quoted fields cut anywhere", async () => {
    const csv = ids.map((id) => `"${id.replaceAll('"', '""')}\nmore",x`).join("\r\n");
    const file = await readContent(
      `note,id\r\n${ids.map((id) => `x,"${id.replaceAll('"', '""')}"`).join("\n")}`,
      100_000,
    );
    expect(file.ids).toEqual(ids);
    const headless = await readContent(csv, 100_000);
    expect(headless.ids).toEqual(ids.map((id) => `${id}\nmore`));
  });

  it("reads a million ids", async () => {
    const count = 1_000_000;
    const path = join(root, "million.txt");
    await writeFile(path, Array.from({ length: count }, (_, i) => `user-${i}`).join("\n"));
    const started = performance.now();
    const file = await readIdFile(path, [root], count);
    const elapsed = performance.now() - started;
    expect(file.ids.length).toBe(count);
    expect(file.ids[0]).toBe("user-0");
    expect(file.ids[count - 1]).toBe(`user-${count - 1}`);
    expect(elapsed).toBeLessThan(5000);
  });
});

describe("where the file may be", () => {
  it("is disabled without roots and says how to enable it", async () => {
    const error = await refusal(readIdFile(join(root, "x"), [], 10));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("limits.idFileRoots");
  });

  it("refuses a relative path", async () => {
    for (const path of ["ids.txt", "./ids.txt", "ids/../x"]) {
      const error = await refusal(readIdFile(path, [root], 10));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message).toContain("not an absolute path");
    }
  });

  it("answers a path outside the roots alike whether or not it exists", async () => {
    const existing = await refusal(readIdFile(join(base, "outside", "secret.txt"), [root], 10));
    const missing = await refusal(readIdFile(join(base, "outside", "nothing.txt"), [root], 10));
    expect(existing.code).toBe("INVALID_INPUT");
    expect(existing.message).toContain("is outside the directories");
    expect(missing.message.replace("nothing", "secret")).toBe(existing.message);
  });

  it("refuses .. out of a root", async () => {
    const error = await refusal(readIdFile(`${root}/../outside/secret.txt`, [root], 10));
    expect(error.message).toContain("is outside the directories");
  });

  it("matches a root by whole path segments", async () => {
    const error = await refusal(readIdFile(join(base, "ids-other", "x.txt"), [root], 10));
    expect(error.message).toContain("is outside the directories");
  });

  it("refuses a symbolic link out of a root, whether or not what it leads to exists", async () => {
    await symlink(join(base, "outside", "secret.txt"), join(root, "to-secret"));
    await symlink(join(base, "outside"), join(root, "to-outside"));
    await symlink(join(base, "outside", "nothing.txt"), join(root, "dangling"));
    for (const path of [
      "to-secret",
      "to-secret/x",
      "to-outside/secret.txt",
      "to-outside/nothing.txt",
      "to-outside/nothing/x",
      "dangling",
    ]) {
      const error = await refusal(readIdFile(join(root, path), [root], 10));
      expect(error.message, path).toContain("is outside the directories");
    }
  });

  it("follows a symbolic link that stays inside a root", async () => {
    await mkdir(join(root, "real"));
    await writeFile(join(root, "real", "list.txt"), "k1\nk2\n");
    await symlink(join(root, "real", "list.txt"), join(root, "alias.txt"));
    const file = await readIdFile(join(root, "alias.txt"), [root], 10);
    expect(file.ids).toEqual(["k1", "k2"]);
    expect(file.path).toBe(join(root, "real", "list.txt"));
  });

  it("refuses a missing file and a dangling link inside the root as missing", async () => {
    await symlink(join(root, "gone.txt"), join(root, "to-gone"));
    for (const path of ["nothing.txt", "no-dir/nothing.txt", "to-gone"]) {
      const error = await refusal(readIdFile(join(root, path), [root], 10));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message, path).toContain("does not exist");
    }
  });

  it("refuses a directory", async () => {
    await mkdir(join(root, "a-directory"));
    for (const path of [join(root, "a-directory"), root]) {
      const error = await refusal(readIdFile(path, [root], 10));
      expect(error.message).toContain("is a directory");
    }
  });

  it("refuses a FIFO without blocking on it", async () => {
    const fifo = join(root, "fifo");
    execFileSync("mkfifo", [fifo]);
    const error = await refusal(readIdFile(fifo, [root], 10));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("not a regular file");
  });

  it.skipIf(process.getuid?.() === 0)("refuses a file it may not read", async () => {
    const path = join(root, "locked.txt");
    await writeFile(path, "a\n");
    await chmod(path, 0o000);
    const error = await refusal(readIdFile(path, [root], 10));
    expect(error.message).toContain("permission denied");
  });

  it("shows a hostile path cut short and with its control characters escaped", async () => {
    const path = `relative\u001b[31m\u202e${"x".repeat(5000)}`;
    const error = await refusal(readIdFile(path, [root], 10));
    expect(error.message).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    expect(error.message).toContain("\\u001b[31m\\u202e");
    expect(error.message.length).toBeLessThan(400);
  });
});

describe("what the path may say", () => {
  // The path is shown to the person who confirms (the form, the approval page): it must read as itself.
  const hiding = ["\u2028", "\u2029", "\u202e", "\u2066", "\u200b", "\n", "\u001b"];

  it("refuses a path holding a line separator, a bidi control or another hiding character, even of a real file", async () => {
    for (const character of hiding) {
      const path = join(root, `dsr${character}deletegate's note: approved.txt`);
      await writeFile(path, "a\n");
      const error = await refusal(readIdFile(path, [root], 10));
      const code = `U+${character.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
      expect(error.code, code).toBe("INVALID_INPUT");
      expect(error.message, code).toContain(`contains ${code}`);
      expect(error.message, code).toMatch(/dsr\\(u[0-9a-f]{4}|n)deletegate's note/);
      expect(error.message, code).toContain("plain text");
      expect(error.message, code).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    }
  });

  it("refuses it before looking at the filesystem: outside the roots, it is still the path's text that is refused", async () => {
    const error = await refusal(readIdFile(join(base, "outside", "x\u2028y"), [root], 10));
    expect(error.message).toContain("U+2028");
    expect(error.message).not.toContain("outside the directories");
  });

  it("refuses a plain path that resolves to a file whose real path would not show as itself", async () => {
    await mkdir(join(root, "bidi\u202edir"));
    await writeFile(join(root, "bidi\u202edir", "list.txt"), "a\n");
    await symlink(join(root, "bidi\u202edir", "list.txt"), join(root, "plain-alias.txt"));
    const error = await refusal(readIdFile(join(root, "plain-alias.txt"), [root], 10));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("bidi\\u202edir");
    expect(error.message).toContain("U+202E");
  });
});

describe("hard links", () => {
  it("refuses a hard link under a root to a file elsewhere, saying why", async () => {
    const hard = join(root, "hard-secret.txt");
    await link(join(base, "outside", "secret.txt"), hard);
    const error = await refusal(readIdFile(hard, [root], 10));
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain("hard link");
    expect(error.message).toContain("another file's contents");
    expect(error.message).not.toMatch(/\bs1\b/);
  });

  it("refuses a file with a second name even inside the root: the other name cannot be told apart", async () => {
    const first = join(root, "twice-a.txt");
    await writeFile(first, "t1\n");
    await link(first, join(root, "twice-b.txt"));
    const error = await refusal(readIdFile(first, [root], 10));
    expect(error.message).toContain("hard link");
  });
});

describe("lengths", () => {
  // An id is at most 4096 characters (MAX_ID_LENGTH); a JSON escape spells one in at most six.
  const tooLong = "x".repeat(40_000);

  it("refuses a line, a JSON token or a CSV id field far longer than any id, in every format", async () => {
    const cases = [
      `a\n${tooLong}\nb\n`,
      `a\n${tooLong}`,
      `["a", "${tooLong}"]`,
      `["a", "${"\\u0041".repeat(7000)}"]`,
      `[1, ${"1".repeat(40_000)}]`,
      `"a"\n"${tooLong}"\n`,
      `1\n${"2".repeat(40_000)}\n`,
      `id,note\n${tooLong},n\n`,
      `note,id\nn,"${tooLong}"\n`,
    ];
    for (const content of cases) {
      const shown = content.slice(0, 30);
      const error = await contentRefusal(content);
      expect(error.code, shown).toBe("INVALID_INPUT");
      expect(error.message, shown).toMatch(/longer than \d+ characters/);
      expect(error.message.length, shown).toBeLessThan(600);
    }
  });

  it("still takes ids of 4096 characters, even written as JSON escapes", async () => {
    const id = "é".repeat(4096);
    const escaped = JSON.stringify(id).replace(/é/g, "\\u00e9");
    for (const content of [`${id}\n`, `[${escaped}]`, `${escaped}\n`, `id,n\n${id},1\n`]) {
      const file = await readContent(content);
      expect(file.ids, content.slice(0, 20)).toEqual([id]);
    }
  });

  it("takes a CSV row whose other columns are long, and refuses a row past a mebibyte", async () => {
    const notes = "n".repeat(200_000);
    expect((await readContent(`id,note\na,${notes}\nb,"${notes}"\n`)).ids).toEqual(["a", "b"]);
    for (const content of [
      `id,note\na,${"n".repeat(1_100_000)}\n`,
      `id,note\na,"${"n".repeat(1_100_000)}"\n`,
      `a,b\nc,${",".repeat(1_100_000)}\n`,
    ]) {
      const error = await contentRefusal(content);
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message).toMatch(/CSV row on line 2 is longer than 1048576 characters/);
    }
    // A first line is read before the format is known, under the same bound.
    for (const content of [`a,${",".repeat(1_100_000)}`, `"${"n".repeat(1_100_000)}",a`]) {
      const error = await contentRefusal(content);
      expect(error.message).toMatch(/line 1 is longer than 1048576 characters/);
    }
  });

  it("refuses a 2 GB sparse file at once, without holding it in memory", async () => {
    const path = join(root, "sparse.txt");
    const file = await open(path, "w");
    await file.truncate(2 ** 31);
    await file.close();
    const started = performance.now();
    const errors = await Promise.all(Array.from({ length: 8 }, () => refusal(readIdFile(path, [root], 10))));
    for (const error of errors) {
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message).toMatch(/line 1 is longer than \d+ characters/);
    }
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe("refused content", () => {
  it("refuses a file with no ids", async () => {
    for (const content of ["", "\uFEFF", " \n\r\n\t\n", "[]", " [ \n ] ", "name,id\n\n"]) {
      const error = await contentRefusal(content);
      expect(error.code, JSON.stringify(content)).toBe("INVALID_INPUT");
      expect(error.message).toContain("holds no ids");
    }
  });

  it("refuses invalid UTF-8 and says where", async () => {
    const error = await contentRefusal(Buffer.from([0x61, 0x0a, 0x62, 0xff, 0x0a]));
    expect(error.message).toContain("not UTF-8 text (near byte 3)");
    const cut = await contentRefusal(Buffer.from([0x61, 0x0a, 0xe2, 0x82]));
    expect(cut.message).toContain("not UTF-8 text (near byte 4)");
  });

  it("refuses a JSON array holding anything but strings and numbers", async () => {
    for (const content of ['["a",\n{"id":1}]', "[true]", "[null]", '[["a"]]']) {
      const error = await contentRefusal(content);
      expect(error.message, content).toContain("not a string or a number");
    }
  });

  it("refuses a malformed JSON array, naming the line", async () => {
    const cases: [string, string][] = [
      ['["a"\n "b"]', 'on line 2 expected , or ] but found "\\"b\\"]"'],
      ['["a",]', "expected an id (a string or a number)"],
      ['["a"', "ends before its closing ]"],
      ["[1, 2] x", "expected nothing after the closing ]"],
      ["[01]", "expected a JSON number"],
      ["[1-2]", "expected a JSON number"],
      ['["a\tb"]', "a string with valid escapes and no control character"],
      ['["\\x"]', "a string with valid escapes"],
      ["[1e400]", "beyond ±1.8e308"],
      ["[ 'a' ]", "expected an id or ]"],
    ];
    for (const [content, expected] of cases) {
      const error = await contentRefusal(content);
      expect(error.code, content).toBe("INVALID_INPUT");
      expect(error.message, content).toContain(expected);
    }
  });

  it("refuses a number JSON cannot hold exactly in JSON lines", async () => {
    const error = await contentRefusal("1\n2\n-1e999\n");
    expect(error.message).toContain("on line 3 a number beyond ±1.8e308");
  });

  it("escapes file content shown in a message", async () => {
    const error = await contentRefusal(`["a", x\u202e\u0007${"y".repeat(1000)}]`);
    expect(error.message).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    expect(error.message).toContain("x\\u202e\\u0007");
    expect(error.message.length).toBeLessThan(400);
  });

  it("refuses a CSV row without the header's id column", async () => {
    const error = await contentRefusal("name,id\nbob,u1\n\nann\n");
    expect(error.message).toContain("CSV row on line 4 with no value in the id column (column 2)");
  });

  it("refuses malformed CSV, naming the line", async () => {
    const cases: [string, string][] = [
      ['a,b\nc"d,e\n', "on line 2: a quote inside an unquoted field"],
      [
        'a,b\n"c"d,e\n',
        'on line 2: a closing quote must be followed by , or the line\'s end (found "d,e\\n")',
      ],
      ['a,b\nc,"d\ne\n', "on line 2: a quoted field in the row that starts here is never closed"],
    ];
    for (const [content, expected] of cases) {
      const error = await contentRefusal(content);
      expect(error.message, content).toContain(expected);
    }
  });
});

describe("the id cap", () => {
  it("takes exactly maxIds and refuses one more, in every format", async () => {
    const cases: [string, string][] = [
      ["a\nb\nc\n", "a\nb\nc\nd\n"],
      ["1\n2\n3\n", "1\n2\n3\n4\n"],
      ['["a","b","c"]', '["a","b","c","d"]'],
      ["id,n\na,1\nb,2\nc,3\n", "id,n\na,1\nb,2\nc,3\nd,4\n"],
      ["a,1\nb,2\nc,3\n", "a,1\nb,2\nc,3\nd,4\n"],
    ];
    for (const [fits, over] of cases) {
      expect((await readContent(fits, 3)).ids).toHaveLength(3);
      const error = await contentRefusal(over, 3);
      expect(error.code, over).toBe("TOO_MANY_IDS");
      expect(error.message).toContain("more than 3 ids (limits.maxIdsPerFile)");
    }
  });
});

describe("the hash", () => {
  it("is the sha256 of the exact bytes, BOM and \\r included", async () => {
    const content = Buffer.from("\uFEFFa\r\nb\r\n");
    const file = await readContent(content);
    const path = join(root, `file-${fileCount}`);
    expect(file.sha256).toBe(
      createHash("sha256")
        .update(await readFile(path))
        .digest("hex"),
    );
  });
});
