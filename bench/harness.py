"""What the benchmarks share: free ports, moto on one of them, and a Plumb database with an
admin token, for the real `plumb` binary (PLUMB) and Postgres (PLUMB_ADMIN_DATABASE_URL)."""

import os
import signal
import socket
import subprocess
import sys
import time

PLUMB = os.environ["PLUMB"]
ADMIN_URL = os.environ["PLUMB_ADMIN_DATABASE_URL"]
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


def start_moto(procs):
    """moto server on a free port, added to `procs`; its endpoint."""
    port = free_port()
    procs.append(subprocess.Popen(
        ["scripts/moto.sh", "start", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ))
    wait_port(port)
    return f"http://127.0.0.1:{port}"


def plumb_database(db, endpoint):
    """Creates database `db` with Plumb's schema; the environment `plumb` runs with (moto
    at `endpoint`) and an admin token."""
    subprocess.run(["psql", ADMIN_URL, "-qc", f'CREATE DATABASE "{db}"'], check=True)
    env = dict(
        os.environ,
        DATABASE_URL=ADMIN_URL.rsplit("/", 1)[0] + "/" + db,
        PLUMB_AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        PLUMB_LOG="warn",
    )
    subprocess.run([PLUMB, "migrate"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [PLUMB, "token", "create", "--role", "admin", "--name", "bench"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    return env, token


def stop(procs, db):
    """Stops `procs`, newest first, and drops database `db`."""
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
    subprocess.run(["psql", ADMIN_URL, "-qc", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
                   check=False)
