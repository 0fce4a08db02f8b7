/**
 * Debian's dnsmasq as a test DNS server on loopback: SRV records, and `localhost` as their
 * target's A record. detcd asks it through the test-only `DETCD_DNS_RESOLVER=ip:port`.
 *
 * @module
 */

/** Where dnsmasq lives on Debian; tests that need it are skipped without it. */
export const DNSMASQ = "/usr/sbin/dnsmasq";

/** Whether dnsmasq is installed. */
export const DNSMASQ_AVAILABLE = await Deno.stat(DNSMASQ).then(() => true, () => false);

/** One SRV record: `_service._tcp.domain` -> `target:port`. */
export interface SrvHost {
  /** The full name, e.g. `_etcd-client._tcp.example.test`. */
  name: string;
  target: string;
  port: number;
}

/** A running dnsmasq. */
export interface TestDns {
  /** `ip:port`, the value for `DETCD_DNS_RESOLVER`. */
  readonly address: string;
  stop(): Promise<void>;
}

/** Starts dnsmasq on 127.0.0.1:`port` with `records`; resolves once it answers the first. */
export async function startDnsmasq(port: number, records: SrvHost[]): Promise<TestDns> {
  const child = new Deno.Command(DNSMASQ, {
    args: [
      "--no-daemon",
      `--port=${port}`,
      "--listen-address=127.0.0.1",
      "--bind-interfaces",
      "--no-resolv",
      "--no-hosts",
      "--host-record=localhost,127.0.0.1",
      ...records.map((r) => `--srv-host=${r.name},${r.target},${r.port}`),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited already.
    }
    await child.status;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await Deno.resolveDns(records[0]!.name, "SRV", {
        nameServer: { ipAddr: "127.0.0.1", port },
      });
      return { address: `127.0.0.1:${port}`, stop };
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`dnsmasq did not answer: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
