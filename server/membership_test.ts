import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  type Member,
  memberJson,
  parseConfChangeContext,
  parseMemberJson,
  promoteContextJson,
  RaftCluster,
} from "./membership.ts";
import { saveStore, V2Store } from "../v2store/mod.ts";

// What etcd 3.4.23 put into the ConfChange context of its bootstrap entry (read from the WAL
// of a real `etcd --name default` with peer URL http://127.0.0.1:23948).
const ETCD_CONTEXT =
  '{"id":11294028995576578411,"peerURLs":["http://127.0.0.1:23948"],"name":"default"}';

// The membership part of the v2 store JSON that etcd 3.4.23 wrote into a `.snap` (event
// history and statistics trimmed; they carry no membership).
const ETCD_V2_SNAP = JSON.stringify({
  Root: {
    Path: "/",
    Children: {
      "0": {
        Path: "/0",
        Children: {
          members: {
            Path: "/0/members",
            Children: {
              "9cbc73887c4dc16b": {
                Path: "/0/members/9cbc73887c4dc16b",
                Children: {
                  attributes: {
                    Path: "/0/members/9cbc73887c4dc16b/attributes",
                    Value: '{"name":"default","clientURLs":["http://127.0.0.1:23949"]}',
                    Children: null,
                  },
                  raftAttributes: {
                    Path: "/0/members/9cbc73887c4dc16b/raftAttributes",
                    Value: '{"peerURLs":["http://127.0.0.1:23948"]}',
                    Children: null,
                  },
                },
              },
            },
          },
          version: { Path: "/0/version", Value: "3.4.0", Children: null },
        },
      },
      "1": { Path: "/1", Children: {} },
    },
  },
  CurrentIndex: 3,
  CurrentVersion: 2,
});

Deno.test("memberJson() writes the member exactly as etcd marshals the ConfChange context", () => {
  const member = parseMemberJson(ETCD_CONTEXT);
  strictEqual(member.id, 11294028995576578411n, "a 64-bit ID survives parsing exactly");
  deepStrictEqual(member.peerUrls, ["http://127.0.0.1:23948"]);
  strictEqual(member.name, "default");
  strictEqual(memberJson(member), ETCD_CONTEXT);
});

Deno.test("memberJson() adds clientURLs and isLearner only when set, as omitempty does", () => {
  const member: Member = {
    id: 1n,
    peerUrls: ["http://a:2380"],
    isLearner: true,
    name: "",
    clientUrls: ["http://a:2379"],
  };
  strictEqual(
    memberJson(member),
    '{"id":1,"peerURLs":["http://a:2380"],"isLearner":true,"clientURLs":["http://a:2379"]}',
  );
});

Deno.test("loadFromV2Json() reads members and version from a snap etcd wrote", () => {
  const cluster = new RaftCluster(0x9cbc73887c4dc16bn, 1n);
  cluster.loadFromV2Json(new TextEncoder().encode(ETCD_V2_SNAP));
  const local = cluster.local();
  strictEqual(local?.name, "default");
  deepStrictEqual(local?.peerUrls, ["http://127.0.0.1:23948"]);
  deepStrictEqual(local?.clientUrls, ["http://127.0.0.1:23949"]);
  strictEqual(cluster.version, "3.4.0");
});

Deno.test("membership changes land in the v2 store under /0, as etcd writes them", () => {
  // Goal: the .snap JSON holds membership from the one v2 store (etcd's mustSaveMemberToStore,
  // mustUpdateMemberAttrInStore, mustDeleteMemberFromStore, mustSaveClusterVersionToStore),
  // one store index per change, and reads back into a cluster.
  const cluster = new RaftCluster(0xabcdef0123456789n, 7n);
  cluster.v2store = new V2Store();
  const member = {
    id: 0xabcdef0123456789n,
    peerUrls: ["https://h:2380"],
    isLearner: false,
    name: "",
    clientUrls: [] as string[],
  };
  cluster.addMember(member);
  cluster.updateAttributes(member.id, "n1", ["http://h:2379"]);
  cluster.addMember({ ...member, id: 0x42n, peerUrls: ["https://g:2380"] });
  cluster.removeMember(0x42n);
  cluster.setVersion("3.4.0");
  strictEqual(cluster.v2store.currentIndex, 6);
  const json = saveStore(cluster.v2store);
  const parsed = JSON.parse(new TextDecoder().decode(json));
  strictEqual(parsed.CurrentIndex, 6);
  strictEqual(parsed.CurrentVersion, 2);
  strictEqual(
    parsed.Root.Children["0"].Children.members.Children["abcdef0123456789"].Children
      .raftAttributes.Value,
    '{"peerURLs":["https://h:2380"]}',
  );
  const back = new RaftCluster(0xabcdef0123456789n, 7n);
  back.loadFromV2Json(json);
  deepStrictEqual(back.local(), cluster.local());
  deepStrictEqual([...back.removed], [0x42n]);
  strictEqual(back.version, "3.4.0");
});

Deno.test("a promotion's ConfChange context is etcd's ConfigChangeContext with IsPromote", () => {
  // etcd 3.4 etcdserver.PromoteMember marshals ConfigChangeContext{Member{ID}, IsPromote: true}:
  // the embedded Member's fields first, PeerURLs a nil slice (null), then isPromote.
  const id = 10501334649042878790n; // above 2^63: must survive as text
  const text = promoteContextJson(id);
  strictEqual(text, `{"id":10501334649042878790,"peerURLs":null,"isPromote":true}`);
  const parsed = parseConfChangeContext(text);
  strictEqual(parsed.isPromote, true);
  strictEqual(parsed.member.id, id);
  // An add (etcd's MemberAdd context has no isPromote) is not a promotion.
  const add = parseConfChangeContext(`{"id":5,"peerURLs":["http://a:2380"],"isLearner":true}`);
  strictEqual(add.isPromote, false);
  strictEqual(add.member.isLearner, true);
});
