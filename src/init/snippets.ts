// The client registrations `deletegate init` prints: each MCP client's own file format, all running `npx -y deletegate`.

/** The npm package clients run. */
export const PACKAGE_NAME = "deletegate";

export interface ClientSetup {
  /** The config file, as an absolute path (clients start servers in directories of their own choosing). */
  configPath: string;
  /** The variables the server reads its backend keys from (each backend's `credentialEnv`). */
  credentialEnvs: readonly string[];
}

/** The name clients list the server under. */
const SERVER_NAME = "deletegate";

/** What stands in a snippet for a secret: the operator replaces it; init never sees a key. */
export function placeholder(variable: string): string {
  return `<your ${variable}>`;
}

/**
 * Lets npx run better-sqlite3's install script (its native build): npm 12 skips dependency install scripts
 * unless allowed, and a one-off npx run has no package.json to allow them in. npm 10 and 11 accept it too.
 */
export const NPX_ALLOW_SCRIPTS = "--allow-scripts=better-sqlite3";

/** `npx -y --allow-scripts=better-sqlite3 deletegate --config <path>` as command and arguments. */
function serverCommand(setup: ClientSetup): { command: string; args: string[] } {
  return { command: "npx", args: ["-y", NPX_ALLOW_SCRIPTS, PACKAGE_NAME, "--config", setup.configPath] };
}

function placeholderEnv(setup: ClientSetup): Record<string, string> {
  return Object.fromEntries(setup.credentialEnvs.map((variable) => [variable, placeholder(variable)]));
}

/** Claude Desktop's `claude_desktop_config.json`: an entry under `mcpServers`. */
export function claudeDesktopConfig(setup: ClientSetup) {
  return { mcpServers: { [SERVER_NAME]: { ...serverCommand(setup), env: placeholderEnv(setup) } } };
}

/** Cursor's `~/.cursor/mcp.json` (or a project's `.cursor/mcp.json`): the same `mcpServers` shape. */
export const cursorConfig = claudeDesktopConfig;

/** The id of the VS Code input that prompts for a variable: SPLENDOR_TOKEN → splendor-token. */
function vscodeInputId(variable: string): string {
  return variable.toLowerCase().replaceAll("_", "-");
}

/**
 * VS Code's `.vscode/mcp.json`: `servers` with an explicit stdio type; each key comes from an `inputs` prompt
 * (`password: true`), so VS Code asks for it once and keeps it out of the file.
 */
export function vscodeConfig(setup: ClientSetup) {
  return {
    inputs: setup.credentialEnvs.map((variable) => ({
      type: "promptString",
      id: vscodeInputId(variable),
      description: `${variable} for deletegate`,
      password: true,
    })),
    servers: {
      [SERVER_NAME]: {
        type: "stdio",
        ...serverCommand(setup),
        env: Object.fromEntries(
          setup.credentialEnvs.map((variable) => [variable, `\${input:${vscodeInputId(variable)}}`]),
        ),
      },
    },
  };
}

/** A word as a POSIX shell reads it back unchanged: bare when it is safe, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Claude Code's `claude mcp add` line. The server's name comes first: `--env` takes several values, so a name
 * after it would be read as one more. Each key is `"$VARIABLE"`, taken from the shell that runs the line.
 */
export function claudeCodeCommand(setup: ClientSetup): string {
  const { command, args } = serverCommand(setup);
  return [
    "claude mcp add",
    shellQuote(SERVER_NAME),
    "--transport stdio",
    ...setup.credentialEnvs.map((variable) => `--env ${variable}="$${variable}"`),
    "--",
    command,
    ...args.map(shellQuote),
  ].join(" ");
}

/** Said beside every stdio snippet: the `http.tokens` variables belong to `deletegate --http` alone. */
export const STDIO_TOKEN_WARNING =
  "The HTTP token variables (http.tokens[].tokenEnv) are not needed for stdio: they are for deletegate --http " +
  "only. A stdio client needs only the backend key variables shown.";

/** Every client's snippet, with where it goes, as one text for a terminal. */
export function clientSnippets(setup: ClientSetup): string {
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  const variables = setup.credentialEnvs.join(", ");
  return [
    `Each snippet starts deletegate with npx on this config. Replace ${setup.credentialEnvs.map(placeholder).join(", ")} with the real key; never commit it.`,
    `warning: ${STDIO_TOKEN_WARNING}`,
    "",
    "== Claude Desktop: add to claude_desktop_config.json (macOS: ~/Library/Application Support/Claude/,",
    "   Windows: %APPDATA%\\Claude\\), then restart Claude Desktop",
    json(claudeDesktopConfig(setup)),
    "",
    `== Claude Code: run once, in a shell where ${variables} ${setup.credentialEnvs.length === 1 ? "is" : "are"} exported (Claude Code keeps the value)`,
    claudeCodeCommand(setup),
    "",
    "== VS Code: .vscode/mcp.json (VS Code asks for the key once and stores it as a secret)",
    json(vscodeConfig(setup)),
    "",
    "== Cursor: ~/.cursor/mcp.json (every project) or .cursor/mcp.json (one project)",
    json(cursorConfig(setup)),
  ].join("\n");
}
