// Goal: the v2 discovery client follows etcd 3.4's protocol: it registers with
// prevExist=false, waits for the configured size with wait=true&waitIndex, orders members by
// creation index, and fails with etcd's errors (full cluster, duplicate id, duplicate name,
// bad size key, bad endpoint); unreachable or failing services are retried with backoff, and
// --discovery-proxy sends the requests through an HTTP proxy.
// Method: an in-process fake of the v2 keys API (just what discovery uses) on a free port,
// with a recorded request log; the backoff sleep is replaced by a counter.
import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { DiscoveryProtocolError, joinCluster, V2KeysError } from "./discovery.ts";
import { createLogger } from "./log.ts";

interface FakeNode {
  key: string;
  value: string;
  createdIndex: number;
}

/** A v2 keys directory with size, registrations, long-poll watches and injected failures. */
class FakeDiscovery {
  index = 1;
  size: string | undefined = "3";
  nodes: FakeNode[] = [];
  requests: string[] = [];
  /** Answers 503 to this many requests first. */
  failures = 0;
  /** Answers this body (status 200) to every request. */
  garbage: string | undefined;
  #waiters: { key: string; after: number; recursive: boolean; resolve: (r: Response) => void }[] =
    [];
  readonly server: Deno.HttpServer<Deno.NetAddr>;

  constructor(readonly token = "/v2/keys/discovery/tok") {
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.addr.port}${this.token}`;
  }

  register(id: string, value: string): void {
    const node = { key: `/discovery/tok/${id}`, value, createdIndex: ++this.index };
    this.nodes.push(node);
    this.#wake(node);
  }

  #wake(node: FakeNode): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      const match = waiter.recursive
        ? node.key.startsWith(`${waiter.key}/`)
        : node.key === waiter.key;
      if (!match || node.createdIndex <= waiter.after) return true;
      waiter.resolve(this.#json(200, { action: "create", node: this.#node(node) }));
      return false;
    });
  }

  #node(node: FakeNode) {
    return { ...node, modifiedIndex: node.createdIndex };
  }

  #json(status: number, body: unknown): Response {
    return new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json", "X-Etcd-Index": String(this.index) },
    });
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    this.requests.push(`${request.method} ${url.pathname}${url.search}`);
    if (this.failures > 0) {
      this.failures--;
      return new Response("unavailable", { status: 503 });
    }
    if (this.garbage !== undefined) return new Response(this.garbage);
    const key = url.pathname.replace(/^\/v2\/keys/, "");
    const notFound = () =>
      this.#json(404, { errorCode: 100, message: "Key not found", cause: key, index: this.index });
    if (request.method === "PUT") {
      const value = new URLSearchParams(await request.text()).get("value") ?? "";
      if (this.nodes.some((node) => node.key === key)) {
        return this.#json(412, {
          errorCode: 105,
          message: "Key already exists",
          cause: key,
          index: this.index,
        });
      }
      const node = { key, value, createdIndex: ++this.index };
      this.nodes.push(node);
      setTimeout(() => this.#wake(node), 0);
      return this.#json(201, { action: "create", node: this.#node(node) });
    }
    if (url.searchParams.get("wait") === "true") {
      const after = Number(url.searchParams.get("waitIndex")) - 1;
      const recursive = url.searchParams.get("recursive") === "true";
      const past = this.nodes.find((node) =>
        node.createdIndex > after &&
        (recursive ? node.key.startsWith(`${key}/`) : node.key === key)
      );
      if (past !== undefined) {
        return this.#json(200, { action: "create", node: this.#node(past) });
      }
      return await new Promise((resolve) => this.#waiters.push({ key, after, recursive, resolve }));
    }
    if (key === "/discovery/tok/_config/size") {
      if (this.size === undefined) return notFound();
      return this.#json(200, { action: "get", node: { key, value: this.size } });
    }
    if (key === "/discovery/tok") {
      return this.#json(200, {
        action: "get",
        node: { key, dir: true, nodes: this.nodes.map((node) => this.#node(node)) },
      });
    }
    return notFound();
  }

  async close(): Promise<void> {
    for (const waiter of this.#waiters) waiter.resolve(new Response("", { status: 200 }));
    await this.server.shutdown();
  }
}

/** Resolves once `condition` holds (polled every 5 ms, for at most 10 s). */
async function _until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 10 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A predicate for rejects(): an instance of `type` whose message contains `text`. */
function _failsWith(type: new (...args: never[]) => Error, text: string) {
  return (error: unknown) => error instanceof type && error.message.includes(text);
}

const log = createLogger({ logger: "zap", level: "error", outputs: ["stderr"] });

function join(fake: FakeDiscovery, id: bigint, config: string, extra = {}) {
  return joinCluster({ url: fake.url, proxy: "", memberId: id, config, log, ...extra });
}

Deno.test("joinCluster() registers, waits for the others and returns the first `size` in creation order", async () => {
  const fake = new FakeDiscovery();
  try {
    fake.register("b1", "m2=http://127.0.0.1:2382");
    const joined = join(fake, 0xa1n, "m1=http://127.0.0.1:2381");
    // The third member registers only once the joiner watches the directory for it.
    await _until(() => fake.requests.some((line) => line.includes("wait=true&waitIndex=4")));
    fake.register("c1", "m3=http://127.0.0.1:2383");
    assertEquals(
      await joined,
      "m2=http://127.0.0.1:2382,m1=http://127.0.0.1:2381,m3=http://127.0.0.1:2383",
    );
    // Registration: create-only, then a watch from our own index on our own key.
    const put = fake.requests.find((line) => line.startsWith("PUT"));
    assertEquals(put, "PUT /v2/keys/discovery/tok/a1?prevExist=false");
    const watches = fake.requests.filter((line) => line.includes("wait=true"));
    assertEquals(watches[0], "GET /v2/keys/discovery/tok/a1?wait=true&waitIndex=3&recursive=false");
    assertEquals(watches[1], "GET /v2/keys/discovery/tok?wait=true&waitIndex=4&recursive=true");
  } finally {
    await fake.close();
  }
});

Deno.test("joinCluster() fails fast on a full cluster, before registering", async () => {
  const fake = new FakeDiscovery();
  try {
    fake.size = "2";
    fake.register("b1", "m2=http://127.0.0.1:2382");
    fake.register("c1", "m3=http://127.0.0.1:2383");
    await rejects(
      () => join(fake, 0xa1n, "m1=http://127.0.0.1:2381"),
      (error) =>
        error instanceof DiscoveryProtocolError && error.code === "full-cluster" &&
        error.message === "discovery: cluster is full",
    );
    assertEquals(fake.requests.some((line) => line.startsWith("PUT")), false);
  } finally {
    await fake.close();
  }
});

Deno.test("joinCluster() reports a re-registration as a duplicate id and two names alike as a duplicate name", async () => {
  const fake = new FakeDiscovery();
  try {
    fake.size = "2";
    fake.register("a1", "m1=http://127.0.0.1:2381");
    await rejects(
      () => join(fake, 0xa1n, "m1=http://127.0.0.1:2381"),
      _failsWith(DiscoveryProtocolError, "discovery: found duplicate id"),
    );
    fake.register("b1", "m1=http://127.0.0.1:2382");
    fake.nodes = fake.nodes.filter((node) => !node.key.endsWith("/a1"));
    await rejects(
      () => join(fake, 0xa1n, "m1=http://127.0.0.1:2381"),
      _failsWith(DiscoveryProtocolError, "discovery: found duplicate name"),
    );
  } finally {
    await fake.close();
  }
});

Deno.test("joinCluster() rejects a bad size key, a missing one and an endpoint that is not etcd", async () => {
  const fake = new FakeDiscovery();
  try {
    fake.size = "three";
    await rejects(
      () => join(fake, 1n, "m=http://127.0.0.1:1"),
      _failsWith(Error, "size key is bad"),
    );
    fake.size = undefined;
    // etcd passes the client's own error through (its ErrSizeNotFound check never matches).
    await rejects(
      () => join(fake, 1n, "m=http://127.0.0.1:1"),
      _failsWith(V2KeysError, "100: Key not found (/discovery/tok/_config/size)"),
    );
    fake.garbage = "<html>hello</html>";
    await rejects(
      () => join(fake, 1n, "m=http://127.0.0.1:1"),
      _failsWith(Error, "discovery: bad discovery endpoint"),
    );
  } finally {
    await fake.close();
  }
});

Deno.test("joinCluster() retries a failing service with etcd's doubling backoff, up to its bound", async () => {
  const fake = new FakeDiscovery();
  try {
    fake.size = "1";
    fake.failures = 3;
    const slept: number[] = [];
    const sleep = (ms: number) => {
      slept.push(ms);
      return Promise.resolve();
    };
    assertEquals(await join(fake, 1n, "m=http://127.0.0.1:1", { sleep }), "m=http://127.0.0.1:1");
    assertEquals(slept, [2000, 4000, 8000]);
    fake.failures = 100;
    await rejects(
      () => join(fake, 2n, "n=http://127.0.0.1:2", { sleep, maxRetries: 2 }),
      _failsWith(DiscoveryProtocolError, "discovery: too many retries"),
    );
  } finally {
    await fake.close();
  }
});

Deno.test("joinCluster() sends its requests through --discovery-proxy", async () => {
  const fake = new FakeDiscovery();
  const proxied: string[] = [];
  // A forward proxy: requests arrive in absolute form and are relayed as they are.
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    proxied.push(request.url);
    return fetch(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === null ? {} : { body: request.body }),
    });
  });
  try {
    fake.size = "1";
    // Without a scheme, as etcd accepts it: "http://" is put in front.
    const result = await join(fake, 1n, "m=http://127.0.0.1:1", {
      proxy: `127.0.0.1:${proxy.addr.port}`,
    });
    assertEquals(result, "m=http://127.0.0.1:1");
    assertEquals(proxied.length, fake.requests.length);
    assertEquals(
      proxied[0],
      `http://127.0.0.1:${fake.server.addr.port}/v2/keys/discovery/tok/_config/size?quorum=false&recursive=false&sorted=false`,
    );
  } finally {
    await proxy.shutdown();
    await fake.close();
  }
});
