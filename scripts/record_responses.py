#!/usr/bin/env python3
"""Records what the API answers on the demo's data, to check that a change
of structure leaves every response's JSON as it was.

Starts `distillwatch demo` (deterministic: seed 7, two days of the shipped
sample, one audit), reads the analyst's and admin's keys from its guide, asks
a fixed list of routes (reads, a flag moved along the workflow, refusals),
and writes every answer as JSON, with what changes from run to run (clock
times, ages, key ids and secrets) replaced by placeholders:

    scripts/record_responses.py --bin OLD/distillwatch --out before.json
    scripts/record_responses.py --bin target/debug/distillwatch --out after.json
    diff before.json after.json

With --validate docs/openapi.json, every JSON answer is also checked against
the schema the description gives its operation and status (the description
must describe what the API answers on real data, evidence bundles included);
the script exits 1 naming each answer that does not conform. It needs
jsonschema_rs (in the schemathesis environment scripts/bootstrap.sh --ci
installs) or jsonschema.

DATABASE_URL names the server the demo makes its database on (the embedded
cluster when unset).
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

VOLATILE_KEYS = {
    "at", "opened_at", "updated_at", "decided_at", "created_at", "revoked_at", "age_seconds", "timestamp",
    "queued_at", "started_at", "finished_at", "claimed_at", "heartbeat_at", "last_used_at",
    "generated_at", "exported_at", "elapsed_ms", "duration_ms", "took_ms", "key_id", "prefix",
}
# A clock time (simulated times are whole seconds; the service's have fractions).
CLOCK = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")
KEY_ID = re.compile(r"key:[0-9a-zA-Z_-]+|(?<=api:)dw_[0-9a-f]+")
SECRET = re.compile(r"dw_[A-Za-z0-9_]{20,}")


def normalize(value):
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE_KEYS else normalize(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, str):
        return CLOCK.sub("<time>", SECRET.sub("<secret>", KEY_ID.sub(lambda m: "key:<id>" if m.group().startswith("key:") else "<prefix>", value)))
    return value


def validate(spec_path, recorded):
    """The answers that do not conform to the description, as lines."""
    try:
        import jsonschema_rs

        def check(schema, instance):
            return [f"{e.message} at /{'/'.join(map(str, e.instance_path))}"
                    for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(instance)]
    except ImportError:
        import jsonschema

        def check(schema, instance):
            return [f"{e.message} at /{'/'.join(map(str, e.absolute_path))}"
                    for e in jsonschema.Draft202012Validator(schema).iter_errors(instance)]
    spec = json.load(open(spec_path))

    def local(x):
        if isinstance(x, dict):
            return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else local(v))
                    for k, v in x.items()}
        if isinstance(x, list):
            return [local(v) for v in x]
        return x

    defs = local(spec["components"]["schemas"])
    routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), ops) for p, ops in spec["paths"].items()]
    problems, checked = [], 0
    for r in recorded:
        if "status" not in r or not isinstance(r.get("raw"), (dict, list)):
            continue
        method, target = r["request"].split(" ", 1)
        path = target.split("?")[0]
        ops = next((ops for rx, ops in routes if rx.match(path)), None)
        response = (ops or {}).get(method.lower(), {}).get("responses", {}).get(str(r["status"]))
        if response is None:
            problems.append(f"{r['request']}: status {r['status']} is not described")
            continue
        if "$ref" in response:
            response = spec["components"]["responses"][response["$ref"].split("/")[-1]]
        schema = next((c.get("schema") for t, c in response.get("content", {}).items() if "json" in t), None)
        if schema is None:
            continue
        errors = check({"$defs": defs, **local(schema)}, r["raw"])
        checked += 1
        problems += [f"{r['request']} ({r['status']}): {e}" for e in errors[:3]]
    return checked, problems


def reference_runs(base, key, suspect, accounts):
    """A suspect set that copies what four flagged accounts were served, a
    control that answers the same prompts otherwise (and two more for a
    panel), then attribution and the paired, panel and fingerprint tests run
    to the end (the workers of `demo` run them)."""
    served = []
    for a in accounts:
        page = call(base, key, "GET", f"/v1/accounts/{a['account_id']}/events?limit=40")["raw"]
        served += [e for e in page.get("events", []) if e.get("completion")]
    copies = [{"prompt": e["prompt"], "output": e["completion"]} for e in served]
    others = [{"prompt": e["prompt"], "output": f"An unrelated answer, number {i}, about something else."}
              for i, e in enumerate(served)]
    out = [call(base, key, "POST", f"/v1/reference-sets/{suspect}/items", ndjson=copies)]
    control = call(base, key, "POST", "/v1/reference-sets", {"name": "control-1", "control": True})
    out.append(control)
    out.append(call(base, key, "POST", f"/v1/reference-sets/{control['raw']['id']}/items", ndjson=others))
    # Two more controls for a panel, each answering in words of its own.
    panel = [control["raw"]["id"]]
    for n, style in [(2, "Briefly: item {i} concerns another matter."), (3, "Item {i}: nothing to do with it.")]:
        more = call(base, key, "POST", "/v1/reference-sets", {"name": f"control-{n}", "control": True})
        out.append(more)
        answers = [{"prompt": e["prompt"], "output": style.format(i=i)} for i, e in enumerate(served)]
        out.append(call(base, key, "POST", f"/v1/reference-sets/{more['raw']['id']}/items", ndjson=answers))
        panel.append(more["raw"]["id"])
    controls = ",".join(str(c) for c in panel)
    for path in [f"/v1/reference-sets/{suspect}/attribution",
                 f"/v1/reference-sets/{suspect}/distillation-test?control={control['raw']['id']}",
                 f"/v1/reference-sets/{suspect}/panel-test?controls={controls}",
                 f"/v1/reference-sets/{suspect}/fingerprint-test?controls={controls}&sample=2000"]:
        first = call(base, key, "GET", path)
        out.append(first)
        for _ in range(600):
            job = call(base, key, "GET", f"/v1/reference-jobs/{first['raw']['id']}")
            if job["raw"].get("state") in ("done", "failed"):
                break
            time.sleep(0.1)
        out.append(job)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, key, method, path, body=None, ndjson=None):
    data = None if body is None else json.dumps(body).encode()
    if ndjson is not None:
        data = "".join(json.dumps(line) + "\n" for line in ndjson).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("content-type", "application/x-ndjson" if ndjson is not None else "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, raw, ctype = r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers.get("content-type", "")
    if "json" in ctype:
        payload = json.loads(raw)
    else:
        payload = raw.decode("utf-8", "replace")
    return {"request": f"{method} {path}", "status": status, "body": normalize(payload), "raw": payload}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="data/sample")
    ap.add_argument("--validate", metavar="OPENAPI", help="check every JSON answer against this description")
    args = ap.parse_args()

    port = free_port()
    proc = subprocess.Popen(
        [args.bin, "demo", "--bind", f"127.0.0.1:{port}", "--data", args.data],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=os.environ.copy(),
    )
    analyst = admin = None
    deadline = time.time() + 900
    for line in proc.stderr:
        if m := re.match(r"Analyst key: (\S+)", line):
            analyst = m.group(1)
        if m := re.match(r"Admin key:\s+(\S+)", line):
            admin = m.group(1)
        if analyst and admin and "Ctrl-C" in line:
            break
        if time.time() > deadline:
            break
    if not (analyst and admin):
        proc.kill()
        sys.exit("the demo printed no keys")
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.1)

    out = []
    try:
        flags = call(base, analyst, "GET", "/v1/flags?limit=500")
        out.append(flags)
        ids = [f["id"] for f in flags["body"]["flags"]]
        for query in ["status=open&limit=3", "kind=cluster", "level=critical&kind=account&limit=5",
                      "status=closed", "level=urgent", "kind=user", "limit=2"]:
            out.append(call(base, analyst, "GET", f"/v1/flags?{query}"))
        page = call(base, analyst, "GET", "/v1/flags?limit=2")
        if page["body"].get("next"):
            out.append(call(base, analyst, "GET", f"/v1/flags?limit=2&cursor={page['body']['next']}"))
        for i in ids[:12]:
            out.append(call(base, analyst, "GET", f"/v1/flags/{i}"))
            out.append(call(base, analyst, "GET", f"/v1/flags/{i}/export?format=json"))
        out.append(call(base, analyst, "GET", f"/v1/flags/{ids[0]}/export?format=csv"))
        if ids:
            first = ids[0]
            out.append(call(base, analyst, "PATCH", f"/v1/flags/{first}", {"status": "escalated", "note": "a farm"}))
            out.append(call(base, analyst, "PATCH", f"/v1/flags/{first}", {"status": "open"}))
            out.append(call(base, analyst, "PATCH", f"/v1/flags/{first}", {"status": "closed"}))
            out.append(call(base, analyst, "PATCH", f"/v1/flags/{first}", {"assignee": "lead"}))
            out.append(call(base, analyst, "PATCH", f"/v1/flags/{first}", {"status": "confirmed", "note": "yes"}))
            out.append(call(base, analyst, "PATCH", f"/v1/flags/{ids[-1]}", {"status": "dismissed"}))
            out.append(call(base, analyst, "GET", "/v1/flags?status=confirmed"))
        out.append(call(base, analyst, "GET", "/v1/flags/999999"))
        accounts = call(base, analyst, "GET", "/v1/accounts?limit=40")
        out.append(accounts)
        for a in accounts["body"].get("accounts", [])[:15]:
            out.append(call(base, analyst, "GET", f"/v1/accounts/{a['account_id']}"))
        clusters = call(base, analyst, "GET", "/v1/clusters?flagged=true")
        out.append(clusters)
        for c in clusters["body"].get("clusters", [])[:6]:
            out.append(call(base, analyst, "GET", f"/v1/clusters/{c['cluster_id']}"))
        for a in accounts["body"].get("accounts", [])[:3]:
            out.append(call(base, analyst, "GET", f"/v1/accounts/{a['account_id']}/events?limit=5"))
            out.append(call(base, analyst, "GET", f"/v1/accounts/{a['account_id']}/timeline"))
        some = accounts["body"]["accounts"][-1]["account_id"]
        out.append(call(base, admin, "POST", "/v1/allowlist", {"account_id": some, "reason": "licensed"}))
        out.append(call(base, admin, "POST", "/v1/allowlist",
                        {"account_id": "acct_x", "reason": "trial", "expires_at": "2031-01-01T00:00:00Z"}))
        out.append(call(base, analyst, "GET", "/v1/allowlist"))
        out.append(call(base, analyst, "GET", f"/v1/accounts/{some}"))
        out.append(call(base, admin, "DELETE", "/v1/allowlist/acct_x"))
        out.append(call(base, admin, "GET", "/v1/keys"))
        out.append(call(base, admin, "POST", "/v1/keys", {"name": "gateway", "role": "ingest", "history": "last_message"}))
        out.append(call(base, admin, "POST", "/v1/keys", {"name": "bad", "role": "root"}))
        out.append(call(base, analyst, "POST", "/v1/reference-sets",
                        {"name": "suspect-1", "description": "a suspect", "collection": "sampled", "control": False}))
        out.append(call(base, analyst, "POST", "/v1/reference-sets", {"name": "suspect-1"}))
        out.append(call(base, analyst, "GET", "/v1/reference-sets"))
        sets = call(base, analyst, "GET", "/v1/reference-sets")["body"]["reference_sets"]
        if sets:
            out.append(call(base, analyst, "GET", f"/v1/reference-sets/{sets[0]['id']}"))
            out += reference_runs(base, analyst, sets[0]["id"], accounts["body"]["accounts"][:4])
        out.append(call(base, admin, "POST", "/v1/events", [{"event_id": "x"}, {"account_id": 3}]))
        out.append(call(base, admin, "GET", "/v1/audit-log?limit=500"))
        out.append(call(base, admin, "GET", "/v1/audits/1"))
        for path in ["/healthz", "/readyz"]:
            raw = urllib.request.urlopen(base + path, timeout=10).read().decode()
            out.append({"request": f"GET {path} (bytes)", "body": raw})
        metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        out.append({"request": "GET /metrics (flag gauges)",
                    "body": sorted(l for l in metrics.splitlines() if l.startswith("distillwatch_flags{"))})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    recorded = [{k: v for k, v in r.items() if k != "raw"} for r in out]
    text = json.dumps(recorded, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(f"{len(out)} responses recorded in {args.out}")
    if args.validate:
        checked, problems = validate(args.validate, out)
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{checked} JSON answers checked against {args.validate}: {len(problems)} problems")
        if problems:
            sys.exit(1)


if __name__ == "__main__":
    main()
