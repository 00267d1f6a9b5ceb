"""A multi-worker run meets its cluster in Python first: it times out with the missing workers named, refuses an
address that is not the worker the list says (this worker itself, another index, another program), and stops on
Ctrl-C or SIGTERM."""

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
from vae_helpers.training.cluster import (ClusterConfigError, ClusterUnreachableError, Workers, parse_workers,
                                         wait_for_workers)



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


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """The output of ``proc``; a process still running after ``timeout`` seconds is killed and the test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"still running after {timeout} s:\n{stdout[-2000:]}\n{stderr[-2000:]}")


class _NotAWorker:
    """A program that listens on a worker's port but is no vae-course worker: silent, or answering with an HTTP error."""

    def __init__(self, port: int, reply: bytes | None = None):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("", port))
        self.server.listen(64)
        self.reply, self.stop = reply, threading.Event()
        if reply is not None:
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.server.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(self.reply)

    def close(self):
        self.stop.set()
        self.server.close()


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 400 Bad Request\r\n\r\n"], ids=["silent", "http"])
def test_an_address_that_accepts_connections_but_is_no_worker_is_named_after_the_timeout(reply):
    own, port = free_ports(2)
    other = _NotAWorker(port, reply)
    start = time.monotonic()
    try:
        with pytest.raises(ClusterUnreachableError, match=rf"1 of the 2 workers in \$TF_CONFIG did not answer within 1 s: "
                                                           rf"localhost:{port} \(it accepts connections but never answered "
                                                           rf"as a vae-course worker"):
            wait_for_workers(Workers((f"localhost:{own}", f"localhost:{port}"), 0), timeout_s=1, poll_s=0.05)
    finally:
        other.close()
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("index", [0, 1])
def test_an_address_that_reaches_this_worker_itself_is_refused_at_once(index):
    (port,) = free_ports(1)
    addresses = (f"localhost:{port}", f"127.0.0.1:{port}")     # one worker, listed twice under two spellings
    start = time.monotonic()
    with pytest.raises(ClusterConfigError, match=rf"the address {addresses[1 - index]} of worker {1 - index} in "
                                                 rf"\$TF_CONFIG reaches this worker itself \(this is worker {index}, "
                                                 rf"{addresses[index]}\): the list names this worker twice"):
        wait_for_workers(Workers(addresses, index), timeout_s=30, poll_s=0.05)
    assert time.monotonic() - start < 10


def _meet(configs: list[tuple[tuple[str, ...], int, int]]) -> dict[int, BaseException | float]:
    """Run one worker per ``(addresses, index, timeout_s)`` in threads; what each returned or raised."""
    outcome = {}

    def worker(n, addresses, index, timeout_s):
        try:
            outcome[n] = wait_for_workers(Workers(addresses, index), timeout_s=timeout_s, poll_s=0.05)
        except Exception as exc:  # compared below
            outcome[n] = exc

    threads = [threading.Thread(target=worker, args=(n, *config)) for n, config in enumerate(configs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcome


def test_workers_whose_lists_do_not_match_are_refused_at_once():
    a, b, c = free_ports(3)
    alias = f"127.0.0.1:{b}"                    # worker 0's third entry is worker 1 again
    start = time.monotonic()
    outcome = _meet([((f"localhost:{a}", f"localhost:{b}", alias), 0, 30),
                     ((f"localhost:{a}", f"localhost:{b}", f"localhost:{c}"), 1, 3)])
    assert isinstance(outcome[0], ClusterConfigError), outcome
    assert str(outcome[0]).startswith(f"the address {alias} of worker 2 in $TF_CONFIG is answered by the worker with "
                                      f"task index 1 (this is worker 0, localhost:{a})"), outcome
    assert time.monotonic() - start < 20

    a, b = free_ports(2)                        # worker 1 lists a third worker that worker 0 does not know
    start = time.monotonic()
    outcome = _meet([((f"localhost:{a}", f"localhost:{b}"), 0, 30),
                     ((f"localhost:{a}", f"localhost:{b}", "localhost:1"), 1, 30)])
    assert all(isinstance(o, ClusterConfigError) for o in outcome.values()), outcome
    assert "has 3 workers in its $TF_CONFIG, this one 2 (this is worker 0" in str(outcome[0])
    assert "has 2 workers in its $TF_CONFIG, this one 3 (this is worker 1" in str(outcome[1])
    assert time.monotonic() - start < 20


def test_the_cli_names_an_address_that_is_no_worker_and_stops_before_tensorflow():
    own, port = free_ports(2)
    other = _NotAWorker(port)
    try:
        proc = _cli(["plots", "--mode", "smoke", "--strategy", "multi-worker", "--cluster-timeout", "2"],
                    _tf_config([f"localhost:{own}", f"localhost:{port}"], 0))
        stdout, stderr = _finish(proc, 60)
    finally:
        other.close()
    assert stdout.strip().splitlines()[-1] == "exit 1 False" and "met after" not in stdout, stdout + stderr
    assert stderr.count("\n") == 1 and (f"did not answer within 2 s: localhost:{port} (it accepts connections but "
                                        "never answered as a vae-course worker") in stderr, stderr


def test_the_cli_refuses_this_workers_address_listed_twice_before_tensorflow():
    (port,) = free_ports(1)
    proc = _cli(["plots", "--mode", "smoke", "--strategy", "multi-worker"],
                _tf_config([f"localhost:{port}", f"127.0.0.1:{port}"], 0))
    stdout, stderr = _finish(proc, 60)
    assert stdout.strip().splitlines()[-1] == "exit 2 False", stdout + stderr
    assert stderr == (f"vae-course: error: argument --strategy multi-worker: the address 127.0.0.1:{port} of worker 1 "
                      f"in $TF_CONFIG reaches this worker itself (this is worker 0, localhost:{port}): the list names "
                      "this worker twice (under two spellings of its address); list every worker once\n")


@pytest.mark.parametrize("workers, index, message", [
    (["localhost:5001", "localhost:5001"], 0, "every worker address in $TF_CONFIG must be listed once; a worker "
                                              "listed twice never joins. "
                                              "Received: localhost:5001 more than once"),
    (["localhost:5001", "localhost:5002"], True, "the task index in $TF_CONFIG must be an integer from 0 to 1. "
                                                 "Received: True"),
])
def test_the_cli_refuses_a_repeated_address_and_a_boolean_index(workers, index, message, monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", _tf_config(workers, index))
    assert cli.main(["plots", "--mode", "smoke", "--strategy", "multi-worker"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument --strategy multi-worker: {message}" in err, err


def test_sigterm_stops_the_wait_for_an_address_that_is_no_worker():
    own, port = free_ports(2)
    other = _NotAWorker(port)
    try:
        proc = _cli(["plots", "--mode", "smoke", "--strategy", "multi-worker"],
                    _tf_config([f"localhost:{own}", f"localhost:{port}"], 0))
        line = proc.stdout.readline()          # printed when the wait starts
        assert "waiting up to 300 s" in line, line
        time.sleep(5)     # long past the 2 s after which the old wait took the port for a worker and blocked in TensorFlow
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        stdout, stderr = _finish(proc, 30)
    finally:
        other.close()
    assert time.monotonic() - start < 10
    assert stdout == "exit 130 False\n", stdout + stderr      # still waiting when SIGTERM came; TensorFlow never started
    assert stderr == "vae-course: interrupted\n", stderr


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
