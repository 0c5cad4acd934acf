// The Host and Origin guard (DNS rebinding, SPEC §9) on any bind address: the Host must name this server, by
// default or as `http.allowedHosts` lists.
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import type { App } from "../../src/app.js";
import { HttpGuards } from "../../src/transports/http-guards.js";

function guards(bindHost: string, options: { allowedHosts?: string[]; publicUrl?: string } = {}): HttpGuards {
  const app = {
    config: { http: { allowedHosts: options.allowedHosts ?? null } },
    live: { current: { approval: options.publicUrl ? { publicUrl: options.publicUrl } : null } },
  } as unknown as App;
  return new HttpGuards(app, bindHost);
}

function request(host: string | undefined, origin?: string): IncomingMessage {
  return {
    headers: { ...(host === undefined ? {} : { host }), ...(origin ? { origin } : {}) },
  } as IncomingMessage;
}

describe("checkHostAndOrigin", () => {
  it("on 0.0.0.0 refuses a name that is not this server's, as on loopback", () => {
    for (const bind of ["0.0.0.0", "::", "127.0.0.1"]) {
      const guard = guards(bind);
      expect(guard.checkHostAndOrigin(request("evil.example:8808")), bind).toMatch(/^Invalid Host header/);
      expect(guard.checkHostAndOrigin(request("127.0.0.1.nip.io:8808")), bind).toMatch(/^Invalid Host/);
      expect(guard.checkHostAndOrigin(request("localhost:8808")), bind).toBeNull();
      expect(guard.checkHostAndOrigin(request("[::1]:8808")), bind).toBeNull();
      expect(guard.checkHostAndOrigin(request(undefined)), bind).toMatch(/^Invalid Host/);
    }
  });

  it("answers the bind address and the host of approval.publicUrl by default", () => {
    const guard = guards("10.1.2.3", { publicUrl: "https://Deletegate.Internal.example" });
    expect(guard.checkHostAndOrigin(request("10.1.2.3:8808"))).toBeNull();
    expect(guard.checkHostAndOrigin(request("deletegate.internal.example"))).toBeNull();
    expect(guard.checkHostAndOrigin(request("DELETEGATE.internal.example:443"))).toBeNull();
    expect(guard.checkHostAndOrigin(request("other.internal.example"))).toMatch(/^Invalid Host/);
    expect(guards("::").checkHostAndOrigin(request("[::]:8808"))).toBeNull();
  });

  it("answers only the listed names when http.allowedHosts is set", () => {
    const guard = guards("0.0.0.0", { allowedHosts: ["deletegate.internal.example", "[::1]"] });
    expect(guard.checkHostAndOrigin(request("deletegate.internal.example:8808"))).toBeNull();
    expect(guard.checkHostAndOrigin(request("[::1]:8808"))).toBeNull();
    expect(guard.checkHostAndOrigin(request("localhost:8808"))).toMatch(/^Invalid Host/);
    expect(guard.checkHostAndOrigin(request("evil.example"))).toMatch(/^Invalid Host/);
  });

  it("refuses an Origin that is not the Host", () => {
    const guard = guards("0.0.0.0", { allowedHosts: ["deletegate.internal.example"] });
    const host = "deletegate.internal.example:8808";
    expect(guard.checkHostAndOrigin(request(host, `https://${host}`))).toBeNull();
    expect(guard.checkHostAndOrigin(request(host, "https://evil.example"))).toMatch(/^Invalid Origin/);
    expect(guard.checkHostAndOrigin(request(host, "null"))).toMatch(/^Invalid Origin/);
  });
});
