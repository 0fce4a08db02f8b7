// Goal: the console and the access rules as a client sees them on a real member, without a
// browser: --enable-ui=false removes /ui/ and nothing else; the page file report is served
// read-only; a write that claims to come from another site is refused while the same write
// from curl or etcdctl is served; etcd's CORS headers follow --cors.
// Method: detcd members on ports 36040-36043, plain fetch with the headers browsers send.
import assert from "node:assert/strict";
import { etcdctl, singleMemberArgs, spawnServer, startMember } from "./_harness.ts";
import { retry } from "./cluster_util.ts";
import { b64 } from "./_ui_browser.ts";

Deno.test({
  name: "client listener: /ui/ on and off, /ui/api/storage, cross-site refusal, CORS",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const on = await startMember({ impl: "detcd", clientPort: 36040, peerPort: 36041 });
    const off = await startMember({
      impl: "detcd",
      clientPort: 36042,
      peerPort: 36043,
      extraArgs: ["--enable-ui=false", "--cors", "https://ops.example:443"],
    });
    try {
      const page = await fetch(`http://${on.endpoint}/ui/`);
      assert.equal(page.status, 200);
      assert.match(
        page.headers.get("content-security-policy")!,
        /connect-src 'self' http:\/\/127\.0\.0\.1:36040/,
      );
      await page.body?.cancel();
      const storage = await fetch(`http://${on.endpoint}/ui/api/storage`);
      const report = await storage.json();
      assert.ok(report.pages.pages.total >= 4, JSON.stringify(report));
      assert.ok(report.pages.buckets.some((b: { name: string }) => b.name === "key"));
      const disabled = await fetch(`http://${off.endpoint}/ui/`);
      assert.equal(disabled.status, 404);
      await disabled.body?.cancel();
      const health = await fetch(`http://${off.endpoint}/health`);
      assert.equal(health.status, 200);
      await health.body?.cancel();

      const put = (headers: Record<string, string>, key: string) =>
        fetch(`http://${on.endpoint}/v3/kv/put`, {
          method: "POST",
          headers,
          body: JSON.stringify({ key: b64(key), value: b64("x") }),
        });
      const forged = await put(
        { "sec-fetch-site": "cross-site", "content-type": "text/plain" },
        "/a",
      );
      assert.equal(forged.status, 403);
      assert.match((await forged.json()).error, /cross-site request refused/);
      const other = await put({ origin: "http://127.0.0.1:36999" }, "/b");
      assert.equal(other.status, 403);
      await other.body?.cancel();
      const plain = await put({}, "/c");
      assert.equal(plain.status, 200);
      assert.equal(plain.headers.get("access-control-allow-origin"), "*");
      await plain.body?.cancel();
      const keys = await etcdctl(on.endpoint, ["get", "/", "--prefix", "--keys-only"]);
      assert.equal(keys.stdout.trim(), "/c");

      // --cors with a named origin: that origin is trusted and echoed, others get no header.
      const trusted = await fetch(`http://${off.endpoint}/v3/kv/put`, {
        method: "POST",
        headers: { origin: "https://ops.example", "sec-fetch-site": "cross-site" },
        body: JSON.stringify({ key: b64("/t"), value: b64("x") }),
      });
      assert.equal(trusted.status, 200);
      assert.equal(trusted.headers.get("access-control-allow-origin"), "https://ops.example");
      await trusted.body?.cancel();
      const preflight = await fetch(`http://${off.endpoint}/v3/kv/range`, {
        method: "OPTIONS",
        headers: { origin: "https://elsewhere.example" },
      });
      assert.equal(preflight.status, 200);
      assert.equal(preflight.headers.get("access-control-allow-origin"), null);
      await preflight.body?.cancel();
    } finally {
      await on.stop();
      await off.stop();
    }
  },
});

const FIXTURES = "/usr/share/gocode/src/go.etcd.io/etcd/integration/fixtures";

Deno.test({
  name: "client listener with TLS and client certificates: the console is behind the same TLS",
  ignore: !(await Deno.stat(`${FIXTURES}/ca.crt`).then(() => true, () => false)),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // etcd's e2e fixtures: server.crt (SAN 127.0.0.1) is both server and client certificate.
    const url = "https://127.0.0.1:36044";
    const dataDir = await Deno.makeTempDir({ prefix: "detcd-ui-tls-" });
    const server = spawnServer("detcd", [
      ...singleMemberArgs({ name: "m1", dataDir, clientPort: 36044, peerPort: 36045 }),
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--cert-file",
      `${FIXTURES}/server.crt`,
      "--key-file",
      `${FIXTURES}/server.key.insecure`,
      "--trusted-ca-file",
      `${FIXTURES}/ca.crt`,
      "--client-cert-auth",
    ], { endpoint: "127.0.0.1:36044" });
    const caCerts = [await Deno.readTextFile(`${FIXTURES}/ca.crt`)];
    const withCert = Deno.createHttpClient({
      caCerts,
      cert: await Deno.readTextFile(`${FIXTURES}/server.crt`),
      key: await Deno.readTextFile(`${FIXTURES}/server.key.insecure`),
    });
    const withoutCert = Deno.createHttpClient({ caCerts });
    try {
      await server.waitFor("serving client traffic securely", 30_000);
      const page = await fetch(`${url}/ui/`, { client: withCert });
      assert.equal(page.status, 200);
      assert.ok((await page.text()).includes("detcd console"));
      await retry("the member list names the https client URL", 10_000, async () => {
        const again = await fetch(`${url}/ui/`, { client: withCert });
        await again.body?.cancel();
        assert.match(
          again.headers.get("content-security-policy")!,
          /connect-src 'self' https:\/\/127\.0\.0\.1:36044;/,
        );
      });
      const plain = await fetch(`http://127.0.0.1:36044/ui/`).then(
        (r) => r.status,
        () => "refused",
      );
      assert.notEqual(plain, 200, "no console over plain HTTP on a TLS listener");
      const anonymous = await fetch(`${url}/ui/`, { client: withoutCert }).then(
        (r) => r.status,
        () => "refused",
      );
      assert.equal(anonymous, "refused", "no console without a client certificate");
    } finally {
      withCert.close();
      withoutCert.close();
      await server.stop(5000);
      await server.drained();
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
