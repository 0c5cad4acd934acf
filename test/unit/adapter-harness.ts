// Adapter unit tests: a recording server per test, and an adapter client wired exactly as the runner wires it.
import { afterEach } from "vitest";
import type { HttpClient } from "../../src/backends/http.js";
import { connectBackend } from "../../src/backends/index.js";
import type { BackendClient } from "../../src/backends/types.js";
import type { BackendConfig } from "../../src/config.js";
import { type CannedResponse, type RecordingServer, startRecordingServer } from "./recording-server.js";

/** `config(baseUrl, overrides)` builds the backend the client talks to; everything opened is closed after each test. */
export function adapterHarness(
  config: (baseUrl: string, overrides?: Partial<BackendConfig>) => BackendConfig,
) {
  let servers: RecordingServer[] = [];
  let clients: HttpClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.map((http) => http.close()));
    await Promise.all(servers.map((server) => server.close()));
    clients = [];
    servers = [];
  });

  function connect(backend: BackendConfig): BackendClient {
    const { client, http } = connectBackend(backend);
    clients.push(http);
    return client;
  }

  /** A server answering `answer` to every request, and an adapter client pointed at it. */
  async function against(
    answer: CannedResponse | "hang",
    overrides: Partial<BackendConfig> = {},
  ): Promise<{ server: RecordingServer; client: BackendClient }> {
    const server = await startRecordingServer(() => answer);
    servers.push(server);
    return { server, client: connect(config(server.url, overrides)) };
  }

  return { connect, against };
}
