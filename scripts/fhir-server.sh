#!/usr/bin/env bash
# A real FHIR R4 server for tests and measurements: sekmet-fhir (PyPI; FastAPI + SQLite) on
# 127.0.0.1, simulator off, in a throwaway directory, loaded with FHIR Bundles.
#
#   bash scripts/fhir-server.sh [--port N] [--token T] [--watch-stdin] BUNDLE.json...
#
# --port N       listen port (default 0: a free port)
# --token T      require `Authorization: Bearer T` (default: an open server)
# --watch-stdin  stop when standard input closes (the test harness holds it open; when the test
#                process ends, for whatever reason, the server goes with it)
# BUNDLE.json    transaction Bundles are posted as they are; other Bundles (collection, searchset)
#                are loaded as a transaction of PUTs by resource id.
#
# Prints one line when the data is loaded:  READY <fhir base URL> <JSON {file name: Patient id}>
# or, when it cannot start:                 FAILED <why>   (exit status 3)
# Installing the server: `pip install sekmet-fhir` (.ci/run does it when it is missing).
set -euo pipefail
exec python3 -c "$(cat <<'PY'
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

proc = work = None
def fail(why):
    print("FAILED " + why, flush=True)
    if proc is not None and proc.poll() is None: proc.kill()
    if work: shutil.rmtree(work, ignore_errors=True)
    sys.exit(3)

args = sys.argv[1:]
port, token, watch, files = 0, None, False, []
while args:
    a = args.pop(0)
    if a == "--port": port = int(args.pop(0))
    elif a == "--token": token = args.pop(0)
    elif a == "--watch-stdin": watch = True
    else: files.append(a)

import importlib.util
# This interpreter runs the server (no PATH or pyenv shim needed).
if importlib.util.find_spec("sekmet") is None:
    fail(f"sekmet-fhir is not installed for {sys.executable} (python3 -m pip install sekmet-fhir)")
if port == 0:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
base = f"http://127.0.0.1:{port}/fhir"
work = tempfile.mkdtemp(prefix="trd-cds-fhir-")
auth = {"types": ["bearer"], "tokens": [token]} if token else {"types": ["none"]}
settings = {
    "host": "127.0.0.1", "port": port, "base_url": base, "data_dir": work,
    "simulator": {"enabled": False}, "validation": {"inbound": "off"},
    "log_inbound": False, "server_auth": auth,
}
cfg = os.path.join(work, "settings.yaml")
with open(cfg, "w") as f:
    json.dump(settings, f)  # JSON is YAML
log = open(os.path.join(work, "server.log"), "w")
serve = "import sys; from sekmet.cli import app; sys.argv[0] = 'sekmet'; sys.exit(app())"
proc = subprocess.Popen([sys.executable, "-c", serve, "serve", "--config", cfg], stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, cwd=work)

def stop(*_):
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(5)
        except subprocess.TimeoutExpired: proc.kill()
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body)
    req.add_header("Content-Type", "application/fhir+json")
    if token: req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)

try:
    until = time.time() + 30
    while True:
        if proc.poll() is not None:
            log.flush()
            fail("sekmet exited at start-up: " + open(log.name).read()[-2000:].replace("\n", " | "))
        try:
            call("GET", base + "/metadata"); break
        except Exception:
            if time.time() > until: fail("sekmet did not answer /metadata within 30 s")
            time.sleep(0.1)
    ids = {}
    for path in files:
        bundle = json.load(open(path))
        if bundle.get("type") != "transaction":
            entries = []
            for e in bundle.get("entry", []):
                r = e["resource"]
                entries.append({"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}})
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        resp = call("POST", base, json.dumps(bundle).encode())
        pid = None
        for e in resp.get("entry", []):
            loc = (e.get("response") or {}).get("location", "")
            parts = loc.split("/fhir/", 1)[-1].split("/")
            if len(parts) >= 2 and parts[0] == "Patient":
                pid = parts[1]; break
        if pid is None: fail(f"{os.path.basename(path)}: no Patient created")
        ids[os.path.basename(path)] = pid
except SystemExit:
    raise
except Exception as e:
    fail(f"loading failed: {e}")

print(f"READY {base} {json.dumps(ids)}", flush=True)
if watch:
    sys.stdin.read()
    stop()
else:
    try: proc.wait()
    finally: stop()
PY
)" "$@"
