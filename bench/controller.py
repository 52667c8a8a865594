"""The controller under load against moto; run through bench/controller.sh.

Phases: BENCH_ENVS environments created at once (each: a cluster, two services with their task
definitions and log group, one autoscaled with a target-tracking policy, the ECS alarm
preset), then every api image changed, then a steady state of resyncs. Prints, per phase,
reconciles per second and p50/p95 from the spec change to Ready at that generation; for the
steady state, AWS calls per environment per sweep; and the server's RSS.
"""

import os
import statistics
import subprocess
import sys
import time
import uuid

import boto3
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from moto_network import network  # noqa: E402
from harness import (  # noqa: E402
    PLUMB, REGION, free_port, plumb_database, start_moto, stop, wait_port,
)

ENVS = int(os.environ.get("BENCH_ENVS", "200"))
WORKERS = os.environ.get("BENCH_WORKERS", "8")
RESYNC = 30


def spec(name, image, subnets, group):
    return {
        "apiVersion": "plumb.dev/v1",
        "kind": "Environment",
        "metadata": {"name": name},
        "spec": {
            "region": REGION,
            "policy": {"resyncSeconds": RESYNC},
            "network": {"subnets": subnets, "securityGroups": [group]},
            "ecs": {
                "services": {
                    "api": {
                        "image": image,
                        "cpu": 256,
                        "memory": 512,
                        "desiredCount": 1,
                        "autoscaling": {
                            "minCapacity": 1,
                            "maxCapacity": 4,
                            "targetTracking": [{"metric": "cpu", "target": 70}],
                        },
                    },
                    "worker": {
                        "image": "registry.example.com/worker:1",
                        "cpu": 256,
                        "memory": 512,
                        "desiredCount": 1,
                    },
                }
            },
        },
    }


class Plumb:
    def __init__(self, url, token):
        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def put(self, body):
        name = body["metadata"]["name"]
        r = self.http.put(f"{self.url}/api/v1/environments/{name}", json=body)
        r.raise_for_status()
        return r.json()["metadata"]["generation"]

    def ready_generations(self):
        """{name: generation its Ready=True condition was found for}."""
        ready, cont = {}, None
        while True:
            params = {"limit": 500, **({"continue": cont} if cont else {})}
            page = self.http.get(f"{self.url}/api/v1/environments", params=params).json()
            for env in page["items"]:
                for c in (env.get("status") or {}).get("conditions", []):
                    if c["type"] == "Ready" and c["status"] == "True":
                        ready[env["metadata"]["name"]] = c.get("observedGeneration")
            cont = page["metadata"].get("continue")
            if not cont:
                return ready

    def metrics(self):
        """{(name, frozenset(labels)): value} of /metrics."""
        out = {}
        for line in requests.get(f"{self.url}/metrics").text.splitlines():
            if not line or line.startswith("#"):
                continue
            head, value = line.rsplit(" ", 1)
            name, _, labels = head.partition("{")
            pairs = frozenset(
                tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p
            )
            out[(name, pairs)] = float(value)
        return out


def total(metrics, name, **labels):
    want = {(k, f'"{v}"') for k, v in labels.items()}
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= ls)


def phase(plumb, title, bodies, generation):
    """Writes every body, then waits until each is Ready at `generation`."""
    before = plumb.metrics()
    started, changed = time.time(), {}
    for body in bodies:
        plumb.put(body)
        changed[body["metadata"]["name"]] = time.time()
    latency = {}
    deadline = time.time() + 1800
    while len(latency) < len(changed):
        if time.time() > deadline:
            sys.exit(f"{title}: {len(changed) - len(latency)} not Ready after 30 minutes")
        now = time.time()
        for name, gen in plumb.ready_generations().items():
            if name in changed and name not in latency and gen == generation:
                latency[name] = now - changed[name]
        time.sleep(0.25)
    took = time.time() - started
    after = plumb.metrics()
    reconciles = total(after, "plumb_reconciles_total") - total(before, "plumb_reconciles_total")
    calls = total(after, "plumb_aws_calls_total") - total(before, "plumb_aws_calls_total")
    delayed = total(after, "plumb_aws_calls_delayed_total") - total(
        before, "plumb_aws_calls_delayed_total"
    )
    throttled = total(after, "plumb_aws_calls_total", outcome="throttled") - total(
        before, "plumb_aws_calls_total", outcome="throttled"
    )
    errors = total(after, "plumb_aws_calls_total", outcome="error") - total(
        before, "plumb_aws_calls_total", outcome="error"
    )
    failed = total(after, "plumb_reconciles_total", result="failed") - total(
        before, "plumb_reconciles_total", result="failed"
    )
    values = sorted(latency.values())
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    print(f"{title}: {len(values)} environments Ready in {took:.1f} s")
    print(f"  spec change -> Ready: p50 {statistics.median(values):.1f} s, p95 {p95:.1f} s")
    by_operation = {}
    for (n, ls), v in after.items():
        labels = dict(ls)
        if n == "plumb_aws_calls_total" and labels.get("outcome") == '"error"':
            op = f'{labels["service"].strip(chr(34))} {labels["operation"].strip(chr(34))}'
            by_operation[op] = v - before.get((n, ls), 0)
    errors_by = ", ".join(f"{op} {n:.0f}" for op, n in sorted(by_operation.items()) if n)
    print(f"  reconciles: {reconciles:.0f} ({reconciles / took:.1f}/s), {failed:.0f} failed")
    print(f"  AWS calls: {calls:.0f}, {delayed:.0f} waited for Plumb's rate limit, "
          f"{throttled:.0f} throttled, {errors:.0f} errors")
    if errors_by:
        # Expected answers count as errors too: "not found" before a create, say.
        print(f"  errors by operation: {errors_by}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main():
    procs = []
    db = f"plumb_bench_{uuid.uuid4().hex[:12]}"
    try:
        endpoint = start_moto(procs)
        ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name=REGION,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        subnets, group = network(ec2)

        env, token = plumb_database(db, endpoint)
        port = free_port()
        server = subprocess.Popen(
            [PLUMB, "serve", "--listen", f"127.0.0.1:{port}", "--workers", WORKERS],
            env=env, stdout=subprocess.DEVNULL,
        )
        procs.append(server)
        wait_port(port)
        plumb = Plumb(f"http://127.0.0.1:{port}", token)

        names = [f"bench-{i:03d}" for i in range(ENVS)]
        print(f"{ENVS} environments, {WORKERS} workers, resync {RESYNC} s, moto on loopback")
        phase(plumb, "create", [spec(n, "registry.example.com/api:1", subnets, group)
                                for n in names], 1)
        phase(plumb, "change the api image", [spec(n, "registry.example.com/api:2", subnets,
                                                   group) for n in names], 2)

        before, t0 = plumb.metrics(), time.time()
        time.sleep(3 * RESYNC)
        after, took = plumb.metrics(), time.time() - t0
        swept = total(after, "plumb_reconciles_total", result="reconciled") - total(
            before, "plumb_reconciles_total", result="reconciled")
        calls = total(after, "plumb_aws_calls_total") - total(before, "plumb_aws_calls_total")
        writes = sum(
            v - before.get(k, 0) for k, v in after.items()
            if k[0] == "plumb_aws_calls_total"
            and not any(dict(k[1])["operation"].strip('"').startswith(p)
                        for p in ("Describe", "List", "Get"))
        )
        print(f"steady state ({took:.0f} s, nothing changed):")
        print(f"  reconciles: {swept:.0f} ({swept / took:.1f}/s; "
              f"{ENVS / RESYNC:.1f}/s due at resync {RESYNC} s)")
        if swept:
            print(f"  AWS calls per environment per sweep: {calls / swept:.1f} "
                  f"({writes:.0f} writes in all)")
        rss, peak = rss_kib(server.pid)
        print(f"plumb serve RSS: {rss / 1024:.0f} MiB now, {peak / 1024:.0f} MiB peak")
    finally:
        stop(procs, db)


if __name__ == "__main__":
    main()
