"""The Dask client a job runs on: an embedded LocalCluster, or an existing cluster named by its scheduler address.

The job submits plain functions of this package (population.partitioning.route_source,
population.scoring.score_partition) with file paths, so the same job runs on a laptop, on Kubernetes or on an HPC
cluster (dask-jobqueue) unchanged, provided every worker has this package installed and sees INPUT and --out at
the same paths (a shared filesystem).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from distributed import Client, LocalCluster

# How long to try an existing scheduler before giving up (distributed's default is 30 s of silent retries).
SCHEDULER_CONNECT_S = 10.0


class SchedulerUnreachable(RuntimeError):
    """The --scheduler address did not answer."""


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int = 2, processes: bool = True) -> Iterator[Client]:
    """A client on ``scheduler`` (tcp://HOST:PORT) when given, else on a LocalCluster of ``workers`` worker
    processes with one thread each (the engines are pure Python: threads would share one GIL)."""
    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_CONNECT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(f"cannot connect to the Dask scheduler at {scheduler} within "
                                       f"{SCHEDULER_CONNECT_S:g} s ({type(exc).__name__}); check the address and that "
                                       "the scheduler is running") from None
        with client:
            yield client
        return
    # The scheduler serves HTTP (health, metrics) even without a dashboard, on 8787 unless told otherwise: a free
    # port on the loopback interface lets several jobs (or a job next to a notebook's cluster) run side by side.
    network = {"host": "127.0.0.1"} if processes else {}  # threads talk in-process, without an address
    with LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=processes, dashboard_address=":0",
                      silence_logs=logging.ERROR, **network) as cluster, Client(cluster) as client:
        yield client


def worker_count(client: Client) -> int:
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
