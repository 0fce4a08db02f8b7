"""Drives one member with Debian's python3-etcd3gw (JSON gateway) and python3-etcd3 (gRPC).

Usage: python3 gateway_python_clients.py PORT
Prints a transcript free of member-specific values (IDs, remaining TTLs are checked here, not
printed), so that the same script's output against the real etcd and against detcd can be
compared line for line. Exits non-zero on the first failed check.
"""
import base64
import sys
import threading

import etcd3
import etcd3gw
from etcd3gw.lock import Lock as GwLock

PORT = int(sys.argv[1])
BIG_LEASE = 2495754994368113375
out = []


def say(*parts):
    out.append(" ".join(str(p) for p in parts))


def check(condition, what):
    if not condition:
        print("\n".join(out))
        raise SystemExit("FAILED: " + what)


def b64(text):
    return base64.b64encode(text.encode()).decode()


gw = etcd3gw.client(host="127.0.0.1", port=PORT)
gw.api_path = "/v3/"

# KV through the gateway.
check(gw.put("py/a", "1"), "gw put")
check(gw.put("py/b", "2"), "gw put b")
say("gw get", gw.get("py/a"))
say("gw prefix", sorted(v for v, _ in gw.get_prefix("py/")))
check(gw.create("py/a", "x") is False, "gw create of an existing key fails")
check(gw.replace("py/a", "1", "3"), "gw replace")
say("gw after replace", gw.get("py/a"))
check(gw.delete("py/b"), "gw delete")
say("gw after delete", gw.get("py/b"))

# Leases through the gateway: the client passes IDs as JSON numbers, past 2^53 here.
lease = gw.lease(ttl=30)
check(lease.id > 0, "lease id")
check(gw.put("py/leased", "v", lease=lease), "put with lease")
say("lease keys", lease.keys())
ttl = lease.ttl()
check(0 < ttl <= 30, "lease ttl %s" % ttl)
check(0 < lease.refresh() <= 30, "lease refresh")
check(lease.revoke(), "lease revoke")
say("after revoke", gw.get("py/leased"), "ttl", lease.ttl())
granted = gw.post(gw.get_url("/lease/grant"), json={"TTL": 30, "ID": BIG_LEASE})
say("big lease", granted["ID"], granted["TTL"])
big = etcd3gw.lease.Lease(BIG_LEASE, client=gw)
check(gw.put("py/big", "v", lease=big), "put with the big lease")
say("big lease keys", big.keys())
check(big.revoke(), "big lease revoke")
say("after big revoke", gw.get("py/big"))

# Locks through the gateway: etcd3gw's own (a txn with the lease ID as a number) and the
# Lock service's /v3/lock paths.
lock = GwLock("py-lock", ttl=30, client=gw)
check(lock.acquire(), "gw lock acquire")
check(lock.is_acquired(), "gw lock held")
other = GwLock("py-lock", ttl=30, client=gw)
check(other.acquire() is False, "second acquire fails while held")
check(lock.release(), "gw lock release")
check(other.acquire(), "second acquire after release")
check(other.release(), "second release")
svc_lease = gw.lease(ttl=30)
held = gw.post(gw.get_url("/lock/lock"), json={"name": b64("svc-lock"), "lease": svc_lease.id})
check(base64.b64decode(held["key"]).decode() == "svc-lock/%x" % svc_lease.id, "lock key")
waiting = {}


def wait_for_lock():
    second = gw.lease(ttl=30)
    waiting["lease"] = second
    waiting["answer"] = gw.post(gw.get_url("/lock/lock"),
                                json={"name": b64("svc-lock"), "lease": second.id})


waiter = threading.Thread(target=wait_for_lock)
waiter.start()
waiter.join(1.0)
check(waiter.is_alive(), "a second lock waits while the first is held")
gw.post(gw.get_url("/lock/unlock"), json={"key": held["key"]})
waiter.join(10.0)
check(not waiter.is_alive(), "the waiter gets the lock after unlock")
key = base64.b64decode(waiting["answer"]["key"]).decode()
check(key == "svc-lock/%x" % waiting["lease"].id, "second lock key")
say("lock service: second locker holds", key.split("/")[0])
waiting["lease"].revoke()
svc_lease.revoke()

# Watches through the gateway.
events, cancel = gw.watch("py/w")
threading.Timer(0.5, lambda: gw.put("py/w", "hello")).start()
event = next(events)
say("gw watch", event["kv"]["key"], event["kv"]["value"], event.get("type", "PUT"))
cancel()

# The same member over gRPC with python3-etcd3.
cl = etcd3.client(host="127.0.0.1", port=PORT)
cl.put("g/a", "1")
value, meta = cl.get("g/a")
say("grpc get", value, meta.key)
lease2 = cl.lease(30)
cl.put("g/l", "v", lease=lease2)
say("grpc lease keys", [k.decode() for k in lease2.keys])
lease2.revoke()
say("grpc after revoke", cl.get("g/l")[0])
with cl.lock("grpc-lock", ttl=30) as grpc_lock:
    say("grpc lock held", grpc_lock.is_acquired())
watch_events, watch_cancel = cl.watch("g/w")
threading.Timer(0.5, lambda: cl.put("g/w", "x")).start()
for ev in watch_events:
    say("grpc watch", type(ev).__name__, ev.key, ev.value)
    break
watch_cancel()
cl.close()
print("\n".join(out))
print("ok")
