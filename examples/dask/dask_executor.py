"""oxloop's event loop driving work on a dask.distributed cluster.

`Client.get_executor()` is a `concurrent.futures.Executor`, so
`loop.run_in_executor` on an oxloop loop sends calls to the cluster's
workers and awaits them like any other executor. The cluster here is a
`LocalCluster` started by the program (`pip install distributed`).
It lives outside `examples/*.py`, which are plain asyncio programs that must
run without extra packages.
"""

import asyncio

import oxloop
from distributed import Client, LocalCluster


def square(x: int) -> int:
    return x * x


async def main(executor) -> list[int]:
    loop = asyncio.get_running_loop()
    first = await loop.run_in_executor(executor, square, 12)
    rest = await asyncio.gather(*(loop.run_in_executor(executor, square, i) for i in range(10)))
    assert type(loop).__module__.startswith("oxloop")
    return [first, *rest]


if __name__ == "__main__":
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        print(oxloop.run(main(client.get_executor())))
