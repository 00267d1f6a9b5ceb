"""Meet the workers of a multi-worker cluster before TensorFlow does, so that waiting can time out and be stopped.

``tf.distribute.MultiWorkerMirroredStrategy()`` blocks inside TensorFlow's C++ code until every
worker named in ``$TF_CONFIG`` has joined: with a worker that is unreachable, never started, or is
not a worker at all (another program on its port, or the list naming this worker twice under two
spellings) it waits for ever, prints nothing, and TensorFlow's own SIGTERM handler swallows SIGTERM.
So the command line first runs a small rendezvous of its own in Python. Each worker listens on its
own address from ``$TF_CONFIG`` and, from the main thread, greets every other worker's address with
one line of JSON (the protocol name, its task index, the number of workers and a random nonce); a
worker's listening thread answers a greeting with its own. A worker is done when every other worker
has answered its greeting *and* has greeted it, so it never hands its port to TensorFlow before the
others have met it. Only then is the strategy created.

A greeting that comes back with this worker's own nonce (an address that reaches this process), with
another task index, or with another number of workers is a wrong ``$TF_CONFIG``
(:class:`ClusterConfigError`, at once); an address that accepts connections but never answers the
greeting is named as such after the timeout. The main thread only ever sleeps or waits on sockets
with short timeouts, so Ctrl-C and SIGTERM stop the wait at once.
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.checks import check_int

__all__ = ["ClusterConfigError", "ClusterUnreachableError", "MAX_CLUSTER_TIMEOUT_S", "PROTOCOL", "Workers",
           "parse_workers", "wait_for_workers"]

MAX_CLUSTER_TIMEOUT_S = 86_400  # a day: the longest wait --cluster-timeout accepts
POLL_S = 0.2
PROTOCOL = "vae-course-cluster/1"
HANDSHAKE_S = 1.0      # how long one greeting waits for its answer (a worker answers in milliseconds)
_MAX_LINE = 4096


class ClusterUnreachableError(TimeoutError):
    """Some workers of ``$TF_CONFIG`` did not answer within the timeout; nothing was trained."""


class ClusterConfigError(ValueError):
    """The workers that answered show that ``$TF_CONFIG`` is wrong (an address listed twice, indices that differ)."""


@dataclass(frozen=True)
class Workers:
    """The worker addresses of a ``$TF_CONFIG`` and the index of this process among them."""

    addresses: tuple[str, ...]
    index: int

    @property
    def own(self) -> str:
        return self.addresses[self.index]

    @property
    def others(self) -> tuple[str, ...]:
        return tuple(a for i, a in enumerate(self.addresses) if i != self.index)


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"every worker address in $TF_CONFIG must be host:port with a port from 1 to 65535. "
                         f"Received: {address!r}")
    return host.strip("[]"), int(port)


def parse_workers(config: Mapping) -> Workers:
    """The workers of a parsed ``$TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {"index": i}}``)."""
    addresses = tuple(config["cluster"]["worker"])
    for address in addresses:
        _host_port(address)
    repeated = sorted({a for a in addresses if addresses.count(a) > 1})
    if repeated:
        raise ValueError(f"every worker address in $TF_CONFIG must be listed once; a worker listed twice never joins. "
                         f"Received: {', '.join(repeated)} more than once")
    index = config["task"]["index"]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(addresses):
        raise ValueError(f"the task index in $TF_CONFIG must be an integer from 0 to {len(addresses) - 1}. Received: {index!r}")
    return Workers(addresses, index)


def _listen(address: str) -> socket.socket:
    """Listen on this worker's port (on every interface, as TensorFlow's server will) so that the others find it."""
    _, port = _host_port(address)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
    except OSError as exc:
        listener.close()
        raise OSError(exc.errno, f"this worker's address {address} in $TF_CONFIG cannot be listened on "
                                 f"(port {port}: {exc.strerror}); is another program using the port?") from None
    listener.listen(16)
    listener.setblocking(False)
    return listener


def _greeting(workers: Workers, nonce: str) -> bytes:
    return (json.dumps({"protocol": PROTOCOL, "index": workers.index, "workers": len(workers.addresses),
                        "nonce": nonce}) + "\n").encode()


def _read_greeting(sock: socket.socket, timeout_s: float) -> dict | None:
    """One line of JSON from ``sock`` within ``timeout_s``, if it is a greeting of this protocol; else None."""
    deadline, data = time.monotonic() + timeout_s, b""
    try:
        while b"\n" not in data and len(data) < _MAX_LINE:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(_MAX_LINE - len(data))
            if not chunk:
                break
            data += chunk
        message = json.loads(data.split(b"\n", 1)[0])
    except (OSError, ValueError):   # a timeout, a reset, bytes that are not JSON
        return None
    ok = (isinstance(message, dict) and message.get("protocol") == PROTOCOL and isinstance(message.get("nonce"), str)
          and all(isinstance(message.get(k), int) and not isinstance(message.get(k), bool) for k in ("index", "workers")))
    return message if ok else None


class _Meeting:
    """This worker's side of the rendezvous: a thread that answers the others' greetings on its own address."""

    def __init__(self, workers: Workers):
        self.workers, self.nonce = workers, secrets.token_hex(8)
        self.greeting = _greeting(workers, self.nonce)
        self.greeted_by: set[int] = set()      # the indices of the workers whose greeting this worker answered
        self.error: str | None = None          # a greeting that shows a wrong $TF_CONFIG
        self.lock, self.stopping = threading.Lock(), threading.Event()
        self.listener = _listen(workers.own)
        self.thread = threading.Thread(target=self._serve, name="vae-course-cluster", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                ready, _, _ = select.select([self.listener], [], [], 0.05)
                if ready:
                    conn, _ = self.listener.accept()
                    threading.Thread(target=self._answer, args=(conn,), daemon=True).start()
            except (BlockingIOError, InterruptedError):
                pass
            except (OSError, ValueError):  # the listener was closed: the wait is over
                return

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            message = _read_greeting(conn, HANDSHAKE_S)
            if message is None:           # a port scanner, a health check: not ours
                return
            try:
                conn.setblocking(True)
                conn.settimeout(HANDSHAKE_S)
                conn.sendall(self.greeting)
            except OSError:
                return
        if message["nonce"] == self.nonce:  # this worker greeted itself: the greeting side says so
            return
        index, n = message["index"], len(self.workers.addresses)
        with self.lock:
            if message["workers"] != n:
                self.error = (f"a worker that says it is worker {index} has {message['workers']} workers in its "
                              f"$TF_CONFIG, this one {n} (this is worker {self.workers.index}, {self.workers.own}); "
                              "every worker must have the same cluster list")
            elif index == self.workers.index:
                self.error = (f"another process also says it is worker {index} ({self.workers.own}); each worker "
                              "needs its own task index in $TF_CONFIG")
            else:
                self.greeted_by.add(index)

    def greet(self, j: int, timeout_s: float) -> str:
        """Greet worker ``j``: "met", "silent" (connects, but no greeting came back) or "absent" (no connection)."""
        address = self.workers.addresses[j]
        try:
            sock = socket.create_connection(_host_port(address), timeout=max(0.05, timeout_s))
        except OSError:
            return "absent"
        with sock:
            try:
                sock.sendall(self.greeting)
            except OSError:
                return "silent"
            answer = _read_greeting(sock, max(0.05, timeout_s))
        if answer is None:
            return "silent"
        where = f"(this is worker {self.workers.index}, {self.workers.own})"
        if answer["nonce"] == self.nonce:
            raise ClusterConfigError(
                f"the address {address} of worker {j} in $TF_CONFIG reaches this worker itself {where}: the list "
                "names this worker twice (under two spellings of its address); list every worker once")
        if answer["workers"] != len(self.workers.addresses):
            raise ClusterConfigError(
                f"the worker at {address} has {answer['workers']} workers in its $TF_CONFIG, this one "
                f"{len(self.workers.addresses)} {where}; every worker must have the same cluster list")
        if answer["index"] != j:
            raise ClusterConfigError(
                f"the address {address} of worker {j} in $TF_CONFIG is answered by the worker with task index "
                f"{answer['index']} {where}: two addresses reach one worker, or the workers' task indices do not "
                "match the list")
        return "met"

    def state(self) -> tuple[set[int], str | None]:
        with self.lock:
            return set(self.greeted_by), self.error

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        self.thread.join(1.0)


def _missing(workers: Workers, met: set[int], greeted_by: set[int], status: dict[int, str]) -> list[str]:
    """Each worker that has not met this one in both directions, with what is known about it."""
    missing = []
    for j, address in enumerate(workers.addresses):
        if j == workers.index or (j in met and j in greeted_by):
            continue
        if j in met:
            missing.append(f"{address} (it answered, but never greeted this worker at {workers.own}: a firewall, "
                           "or another address for this machine in its $TF_CONFIG?)")
        elif status.get(j) == "silent":
            missing.append(f"{address} (it accepts connections but never answered as a vae-course worker: another "
                           "program on that port, or a worker that had already started training?)")
        else:
            missing.append(address)
    return missing


def wait_for_workers(workers: Workers, timeout_s: float, poll_s: float = POLL_S, clock=time.monotonic) -> float:
    """Listen on this worker's address and meet every other worker in both directions; returns the seconds waited.

    Raises:
        ClusterUnreachableError: after ``timeout_s`` seconds, naming the workers that never answered (and
            those that accept connections but are not vae-course workers).
        ClusterConfigError: at once, when an answer shows a wrong ``$TF_CONFIG``: an address that reaches this
            worker itself, a worker with another task index at that address, or another number of workers.
        OSError: this worker's own port cannot be listened on.
    A ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM under ``vae-course``) stops the wait at once.
    """
    timeout_s = check_int("timeout_s", timeout_s, 1, MAX_CLUSTER_TIMEOUT_S)
    start = clock()
    meeting = _Meeting(workers)
    met: set[int] = set()
    status: dict[int, str] = {}
    others = [j for j in range(len(workers.addresses)) if j != workers.index]
    try:
        while True:
            for j in others:
                if j not in met:
                    left = timeout_s - (clock() - start)
                    status[j] = meeting.greet(j, min(HANDSHAKE_S, max(left, 0.05)))
                    if status[j] == "met":
                        met.add(j)
            greeted_by, error = meeting.state()
            if error:
                raise ClusterConfigError(error)
            if all(j in met and j in greeted_by for j in others):
                break
            if clock() - start >= timeout_s:
                missing = _missing(workers, met, greeted_by, status)
                raise ClusterUnreachableError(
                    f"{len(missing)} of the {len(workers.addresses)} workers in $TF_CONFIG did not answer within "
                    f"{timeout_s} s: {', '.join(missing)} (this is worker {workers.index}, {workers.own}); start "
                    f"vae-course on every worker, check the addresses and firewalls, or raise --cluster-timeout")
            time.sleep(poll_s)
        # Answer a little longer: a worker whose answer from us was slow greets again before it is done.
        time.sleep(HANDSHAKE_S + 2 * poll_s)
    finally:
        meeting.close()
    return clock() - start
