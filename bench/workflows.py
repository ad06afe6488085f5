"""A three-activity no-op workflow, start to completion, through our services against the bare temporalio SDK.

Our side is the production path: the worker is built like `build_worker` (every platform workflow and activity
registered, plus the bench's; sync activities on a thread pool of `temporal_worker`'s default 8 threads), reached
with `bizosaas.temporal.connect()`, and each workflow is started the way `apps.workflows.client.workflow_start`
starts one (it looks the workflow type up among the templates, so it cannot take the bench's): synchronously through
`client._call` (a fresh event loop and a fresh connection per start, as a web request does), with our workflow id
format and RPC timeout, from a pool of C threads standing in for C concurrent requests. Completion is awaited on
the worker's client. The baseline is a bare `Client.connect`, a bare `Worker` with only the bench workflow and
activities on its own task queue, and `client.start_workflow` from the same event loop.

Measured: start-to-completion latency p50/p99 and throughput for N workflows at concurrency C (interleaved rounds
so that drift affects both alike). Usage: `python bench/workflows.py [N] [C]` (defaults 300 and 10).

Self-contained: starts its own embedded Temporal dev server in a fresh folder and removes it at the end (the
activities touch no database, so PostgreSQL and Redis are not needed).

The workflow sandbox re-imports this module (as `__temporal_main__`) to run the workflow, so the module level
imports only temporalio and the standard library and everything else happens under the `__main__` guard.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

WORKFLOW = "bench.noop"
ACTIVITY_NAMES = ("bench.step_one", "bench.step_two", "bench.step_three")
ROUNDS = 2
WARMUP = 5


@activity.defn(name="bench.step_one")
def step_one(value: int) -> int:
    return value + 1


@activity.defn(name="bench.step_two")
def step_two(value: int) -> int:
    return value + 1


@activity.defn(name="bench.step_three")
def step_three(value: int) -> int:
    return value + 1


BENCH_ACTIVITIES = [step_one, step_two, step_three]


@workflow.defn(name=WORKFLOW)
class NoopWorkflow:
    @workflow.run
    async def run(self, value: int) -> int:
        for name in ACTIVITY_NAMES:
            value = await workflow.execute_activity(
                name, value, start_to_close_timeout=timedelta(seconds=30), result_type=int
            )
        return value


def main() -> int:
    import asyncio
    import shutil
    import statistics
    import sys
    import time
    import uuid
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import Progress, _ms, configure

    total = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    wall = time.monotonic()
    local_dir = configure()

    from bizosaas.infra import Infra

    temporal = Infra.from_env().temporal
    try:
        temporal.up()
        import django

        django.setup()
        from temporalio.client import Client
        from temporalio.worker import Worker

        from apps.workflows import client as services
        from apps.workflows.temporal.worker import ACTIVITIES, WORKFLOWS
        from bizosaas.temporal import connect

        def start_through_services(value: int) -> str:
            """What `workflow_start` does, for a workflow type it does not know: returns the workflow id."""
            workflow_id = services.new_workflow_id("bench", None)

            async def go(client: Client) -> str:
                await client.start_workflow(
                    WORKFLOW,
                    value,
                    id=workflow_id,
                    task_queue=ours_queue,
                    rpc_timeout=services.RPC_TIMEOUT,
                )
                return workflow_id

            return services._call(go)

        ours_queue, bare_queue = f"bench-ours-{uuid.uuid4().hex[:8]}", f"bench-bare-{uuid.uuid4().hex[:8]}"

        async def run() -> tuple[dict, dict]:
            ours_client = await connect()
            bare_client = await Client.connect(temporal.address)
            starters = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="request")
            loop = asyncio.get_running_loop()

            async def one_ours(value: int) -> int:
                started = time.perf_counter_ns()
                workflow_id = await loop.run_in_executor(starters, start_through_services, value)
                assert await ours_client.get_workflow_handle(workflow_id).result() == value + 3
                return time.perf_counter_ns() - started

            async def one_bare(value: int) -> int:
                started = time.perf_counter_ns()
                handle = await bare_client.start_workflow(
                    WORKFLOW, value, id=f"bench-{uuid.uuid4().hex}", task_queue=bare_queue
                )
                assert await handle.result() == value + 3
                return time.perf_counter_ns() - started

            async def batch(one, count: int, progress: Progress | None, done: list[int]) -> tuple[list[int], int]:
                gate = asyncio.Semaphore(concurrency)

                async def gated(value: int) -> int:
                    async with gate:
                        took = await one(value)
                        done[0] += 1
                        if progress is not None:
                            progress.update(done[0])
                        return took

                started = time.perf_counter_ns()
                samples = await asyncio.gather(*(gated(n) for n in range(count)))
                return list(samples), time.perf_counter_ns() - started

            results = {"ours": ([], 0), "bare": ([], 0)}
            with (
                ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity") as ours_pool,
                ThreadPoolExecutor(thread_name_prefix="bare-activity") as bare_pool,
            ):
                ours_worker = Worker(  # build_worker's options, plus the bench workflow and activities
                    ours_client,
                    task_queue=ours_queue,
                    workflows=[*WORKFLOWS, NoopWorkflow],
                    activities=[*ACTIVITIES, *BENCH_ACTIVITIES],
                    activity_executor=ours_pool,
                    max_concurrent_activities=ours_pool._max_workers,
                )
                bare_worker = Worker(
                    bare_client,
                    task_queue=bare_queue,
                    workflows=[NoopWorkflow],
                    activities=BENCH_ACTIVITIES,
                    activity_executor=bare_pool,
                )
                async with ours_worker, bare_worker:
                    await batch(one_ours, WARMUP, None, [0])  # warm both paths (sandbox, connections)
                    await batch(one_bare, WARMUP, None, [0])
                    progress = Progress(f"{total} workflows each way at concurrency {concurrency}", 2 * total)
                    done = [0]
                    per_round = [total // ROUNDS + (1 if r < total % ROUNDS else 0) for r in range(ROUNDS)]
                    for count in per_round:
                        for key, one in (("ours", one_ours), ("bare", one_bare)):
                            samples, took = await batch(one, count, progress, done)
                            results[key] = (results[key][0] + samples, results[key][1] + took)
                    progress.close()
            starters.shutdown()
            return results["ours"], results["bare"]

        (ours, ours_ns), (bare, bare_ns) = asyncio.run(run())

        def describe(label: str, samples: list[int], took: int) -> float:
            cuts = statistics.quantiles(samples, n=100)
            rate = len(samples) / (took / 1e9)
            print(f"{label}: {rate:,.1f} workflows/s; start -> completion p50 {_ms(cuts[49])}, p99 {_ms(cuts[98])}")
            return rate

        print(f"three-activity no-op workflow, {total} each way at concurrency {concurrency}:")
        ours_rate = describe("through our services", ours, ours_ns)
        bare_rate = describe("bare temporalio     ", bare, bare_ns)
        p50_ratio = statistics.median(ours) / statistics.median(bare)
        print(f"  -> throughput ratio {ours_rate / bare_rate:.2f} (ours / bare), p50 latency ratio {p50_ratio:.2f}")
        print(f"total wall time: {time.monotonic() - wall:.1f} s")
        return 0
    finally:
        temporal.down()
        shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    import sys

    sys.exit(main())
