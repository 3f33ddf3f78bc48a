#!/usr/bin/env python3
"""Load client and checks for scripts/failover.sh (not meant to be run alone).

  failover_client.py jwks PRIVATE.pem KID             print a JWK Set with the public half of the key
  failover_client.py load BASE SECONDS WORKERS OUT    POST the patient-view fixture through BASE
  failover_client.py replay BASE_PUBLIC A B           one jti used on replica A, then on B
  failover_client.py report OUT EVENTS AUDITED        summary of a load run (stdout, key=value)

Every call carries a fresh client JWT (ES384, the test key of tests/fixtures/jwt, a new jti) and a
fresh hookInstance, so each 2xx can be matched with its audit row.
"""

import http.client
import json
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization

PATH = "/cds-services/trd-patient-view"
ISS = "https://ehr.failover.test/"
KEY_FILE = "tests/fixtures/jwt/es384-private.pem"
KID = "es384-1"
FIXTURE = "tests/fixtures/patient-view-trd.json"
FIXTURE_INSTANCE = "3f1d2a8e-6b1c-4c47-9a51-0d8f5e2b7c11"


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def token(key, public_base, jti=None):
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": public_base + PATH,
        "iat": now,
        "exp": now + 300,
        "jti": jti or str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID})


def post(conn, body, tok):
    conn.request(
        "POST",
        PATH,
        body=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + tok},
    )
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("X-Served-By", "-")


def cmd_jwks(pem, kid):
    public = load_key(pem).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    jwk.update({"kid": kid, "alg": "ES384", "use": "sig"})
    print(json.dumps({"keys": [jwk]}))


def cmd_load(base, seconds, workers, out):
    """WORKERS threads, each on its own keep-alive connection, for SECONDS; one JSON line per call."""
    key = load_key(KEY_FILE)
    template = open(FIXTURE).read()
    assert FIXTURE_INSTANCE in template
    u = urlsplit(base)
    stop_at = time.time() + float(seconds)
    lock = threading.Lock()
    sink = open(out, "w")

    def worker():
        conn = None
        while time.time() < stop_at:
            instance = str(uuid.uuid4())
            body = template.replace(FIXTURE_INSTANCE, instance)
            tok = token(key, base)
            t0 = time.time()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
                status, served_by = post(conn, body, tok)
            except (OSError, http.client.HTTPException) as e:
                status, served_by = 0, type(e).__name__
                conn.close()
                conn = None
            t1 = time.time()
            line = json.dumps({"t": t0, "ms": (t1 - t0) * 1000, "status": status,
                               "by": served_by, "hook_instance": instance})
            with lock:
                sink.write(line + "\n")

    threads = [threading.Thread(target=worker) for _ in range(int(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()


def cmd_replay(public_base, a, b):
    """The same token (same jti) on replica A, then on replica B: expect 200 then 401."""
    key = load_key(KEY_FILE)
    body = open(FIXTURE).read().replace(FIXTURE_INSTANCE, str(uuid.uuid4()))
    tok = token(key, public_base)
    statuses = []
    for base in (a, b):
        u = urlsplit(base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        statuses.append(post(conn, body, tok)[0])
        conn.close()
    print(f"replay_first={statuses[0]} replay_other_replica={statuses[1]}")


def p(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def cmd_report(out, events_file, audited_file):
    calls = [json.loads(line) for line in open(out)]
    events = {}
    for line in open(events_file):
        name, at = line.split()
        events[name] = float(at)
    audited = set(open(audited_file).read().split())
    ok = [c for c in calls if 200 <= c["status"] < 300]
    bad = [c for c in calls if not 200 <= c["status"] < 300]
    missing = [c for c in ok if c["hook_instance"] not in audited]
    by_status = {}
    for c in bad:
        by_status[c["status"]] = by_status.get(c["status"], 0) + 1
    by_replica = {}
    for c in ok:
        by_replica[c["by"]] = by_replica.get(c["by"], 0) + 1

    def window(start, end):
        return [c for c in calls if start <= c["t"] < end]

    def describe(name, cs):
        lat = [c["ms"] for c in cs]
        nb = sum(1 for c in cs if not 200 <= c["status"] < 300)
        print(f"{name}: calls={len(cs)} non2xx={nb} p50_ms={p(lat, 0.5):.1f} "
              f"p99_ms={p(lat, 0.99):.1f} max_ms={max(lat, default=float('nan')):.1f}")

    duration = max(c["t"] + c["ms"] / 1000 for c in calls) - min(c["t"] for c in calls)
    print(f"calls={len(calls)} duration_s={duration:.1f} rate_per_s={len(calls) / duration:.0f} "
          f"2xx={len(ok)} non2xx={len(bad)} non2xx_by_status={json.dumps(by_status, sort_keys=True)}")
    print(f"2xx_by_replica={json.dumps(by_replica, sort_keys=True)}")
    print(f"audit_rows_for_2xx={len(ok) - len(missing)}/{len(ok)} missing={len(missing)} "
          f"audit_rows_total={len(audited)}")
    t0 = events["load_start"]
    for c in bad:
        print(f"  non-2xx at +{c['t'] - t0:.2f}s: status={c['status']} ({c['by']}) after {c['ms']:.0f} ms")
    if missing:
        by = {}
        for c in missing:
            by[c["by"]] = by.get(c["by"], 0) + 1
        first = min(c["t"] for c in missing) - t0
        last = max(c["t"] + c["ms"] / 1000 for c in missing) - t0
        print(f"  2xx without audit row: by replica {json.dumps(by, sort_keys=True)}, "
              f"answered between +{first:.2f}s and +{last:.2f}s")
    describe("whole run", calls)
    describe("steady (before the kill)", window(0, events["kill_a"]))
    describe("SIGKILL window (kill A .. A back in rotation)", window(events["kill_a"], events["a_up"]))
    describe("SIGTERM window (TERM B .. B back in rotation)", window(events["term_b"], events["b_up"]))
    for name in ("kill_a", "a_restart", "a_up", "term_b", "b_exit", "b_up"):
        print(f"event {name} at +{events[name] - events['load_start']:.1f}s")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"jwks": cmd_jwks, "load": cmd_load, "replay": cmd_replay, "report": cmd_report}[cmd](*args)
