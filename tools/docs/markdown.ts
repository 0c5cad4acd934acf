// Just enough Markdown reading for the docs checks: headings and their GitHub anchors, links, tables, code spans.

/** One line of a Markdown file, with whether it sits inside a fenced code block. */
interface Line {
  text: string;
  /** 1-based. */
  number: number;
  inFence: boolean;
}

function lines(markdown: string): Line[] {
  const result: Line[] = [];
  let fence: string | null = null;
  markdown.split("\n").forEach((text, index) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (
      marker !== undefined &&
      (fence === null || (marker[0] === fence[0] && marker.length >= fence.length))
    ) {
      // The fence lines themselves count as code.
      result.push({ text, number: index + 1, inFence: true });
      fence = fence === null ? marker : null;
      return;
    }
    result.push({ text, number: index + 1, inFence: fence !== null });
  });
  return result;
}

/** The text of a line with its code spans blanked out, so nothing inside backticks reads as a link. */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)[\s\S]*?\1/g, (span) => " ".repeat(span.length));
}

/**
 * GitHub's anchor for a heading: the rendered text lower-cased, punctuation and symbols dropped (letters, marks,
 * digits, `_`, `-` and spaces stay), each space a `-`.
 */
export function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/`/g, "");
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

export interface Heading {
  level: number;
  text: string;
  anchor: string;
  line: number;
}

/** Every ATX heading outside code, with its anchor (a repeated anchor gets `-1`, `-2`, … as on GitHub). */
export function headings(markdown: string): Heading[] {
  const seen = new Map<string, number>();
  const result: Heading[] = [];
  for (const line of lines(markdown)) {
    if (line.inFence) continue;
    const match = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line.text);
    if (!match) continue;
    const text = match[2] as string;
    const base = slug(text);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.push({
      level: (match[1] as string).length,
      text,
      anchor: count === 0 ? base : `${base}-${count}`,
      line: line.number,
    });
  }
  return result;
}

export interface Link {
  target: string;
  line: number;
}

/** The targets of inline links and images outside code (`[text](target)`, `![alt](target "title")`). */
export function links(markdown: string): Link[] {
  const result: Link[] = [];
  for (const line of lines(markdown)) {
    if (line.inFence) continue;
    for (const match of withoutCodeSpans(line.text).matchAll(/\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      result.push({ target: match[1] as string, line: line.number });
    }
  }
  return result;
}

export interface Table {
  header: string[];
  rows: string[][];
  /** The line of the header row. */
  line: number;
}

/** Splits a table row on `|` outside code spans and escapes; cells are trimmed. */
function cells(row: string): string[] {
  const result: string[] = [];
  let cell = "";
  let ticks = 0;
  for (let i = 0; i < row.length; i++) {
    const char = row[i] as string;
    if (char === "\\" && row[i + 1] === "|") {
      cell += "|";
      i++;
    } else if (char === "`") {
      let run = 1;
      while (row[i + run] === "`") run++;
      cell += "`".repeat(run);
      i += run - 1;
      ticks = ticks === 0 ? run : ticks === run ? 0 : ticks;
    } else if (char === "|" && ticks === 0) {
      result.push(cell.trim());
      cell = "";
    } else cell += char;
  }
  result.push(cell.trim());
  // A row written `| a | b |` has an empty first and last cell.
  if (row.trim().startsWith("|")) result.shift();
  if (row.trim().endsWith("|")) result.pop();
  return result;
}

/** Every pipe table outside code: a header row, a delimiter row, then rows up to the first line that is not one. */
export function tables(markdown: string): Table[] {
  const all = lines(markdown);
  const result: Table[] = [];
  for (let i = 0; i + 1 < all.length; i++) {
    const head = all[i] as Line;
    const delimiter = all[i + 1] as Line;
    if (head.inFence || !head.text.includes("|")) continue;
    if (!/^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/.test(delimiter.text)) continue;
    const table: Table = { header: cells(head.text), rows: [], line: head.number };
    let j = i + 2;
    for (; j < all.length; j++) {
      const row = all[j] as Line;
      if (row.inFence || !row.text.includes("|") || row.text.trim() === "") break;
      table.rows.push(cells(row.text));
    }
    result.push(table);
    i = j - 1;
  }
  return result;
}

/** The contents of the code spans in a piece of Markdown, in order. */
export function codeSpans(markdown: string): string[] {
  return [...markdown.matchAll(/(`+)([\s\S]*?)\1/g)].map((match) => (match[2] as string).trim());
}
