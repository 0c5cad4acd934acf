// What kind-independent code knows of one backend kind's simulator: how to start it, what it holds, and the cases
// the contract test, the reliability suites, the demo and `npm run simulators` run against it (registry: index.ts).
import type { ReadState, Target } from "../../src/backends/types.js";
import type { DemoPrint, DemoSection } from "../demo-section.js";
import type { RecordedRequest } from "./base.js";
import type { FaultInjector, FaultRequest } from "./faults.js";

/** How a test or the demo starts a kind's simulator: on 127.0.0.1 and an OS-chosen port unless told otherwise. */
export interface SimulatorStart {
  /** The only key the simulator accepts. */
  secret: string;
  /**
   * Items that exist in the fixture's first target (for kinds without targets: in the account). Omitted: what the
   * simulator holds by default (nothing, or for simulators that track no items, anything).
   */
  items?: string[];
  /**
   * Items an earlier delete left behind (in the first target), for kinds that keep a trace of one (LangSmith's emptied
   * examples, Subworkflow's marked datasets): they read as already deleted. Other kinds ignore it: deleted is gone.
   */
  deletedItems?: string[];
  host?: string;
  port?: number;
  /** Kinds whose deletes complete in backend jobs: how long each job stays pending, then running. */
  backendJobMs?: { pending: number; running: number };
}

/** A running simulator as kind-independent code sees it; `raw` is the kind's own, for the fixture's own steps. */
export interface KindSimulator<Raw = unknown> {
  url: string;
  /** Route names are the fixture's `routes`; "unmatched" for paths outside the contract. */
  faults: FaultInjector;
  requests: RecordedRequest[];
  /** One sentence per request outside the contract. */
  violations: string[];
  raw: Raw;
  /** The item ids a request names when it is a delete request, else null. */
  deleteIds(request: FaultRequest): string[] | null;
  /** Kinds that read: the item ids a request names when it is a read request, else null. */
  readIds?(request: FaultRequest): string[] | null;
  /** Id → how many processed delete requests named it (in the first target). */
  received(): Map<string, number>;
  /** Id → how many times the simulator deleted it (for kinds that mark items: marked it). */
  deletions(): Map<string, number>;
  /** Kinds that poll: the first id of the job a job-status request reads, else null. */
  polledFirstId?(request: FaultRequest): string | null;
  /** Kinds that poll: the next `count` backend jobs never end. */
  stallNextJobs?(count: number): void;
  close(): Promise<void>;
}

/** What a batch came to once every retry and poll is done. */
export interface Settled {
  deleted: number;
  notFound: number;
  failed: number;
  /** Delete requests sent for it (job-status reads not counted). */
  requests: number;
}

/** A config key's valid values and values of the wrong type or out of range (config fuzzing). */
export interface KeyRule {
  good: unknown[];
  bad: unknown[];
}

/** A non-empty string key, e.g. tenantId. */
export const TEXT_KEY: KeyRule = { good: ["x", "some value"], bad: ["", 5, null, [], {}, true] };

export interface KindFixture<Raw = unknown> {
  /** The adapter's kind, as registered in src/backends/index.ts. */
  kind: string;
  /** The service's name in sentences, e.g. "Splendor". */
  service: string;
  /** What the kind deletes and how, in a few words: the README's list of backends. */
  summary: string;
  /** The variable a config names in credentialEnv for this kind's key, by convention. */
  credentialEnv: string;
  /** What the service calls that secret, e.g. "token" or "API key": the bundle and server.json name it so. */
  credential: string;
  /** Keys a backend needs to reach a simulator started by `start` (beside kind, baseUrl and credentialEnv). */
  keys: Record<string, unknown>;
  /** Targets the simulator serves, the first holding a started simulator's items; empty for kinds without one. */
  targets: Target[];
  /** allowTargets admitting `targets`: an exact name and a glob (omitted for kinds without targets). */
  allowTargets?: string[];
  /** `count` distinct ids the kind takes; the n-th is always the same. */
  ids(count: number): string[];
  /** Fault routes: the simulator's delete requests and, for kinds that poll, its job-status reads. */
  routes: { delete: string; poll?: string };
  /** Kinds with a "Read" section: the fault route of its reads, and how an id reads once its delete is done. */
  read?: { route: string; afterDelete: Exclude<ReadState, "found"> };
  /** The request header carrying the key, and its value for `secret`. */
  auth(secret: string): [header: string, value: string];
  /** True when the backend says which ids did not exist (counted not found); false: every id counts deleted. */
  reportsNotFound: boolean;
  /** True when an id sent again after it was deleted counts not found; false when it counts deleted again. */
  resendIsNotFound: boolean;
  start(options: SimulatorStart): Promise<KindSimulator<Raw>>;
  /** The kind's partial answer to a batch of four ids that exist. */
  partial: PartialCase<Raw>;
  /** Hostile-input suite: the backend's name, and ids the kind takes (unicode, numbers, spaces) beside hostile ones. */
  hostile: { backend: string; ids: (string | number)[] };
  /** Config fuzzing: the backend's name and entry (beside kind and credentialEnv), and rules for the kind's keys. */
  configFuzz: { backend: string; entry: Record<string, unknown>; keys: Record<string, KeyRule> };
  demo: DemoFixture<Raw>;
}

export interface PartialCase<Raw> {
  /** What the backend answers, for the test's name. */
  title: string;
  /** Sets the simulator (started with key `secret`) up so that a batch of these ids, all existing, is answered partially. */
  arm(sim: KindSimulator<Raw>, ids: string[], secret: string): void | Promise<void>;
  expect: Settled;
}

/** The kind in `npm run simulators`, examples/demo.config.json, mcp.json and `npm run demo`. */
export interface DemoFixture<Raw> {
  /** The backend's name in the demo configs, e.g. "splendor-demo". */
  backend: string;
  /** `npm run simulators`' fixed port, and the variable that overrides it. */
  port: number;
  portEnv: string;
  secret: string;
  /** The backend's kind-specific keys in the printed config. */
  keys: Record<string, unknown>;
  /** Starts the simulator holding the demo data (`items` is ignored). */
  start(options: SimulatorStart): Promise<KindSimulator<Raw>>;
  /** What the simulator started with these options holds, in one line. */
  holds(options: Pick<SimulatorStart, "backendJobMs">): string;
  /** The items an agent may delete, in one line. */
  items: string;
  /** `npm run demo`'s section for the kind; none for the featured kind the demo walks through step by step. */
  section?(sim: KindSimulator<Raw>, print: DemoPrint): DemoSection;
}

/** The array of ids at `field` of a JSON body, as strings; null when there is none. */
export function bodyIds(request: FaultRequest, field: string): string[] | null {
  const body = request.body as Record<string, unknown> | undefined;
  const ids = body && typeof body === "object" ? body[field] : undefined;
  return Array.isArray(ids) ? ids.map(String) : null;
}

/** A stable UUID for item `index` (version 4 layout). */
export function demoUuid(index: number): string {
  return `00000000-0000-4000-8000-${index.toString(16).padStart(12, "0")}`;
}

/** prefix0001, prefix0002, …: `count` numbered ids from 1. */
export function numbered(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}${String(index + 1).padStart(4, "0")}`);
}
