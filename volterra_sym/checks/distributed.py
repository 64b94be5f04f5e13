"""Dask as the engine for large Monte Carlo ensembles (``client=`` of simulate, estimate_kernels, verify).

The Monte Carlo checks already split their paths into blocks of 64, each with its own random
stream, and merge per-block statistics in block order.  Here those blocks run as dask tasks
(chunks of whole blocks, one task per chunk); the per-block statistics come back and are merged
in block order by the caller, exactly as in a local run, so the result is **bit-identical** to
the local one with the same seed.  dask is imported lazily: it is the optional extra
``pip install 'volterra_sym[dask]'``.  See docs/distributed.md.

Failures: a task that raises on a worker (or a worker that dies) cancels the remaining tasks and
raises :class:`~volterra_sym.errors.SimulationError` naming the failure; no partial result is
ever returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import MissingDependencyError, SimulationError, describe
from ..validate import check_instance, refusal

__all__ = ["check_client", "run_blocks", "TASKS_PER_WORKER"]

TASKS_PER_WORKER = 4  #: default tasks per worker when ``chunk`` is not given (load balance vs overhead)
TASK_BLOCKS = 64  #: default largest task: 64 blocks = 4096 paths (small temporaries; finer progress)
CONNECT_TIMEOUT = "10s"
_SCHEMES = ("tcp", "tls", "ws", "wss")
_CLIENT = "a dask.distributed Client or a scheduler address such as 'tcp://host:8786'"


def check_client(client: Any) -> None:
    """Check ``client=`` before any work: None, a Client, or a scheduler address that is well formed and
    answers (a plain TCP connection, so no half-built Client is left to fail again at exit).

    Raises ArgumentError (not an address), MissingDependencyError (dask absent), SimulationError (unreachable).
    """
    if client is None:
        return
    dist = _distributed()
    if not isinstance(client, str):
        check_instance(client, "client", dist.Client, _CLIENT)
        return  # connect() checks that it is open
    address = client.strip()
    scheme, sep, rest = address.rpartition("://")
    host, colon, port_text = rest.rpartition(":")
    if (
        (sep and scheme not in _SCHEMES)
        or not colon
        or not host
        or not port_text.isdigit()
        or not 0 < int(port_text) < 65536
    ):
        raise refusal(
            "client",
            f"{describe(client, 60)} is not a dask scheduler address",
            "expected 'tcp://host:port' (e.g. 'tcp://127.0.0.1:8786', schemes tcp, tls, ws, wss), a "
            "dask.distributed Client, or None to run locally",
        )
    import socket

    seconds = float(CONNECT_TIMEOUT.rstrip("s"))
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=seconds):
            pass
    except OSError as exc:
        raise SimulationError(
            f"client: could not reach a dask scheduler at {client!r} within {CONNECT_TIMEOUT} "
            f"({exc.strerror or type(exc).__name__}); check the address, that `dask scheduler` runs there and the "
            "port is open, or pass client=None to run locally"
        ) from None
    if scheme in ("", "tcp"):
        _handshake(address if sep else f"tcp://{address}", client)


def _handshake(address: str, client: str) -> None:
    """Speak dask's handshake to ``address`` (something else may listen on the port): a SimulationError
    now, instead of a half-built Client that fails after the work and again at interpreter exit."""
    import asyncio

    async def probe() -> None:
        from distributed.comm import connect as comm_connect

        comm = await comm_connect(address, timeout=CONNECT_TIMEOUT)
        await comm.close()

    try:
        asyncio.get_running_loop()
        return  # inside a running event loop (a notebook): Client() itself reports the failure
    except RuntimeError:
        pass
    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001 - any failure of the probe means: no dask scheduler there
        raise SimulationError(
            f"client: {client!r} answers, but not as a dask scheduler ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:120]}); check the address and port (the scheduler's default is 8786), "
            "or pass client=None to run locally"
        ) from None


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            "client: running on a dask cluster needs dask.distributed, which is not installed; "
            "pip install 'volterra_sym[dask]' (or run locally with client=None)"
        ) from exc
    return distributed


@contextlib.contextmanager
def connect(client: Any) -> Iterator[Any]:
    """A usable Client: the given one, or a temporary one connected to a scheduler address (closed after)."""
    dist = _distributed()
    if isinstance(client, str):
        check_client(client)
        try:
            c = dist.Client(client, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError, MemoryError) as exc:
            raise SimulationError(
                f"client: could not reach a dask scheduler at {client!r} within {CONNECT_TIMEOUT} "
                f"({type(exc).__name__}: {exc}); check the address (e.g. 'tcp://host:8786'), that `dask scheduler` "
                "runs there and the port is open, or pass client=None to run locally"
            ) from None
        try:
            yield c
        finally:
            c.close()
        return
    check_instance(client, "client", dist.Client, _CLIENT)
    if client.status not in ("running", "connecting", "newly-created"):
        raise SimulationError(f"client: the dask Client is {client.status!r}; pass an open Client (or client=None)")
    yield client


def _workers(client: Any) -> int:
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # pragma: no cover - informational only
        return 1


def _call(blocks: Sequence[int], fn: Callable[..., Any], job: Any) -> Any:
    return fn(job, blocks)


def run_blocks(
    client: Any,
    fn: Callable[[Any, Sequence[int]], Any],
    job: Any,
    nblocks: int,
    per_chunk: int,
    fixed: bool,
    progress: bool | None,
    paths: int,
    desc: str,
) -> list[Any]:
    """Run ``fn(job, blocks)`` for consecutive chunks of the blocks 0..nblocks-1; results in block order.

    per_chunk : the largest chunk (in blocks) the memory bound allows, or the user's ``chunk``
    (``fixed``).  Unless fixed, chunks are made smaller so that every worker gets at least
    TASKS_PER_WORKER tasks and no task exceeds TASK_BLOCKS blocks.
    progress : as for the local runs (a bar over completed paths).
    """
    from .blocks import BLOCK, ProgressBar

    dist = _distributed()
    with connect(client) as c:
        if not fixed:
            per_chunk = max(1, min(per_chunk, TASK_BLOCKS, -(-nblocks // (TASKS_PER_WORKER * _workers(c)))))
        chunks = [tuple(range(b0, min(nblocks, b0 + per_chunk))) for b0 in range(0, nblocks, per_chunk)]
        sizes = [sum(min(BLOCK, paths - b * BLOCK) for b in ch) for ch in chunks]
        try:
            job_future = c.scatter(job, broadcast=True, hash=False)
        except Exception as exc:
            raise SimulationError(
                f"client: could not send the simulation to the dask workers ({type(exc).__name__}: {exc})"
            ) from exc
        futures = c.map(_call, chunks, fn=fn, job=job_future, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        prog = ProgressBar(progress, paths, 1, desc)
        try:
            for fut in dist.as_completed(futures):
                i = index[fut.key]
                if fut.status != "finished":
                    failure: Any
                    try:
                        failure = fut.exception()
                    except BaseException as err:  # cancelled futures raise here
                        failure = err
                    first, last = chunks[i][0] * BLOCK, min(paths, (chunks[i][-1] + 1) * BLOCK) - 1
                    raise SimulationError(
                        f"client: the dask task for paths {first}..{last} failed ({type(failure).__name__}: "
                        f"{failure}); the run was abandoned and no partial result is returned"
                    ) from (failure if isinstance(failure, BaseException) else None)
                results[i] = fut.result()
                prog.update(sizes[i])
        finally:
            prog.close()
            c.cancel([f for f in futures if not f.done()])
            del job_future
    return results
