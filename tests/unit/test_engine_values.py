"""The engine module's plain values, without an engine."""

from __future__ import annotations

import subprocess
import sys

from hubpub.engine import PushAuth


def test_push_credentials_never_show_in_a_repr() -> None:
    # A --debug traceback or a log line may print the object (secrets never leak).
    for auth in (PushAuth("alice", "s3cret-pw"), PushAuth("", "", identity_token="s3cret-tok")):
        text = f"{auth!r} {auth}"
        assert "s3cret" not in text
        assert "PushAuth(username=" in text
    assert PushAuth("alice", "pw").as_auth_config("reg")["password"] == "pw"


def test_two_threads_importing_the_docker_sdk_do_not_break_each_other() -> None:
    """observe hashes contexts (docker.utils.build) while another thread may connect to the
    engine (docker): without engine.sdk_module's lock, the second import, started a few ms
    into the first, failed about half the time (ImportError / KeyError: 'docker')."""
    code = """
import sys, threading, time
from hubpub.engine import sdk_module
delay = float(sys.argv[1])
errors = []
def load(name, wait):
    time.sleep(wait)
    try:
        sdk_module(name)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load, args=("docker", 0.0)),
           threading.Thread(target=load, args=("docker.utils.build", delay))]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""
    for delay in ("0.002", "0.004", "0.006", "0.008", "0.010", "0.003"):
        done = subprocess.run(
            [sys.executable, "-c", code, delay], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "[]", (delay, done.stdout, done.stderr)
