/**
 * Script tests (etcd's rafttest interaction tests, simplified): each `testdata/*.txt` file is a
 * list of commands run against an in-memory network; every command is followed by `----` and
 * its expected output — the full trace of messages sent (delivered or dropped by the network)
 * and, for `status`, each node's state. Regenerate the expected output after an intended change with
 * `UPDATE=1 deno test -A raft/trace_test.ts` and review the diff.
 *
 * Commands: `nodes N [prevote] [checkquorum]`, `campaign ID`, `propose ID TEXT`,
 * `read ID CTX`, `transfer LEADER TARGET`, `tick ID COUNT`, `tick-all COUNT`, `isolate ID`,
 * `recover`, `status`.
 */
import { strictEqual } from "node:assert/strict";
import { type Message, MessageType, messageTypeName, newMessage } from "./raftpb.ts";
import { STATE_NAMES } from "./raft.ts";
import { Network, propMessage, readMessages } from "./network_test_util.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);
const text = new TextDecoder();

function describe(m: Message): string {
  let s = `${m.from}->${m.to} ${messageTypeName(m.type)} term=${m.term}`;
  switch (m.type) {
    case MessageType.MsgApp:
      s += ` log=${m.logTerm}/${m.index} commit=${m.commit}`;
      if (m.entries.length > 0) {
        s += ` entries=[${m.entries.map((e) => `${e.term}/${e.index}`).join(" ")}]`;
      }
      break;
    case MessageType.MsgAppResp:
      s += ` index=${m.index}`;
      if (m.reject) s += ` rejected hint=${m.rejectHint}/${m.logTerm}`;
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      s += ` log=${m.logTerm}/${m.index}`;
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      if (m.reject) s += " rejected";
      break;
    case MessageType.MsgHeartbeat:
      s += ` commit=${m.commit}`;
      break;
    case MessageType.MsgReadIndexResp:
      s += ` index=${m.index}`;
      break;
  }
  if (m.context !== undefined && m.context.length > 0) s += ` ctx=${text.decode(m.context)}`;
  return s;
}

class Runner {
  #net: Network | undefined;

  run(command: string): string[] {
    const [name, ...args] = command.trim().split(/\s+/);
    const id = () => BigInt(args[0]!);
    const net = () => {
      if (this.#net === undefined) throw new Error("no nodes yet: start with `nodes N`");
      return this.#net;
    };
    const start = this.#net?.trace.length ?? 0;
    const status: string[] = [];
    switch (name) {
      case "nodes":
        this.#net = Network.of(Number(args[0]), {
          preVote: args.includes("prevote"),
          checkQuorum: args.includes("checkquorum"),
        });
        return [];
      case "campaign":
        net().stepLocal(id(), newMessage({ type: MessageType.MsgHup }));
        break;
      case "propose":
        net().stepLocal(id(), propMessage(args[1] ?? ""));
        break;
      case "read":
        net().stepLocal(
          id(),
          newMessage({
            type: MessageType.MsgReadIndex,
            entries: [{ term: 0, index: 0, type: 0, data: new TextEncoder().encode(args[1]) }],
          }),
        );
        for (const r of net().peers.values()) {
          for (const rs of r.readStates) {
            status.push(`${r.id} read ${text.decode(rs.requestCtx)} at ${rs.index}`);
          }
          r.readStates = [];
        }
        break;
      case "transfer":
        net().stepLocal(
          id(),
          newMessage({ type: MessageType.MsgTransferLeader, from: BigInt(args[1]!) }),
        );
        break;
      case "tick":
      case "tick-all": {
        const nodes = name === "tick" ? [net().node(id())] : [...net().peers.values()];
        const count = Number(name === "tick" ? args[1] : args[0]);
        for (let i = 0; i < count; i++) {
          for (const r of nodes) {
            r.tick();
            net().send(...readMessages(r));
          }
        }
        break;
      }
      case "isolate":
        net().isolate(id());
        return [];
      case "recover":
        net().recover();
        return [];
      case "status":
        for (const r of net().peers.values()) {
          status.push(
            `${r.id} ${STATE_NAMES[r.state]} term=${r.term} vote=${r.vote} lead=${r.lead} ` +
              `last=${r.raftLog.lastTerm()}/${r.raftLog.lastIndex()} commit=${r.raftLog.committed}`,
          );
        }
        return status;
      default:
        throw new Error(`unknown command ${command}`);
    }
    const messages = net().trace.slice(start).map((t) =>
      `${t.dropped ? "dropped " : ""}${describe(t.message)}`
    );
    return [...messages, ...status];
  }
}

interface Block {
  command: string;
  expected: string[];
}

function parse(script: string): Block[] {
  const blocks: Block[] = [];
  const lines = script.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) continue;
    if (lines[i + 1] !== "----") throw new Error(`line ${i + 1}: expected ---- after ${line}`);
    const expected: string[] = [];
    for (i += 2; i < lines.length && lines[i] !== ""; i++) expected.push(lines[i]!);
    blocks.push({ command: line, expected });
  }
  return blocks;
}

function render(script: string, blocks: Block[], outputs: string[][]): string {
  // Keep comments in place: rebuild from the original, replacing each block's output.
  const lines = script.split("\n");
  const out: string[] = [];
  let block = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "" || line.startsWith("#")) {
      out.push(line);
      continue;
    }
    out.push(line, "----", ...outputs[block]!);
    for (i += 2; i < lines.length && lines[i] !== ""; i++) { /* skip the old output */ }
    if (i < lines.length) out.push("");
    block++;
  }
  void blocks;
  return out.join("\n");
}

for (const entry of Deno.readDirSync(TESTDATA)) {
  if (!entry.name.endsWith(".txt")) continue;
  Deno.test(`trace: testdata/${entry.name}`, () => {
    const url = new URL(entry.name, TESTDATA);
    const script = Deno.readTextFileSync(url);
    const blocks = parse(script);
    const runner = new Runner();
    const outputs = blocks.map((b) => runner.run(b.command));
    if (Deno.env.get("UPDATE") === "1") {
      Deno.writeTextFileSync(url, render(script, blocks, outputs));
      return;
    }
    for (let i = 0; i < blocks.length; i++) {
      strictEqual(
        outputs[i]!.join("\n"),
        blocks[i]!.expected.join("\n"),
        `${entry.name}: ${blocks[i]!.command}`,
      );
    }
  });
}
