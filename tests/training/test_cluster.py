"""A multi-worker run meets its cluster in Python first: it times out with the missing workers named and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from net_utils import free_ports

from vae_helpers import cli
from vae_helpers.training.cluster import ClusterUnreachableError, Workers, parse_workers, wait_for_workers



def _tf_config(addresses: list[str], index: int) -> str:
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def test_workers_that_start_at_different_times_meet():
    addresses = [f"localhost:{p}" for p in free_ports(3)]
    waited, errors = {}, []

    def worker(index: int, delay: float) -> None:
        time.sleep(delay)
        try:
            waited[index] = wait_for_workers(Workers(tuple(addresses), index), timeout_s=30, poll_s=0.05)
        except Exception as exc:  # reported below, with the worker's index
            errors.append((index, exc))

    threads = [threading.Thread(target=worker, args=(i, 0.5 * i)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and sorted(waited) == [0, 1, 2]
    assert waited[0] >= 0.9 and waited[2] < waited[0]    # the first waited for the last, the last found both at once


def test_a_missing_worker_is_named_after_the_timeout():
    own, missing = (f"localhost:{p}" for p in free_ports(2))
    start = time.monotonic()
    with pytest.raises(ClusterUnreachableError, match=rf"1 of the 2 workers in \$TF_CONFIG did not answer within 1 s: "
                                                       rf"{missing} \(this is worker 0, {own}\)"):
        wait_for_workers(Workers((own, missing), 0), timeout_s=1, poll_s=0.05)
    assert time.monotonic() - start < 10


def test_a_busy_own_port_and_bad_addresses_are_named():
    busy = socket.socket()
    busy.bind(("", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=rf"this worker's address localhost:{port} in \$TF_CONFIG cannot be listened on"):
            wait_for_workers(Workers((f"localhost:{port}", "localhost:1"), 0), timeout_s=1)
    finally:
        busy.close()
    with pytest.raises(ValueError, match=r"must be host:port with a port from 1 to 65535. Received: 'host'"):
        parse_workers(json.loads(_tf_config(["host", "other:1"], 0)))
    with pytest.raises(ValueError, match=r"`timeout_s` must be an integer in \[1, 86400\]"):
        wait_for_workers(Workers(("localhost:1", "localhost:2"), 0), timeout_s=0)


def _cli(args: list[str], tf_config: str) -> subprocess.Popen:
    code = ("import sys\nfrom vae_helpers import cli\n"
            f"code = cli.main({args!r})\nprint('exit', code, 'tensorflow' in sys.modules)\n")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CONFIG": tf_config})


def test_the_cli_says_which_worker_is_unreachable_and_stops_before_tensorflow():
    own, missing = (f"localhost:{p}" for p in free_ports(2))
    proc = _cli(["plots", "--mode", "smoke", "--strategy", "multi-worker", "--cluster-timeout", "2"], _tf_config([own, missing], 0))
    stdout, stderr = proc.communicate(timeout=120)
    assert "waiting up to 2 s for the 2 workers in $TF_CONFIG (this is worker 0" in stdout
    assert stdout.strip().splitlines()[-1] == "exit 1 False", stdout + stderr
    assert stderr.count("\n") == 1 and f"did not answer within 2 s: {missing}" in stderr, stderr


def test_ctrl_c_stops_the_wait_for_the_cluster():
    own, missing = (f"localhost:{p}" for p in free_ports(2))
    proc = _cli(["plots", "--mode", "smoke", "--strategy", "multi-worker"], _tf_config([own, missing], 0))
    line = proc.stdout.readline()          # printed when the wait starts
    assert "waiting up to 300 s" in line, line
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert stdout.strip().splitlines()[-1] == "exit 130 False" and stderr == "vae-course: interrupted\n", stdout + stderr


def test_cluster_timeout_belongs_to_multi_worker(capsys):
    assert cli.main(["plots", "--mode", "smoke", "--cluster-timeout", "5"]) == 2
    assert "argument --cluster-timeout: only with --strategy multi-worker" in capsys.readouterr().err


def test_a_worker_listed_twice_and_an_index_that_is_not_an_integer_are_refused():
    with pytest.raises(ValueError, match=r"must be listed once; a worker listed twice never joins. Received: a:1 more than once"):
        parse_workers(json.loads(_tf_config(["a:1", "b:2", "a:1"], 0)))
    for index in (True, 2, -1, "0"):
        with pytest.raises(ValueError, match=r"the task index in \$TF_CONFIG must be an integer from 0 to 1"):
            parse_workers(json.loads(_tf_config(["a:1", "b:2"], index)))
    assert parse_workers(json.loads(_tf_config(["a:1", "b:2"], 1))).own == "b:2"
