"""Wait for the workers of a multi-worker cluster before TensorFlow does, so that waiting can time out and be stopped.

``tf.distribute.MultiWorkerMirroredStrategy()`` blocks inside TensorFlow's C++ code until every
worker named in ``$TF_CONFIG`` has joined: with a worker that is unreachable or never started it
waits for ever, prints nothing, and neither Ctrl-C nor SIGTERM reaches Python. So the command line
first runs a small rendezvous of its own in Python: each worker listens on its own address from
``$TF_CONFIG`` and connects to every other worker's address until all answer or ``timeout_s``
passes. A worker that already started TensorFlow's server answers on the same port, so workers
that arrive at different times still meet. Only then is the strategy created.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ..core.checks import check_int

__all__ = ["ClusterUnreachableError", "MAX_CLUSTER_TIMEOUT_S", "Workers", "parse_workers", "wait_for_workers"]

MAX_CLUSTER_TIMEOUT_S = 86_400  # a day: the longest wait --cluster-timeout accepts
POLL_S = 0.2


class ClusterUnreachableError(TimeoutError):
    """Some workers of ``$TF_CONFIG`` did not answer within the timeout; nothing was trained."""


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


def _answers(address: str, timeout_s: float) -> bool:
    try:
        with socket.create_connection(_host_port(address), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_workers(workers: Workers, timeout_s: float, poll_s: float = POLL_S, clock=time.monotonic) -> float:
    """Listen on this worker's address and wait until every other worker answers; returns the seconds waited.

    Raises:
        ClusterUnreachableError: after ``timeout_s`` seconds, naming the workers that never answered.
        OSError: this worker's own port cannot be listened on.
    A ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM under ``vae-course``) stops the wait at once.
    """
    timeout_s = check_int("timeout_s", timeout_s, 1, MAX_CLUSTER_TIMEOUT_S)
    start = clock()
    waiting = list(workers.others)
    listener = _listen(workers.own)
    try:
        while True:
            waiting = [a for a in waiting if not _answers(a, min(1.0, poll_s * 5))]
            try:  # accept and drop the others' probes, so that their connects complete
                while True:
                    listener.accept()[0].close()
            except (BlockingIOError, InterruptedError):
                pass
            if not waiting:
                break
            if clock() - start >= timeout_s:
                raise ClusterUnreachableError(
                    f"{len(waiting)} of the {len(workers.addresses)} workers in $TF_CONFIG did not answer within "
                    f"{timeout_s} s: {', '.join(waiting)} (this is worker {workers.index}, {workers.own}); start "
                    f"vae-course on every worker, check the addresses and firewalls, or raise --cluster-timeout")
            time.sleep(poll_s)
        # Stay reachable a little longer for workers that have not yet seen us, then hand the port to TensorFlow
        # (a worker that still probes after that finds TensorFlow's server on the same port).
        linger = clock() + min(2.0, 10 * poll_s)
        while clock() < linger:
            try:
                listener.accept()[0].close()
            except (BlockingIOError, InterruptedError):
                time.sleep(poll_s / 4)
    finally:
        listener.close()
    return clock() - start
