"""Drift detection through the CloudTrail event path; run through bench/drift_latency.sh.

One environment, one ECS service (desiredCount 1), `policy.drift: report` and a 600 s resync:
a detection within seconds can only come from an event. Then BENCH_CHANGES times: the
service's desiredCount is changed out of band in moto (each time to a value not used before,
so no change repeats an earlier drift), and the CloudTrail event of that UpdateService call,
by a user of its own, is put on EventBridge, whose rule (deploy/eventbridge-rule.json) sends
it to the queue `plumb serve --events-queue-url` reads. The latency is the time from the
change to a drift record naming that user, read from the API. Between changes the count is
put back and a reconcile requested, until the record resolves.

CloudTrail records whole seconds; the events here carry milliseconds, so two changes within
one second still have a newest. What is measured starts when AWS would have the change and
leaves out CloudTrail's own delivery to EventBridge.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone

import boto3
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from moto_network import network  # noqa: E402
from harness import (  # noqa: E402
    PLUMB, REGION, free_port, plumb_database, start_moto, stop, wait_port,
)

CHANGES = int(os.environ.get("BENCH_CHANGES", "100"))
OUT = os.environ.get("BENCH_OUT", os.path.join(os.path.dirname(__file__), "drift_latency.json"))
RULE = os.path.join(os.path.dirname(__file__), "..", "deploy", "eventbridge-rule.json")
ACCOUNT = "123456789012"
NAME = "drift-bench"
CLUSTER = f"{NAME}-cluster"
SERVICE = f"{NAME}-api"
RESOURCE = f"ecs-service/{SERVICE}"
RESYNC = 600
SPEC_COUNT = 1
WAIT = 30


def spec(subnets, group):
    return {
        "apiVersion": "plumb.dev/v1",
        "kind": "Environment",
        "metadata": {"name": NAME},
        "spec": {
            "region": REGION,
            "policy": {"drift": "report", "resyncSeconds": RESYNC},
            "network": {"subnets": subnets, "securityGroups": [group]},
            "ecs": {
                "services": {
                    "api": {
                        "image": "registry.example.com/api:1",
                        "cpu": 256,
                        "memory": 512,
                        "desiredCount": SPEC_COUNT,
                    }
                }
            },
        },
    }


def update_service_event(count, user):
    """The `detail` CloudTrail records for `user` setting the service's desiredCount."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEEXAMPLE",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "userName": user,
        },
        "eventTime": now,
        "eventSource": "ecs.amazonaws.com",
        "eventName": "UpdateService",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"cluster": CLUSTER, "service": SERVICE, "desiredCount": count},
        "responseElements": None,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


class Plumb:
    def __init__(self, url, token):
        self.url = url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def put(self, body):
        r = self.http.put(f"{self.url}/api/v1/environments/{NAME}", json=body)
        r.raise_for_status()

    def ready(self, generation):
        env = self.http.get(f"{self.url}/api/v1/environments/{NAME}").json()
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            and c.get("observedGeneration") == generation
            for c in (env.get("status") or {}).get("conditions", [])
        )

    def open_drift(self):
        r = self.http.get(f"{self.url}/api/v1/environments/{NAME}/drift",
                          params={"state": "open"})
        r.raise_for_status()
        return [d for d in r.json() if d["resource"] == RESOURCE and d["field"] == "desiredCount"]

    def reconcile(self):
        self.http.post(f"{self.url}/api/v1/environments/{NAME}/reconcile").raise_for_status()

    def events(self):
        """plumb_events_total by outcome."""
        out = {}
        for line in requests.get(f"{self.url}/metrics").text.splitlines():
            if line.startswith("plumb_events_total{"):
                head, value = line.rsplit(" ", 1)
                outcome = head.split('outcome="', 1)[1].split('"', 1)[0]
                out[outcome] = int(float(value))
        return out


def until(what, check, limit=WAIT):
    """Polls `check` every 10 ms; its first truthy answer, or None after `limit` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    print(f"  gave up waiting for {what} after {limit} s", file=sys.stderr)
    return None


def percentile(values, p):
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    procs = []
    db = f"plumb_bench_{uuid.uuid4().hex[:12]}"
    try:
        endpoint = start_moto(procs)
        aws = dict(endpoint_url=endpoint, region_name=REGION,
                   aws_access_key_id="testing", aws_secret_access_key="testing")
        subnets, group = network(boto3.client("ec2", **aws))
        ecs, sqs, events = (boto3.client(s, **aws) for s in ("ecs", "sqs", "events"))

        queue_url = sqs.create_queue(QueueName="plumb-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        with open(RULE) as f:
            events.put_rule(Name="plumb-cloudtrail", EventPattern=json.dumps(json.load(f)))
        events.put_targets(Rule="plumb-cloudtrail",
                           Targets=[{"Id": "plumb-events", "Arn": queue_arn}])

        env, token = plumb_database(db, endpoint)
        port = free_port()
        server = subprocess.Popen(
            # No alerts: the environment has no topic, and they are not what is measured.
            [PLUMB, "serve", "--listen", f"127.0.0.1:{port}", "--events-queue-url", queue_url,
             "--alerts-sender=false"],
            env=env, stdout=subprocess.DEVNULL,
        )
        procs.append(server)
        wait_port(port)
        plumb = Plumb(f"http://127.0.0.1:{port}", token)

        plumb.put(spec(subnets, group))
        if not until("the environment to be Ready", lambda: plumb.ready(1), limit=120):
            sys.exit("the environment did not become Ready")
        print(f"{CHANGES} out-of-band changes of {SERVICE}'s desiredCount, policy.drift report, "
              f"resync {RESYNC} s, moto and Postgres on loopback")

        latencies, missed, resolve = [], 0, []
        started = time.time()
        for i in range(CHANGES):
            user = f"bench-{i:03d}"
            arn = f"arn:aws:iam::{ACCOUNT}:user/{user}"
            count = SPEC_COUNT + 1 + i
            changed = time.time()
            ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=count)
            events.put_events(Entries=[{
                "Source": "aws.ecs",
                "DetailType": "AWS API Call via CloudTrail",
                "Detail": json.dumps(update_service_event(count, user)),
            }])
            found = until(f"the drift of change {i} naming {user}", lambda: [
                d for d in plumb.open_drift()
                if (d.get("actor") or {}).get("arn") == arn and d.get("observed") == count
            ])
            if found:
                latencies.append(time.time() - changed)
            else:
                missed += 1

            ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=SPEC_COUNT)
            put_back = time.time()
            plumb.reconcile()
            if until(f"the drift of change {i} to resolve", lambda: not plumb.open_drift()):
                resolve.append(time.time() - put_back)
            else:
                sys.exit("a drift record did not resolve; later changes would reopen it")
        took = time.time() - started

        outcomes = plumb.events()
        values = sorted(latencies)
        if not values:
            sys.exit(f"no drift was detected with its actor ({missed} missed)")
        result = {
            "changes": CHANGES,
            "detected": len(values),
            "missed": missed,
            "resync_seconds": RESYNC,
            "p50_seconds": round(statistics.median(values), 4),
            "p95_seconds": round(percentile(values, 0.95), 4),
            "max_seconds": round(values[-1], 4),
            "min_seconds": round(values[0], 4),
            "mean_seconds": round(statistics.fmean(values), 4),
            "put_back_to_resolved_p50_seconds": round(statistics.median(resolve), 4),
            "events_total": outcomes,
            "took_seconds": round(took, 1),
        }
        print(f"change -> drift record naming its actor: p50 {result['p50_seconds']:.3f} s, "
              f"p95 {result['p95_seconds']:.3f} s, max {result['max_seconds']:.3f} s "
              f"({len(values)} detected, {missed} missed, in {took:.0f} s)")
        print(f"  put back + reconcile requested -> resolved: p50 "
              f"{result['put_back_to_resolved_p50_seconds']:.3f} s")
        print(f"  plumb_events_total: {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}")
        with open(OUT, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(f"  written to {OUT}")
    finally:
        stop(procs, db)


if __name__ == "__main__":
    main()
