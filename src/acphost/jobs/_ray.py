"""The Ray executor: each trial a Ray task, placed by the resources its agent needs.

A trial runs on whichever node Ray picks (CPUs, and custom resources such as
``agent:claude`` for the nodes that have that agent installed). Its workspace is materialised
there (a local folder travels as a tar archive through Ray's object store; a git source is
cloned on the node). The trial writes its conversation to a store on the node that ships
every write, as it happens, to a sink actor on the job process's node; the job process drains
the sink into the job's store. A node that dies has its trials retried elsewhere by Ray
(task ``max_retries``); the conversation it was running stays in the store, named in the
trial's ``previous``.

Ray is an optional extra (``pip install 'acphost[ray]'``), imported only by this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import tempfile
import threading
import time
import uuid
from dataclasses import astuple
from pathlib import Path
from typing import Any

from acphost.errors import AcphostError, UsageError
from acphost.jobs._local import Executor
from acphost.jobs._schema import Job
from acphost.jobs._store import JobStore, TrialRecord
from acphost.jobs._trial import TrialSpec, run_trial
from acphost.jobs._workspace import pack
from acphost.store import ConversationRecord, EventRecord, SQLiteStore

__all__ = ["RayExecutor", "TrialLost"]

log = logging.getLogger("acphost.jobs")

_TAKE_WAIT = 0.5  # seconds a drain call waits in the sink for something to arrive


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError("the Ray executor needs Ray", hint="pip install 'acphost[ray]'") from None
    return ray


class TrialLost(AcphostError):
    """Ray could not run a trial to its end (its node died more often than allowed...)."""

    code = "trial_lost"
    retryable = True
    default_hint = "Ray gave up after its retries (nodes or workers died); see the cluster's logs"


class _EventSink:
    """The actor trials push their writes to; the job process takes them.

    An async actor may run calls out of order, so every item carries its try's stream id
    and a number; the job process puts each stream back in order (:meth:`RayExecutor._accept`).
    """

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.arrived = asyncio.Event()

    async def push(self, items: list[Any]) -> None:
        self.items.extend(items)
        self.arrived.set()

    async def take(self, wait: float) -> list[Any]:
        if not self.items:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), wait)
        items, self.items = self.items, []
        self.arrived.clear()
        return items


class _ShippingStore(SQLiteStore):
    """A node-local store that ships every write to the sink, in the order it was made."""

    def __init__(self, path: str, sink: Any, key: str) -> None:
        super().__init__(path)
        self.sink, self.key = sink, key
        self.stream = uuid.uuid4().hex  # this try of the cell (Ray may run it again)
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._last: Any = None

    def ship(self, *item: Any) -> None:
        with self._lock:
            number = next(self._numbers)
            self._last = self.sink.push.remote([(self.key, self.stream, number, *item)])

    def flush(self) -> None:
        if self._last is not None:
            _ray().get(self._last)

    def create_conversation(self, record: ConversationRecord) -> None:
        super().create_conversation(record)
        self.ship("create", astuple(record))

    def update_conversation(self, id: str, **changes: Any) -> None:
        super().update_conversation(id, **changes)
        self.ship("update", id, changes)

    def append(self, events: Any, *, update: Any = None) -> None:
        super().append(events, update=update)
        self.ship("append", [astuple(e) for e in events], dict(update) if update else None)


def _trial_on_node(
    job_json: str,
    cell: tuple[str, str, int],
    packed: bytes | None,
    previous: list[str],
    sink: Any,
    key: str,
) -> str:
    """The Ray task: run one trial on this node; its record as JSON."""
    ray = _ray()
    job = Job.model_validate_json(job_json)
    root = Path(tempfile.gettempdir()) / "acphost-ray-workspaces"
    # The trial's own store only serves its conversation; the job's store keeps the record.
    store = _ShippingStore(":memory:", sink, key)
    try:
        spec = TrialSpec(
            job=job,
            task_id=cell[0],
            agent=cell[1],
            attempt=cell[2],
            store=store,
            root=root,
            report=lambda record: store.ship("report", record.model_dump_json()),
            on_cost=lambda cost: store.ship("cost", cost),
            packed=packed,
            node=ray.get_runtime_context().get_node_id(),
            previous=previous,
        )
        record = asyncio.run(run_trial(spec))
        store.ship("done")
        store.flush()  # everything is in the sink before the task returns
    finally:
        store.close()
    return record.model_dump_json()


class RayExecutor(Executor):
    """Run each trial as a Ray task on a cluster.

    ``address``: ``None`` starts a Ray instance in this process (stopped at the end),
    ``"auto"`` joins the cluster this machine belongs to, else a cluster address. If Ray is
    already initialised in this process, that connection is used. ``max_retries``: how many
    times Ray re-runs a trial whose node or worker died.
    """

    def __init__(
        self,
        address: str | None = "auto",
        *,
        max_retries: int = 3,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.max_retries = max_retries
        self.init_options = dict(init_options or {})
        self._started_ray = False
        self._sink: Any = None
        self._remote: Any = None
        self._pump: asyncio.Task[None] | None = None
        self._specs: dict[str, TrialSpec] = {}
        self._done: dict[str, asyncio.Future[TrialRecord]] = {}
        self._seen: dict[str, list[str]] = {}
        self._last: dict[str, TrialRecord] = {}
        self._packed: dict[str, Any] = {}
        self._streams: dict[str, tuple[list[int], dict[int, tuple[Any, ...]]]] = {}
        self._store: JobStore | None = None
        self._job: Any = None

    async def start(self, job: Job, store: JobStore) -> None:
        ray = _ray()
        if not ray.is_initialized():
            options = {"log_to_driver": False, **self.init_options}
            try:
                ray.init(address=self.address, **options)  # on this thread: its signal handlers
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(
                    f"cannot reach Ray at {self.address or 'a new local instance'}: {exc}",
                    hint="start a cluster (ray start --head), or use --ray local",
                ) from exc
            self._started_ray = True
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        self._sink = (
            ray.remote(_EventSink)
            .options(
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
            )
            .remote()
        )
        self._remote = ray.remote(_trial_on_node)
        self._job = ray.put(job.model_dump_json())  # once, not with every trial
        self._store = store
        self._pump = asyncio.ensure_future(self._drain())

    async def run(self, spec: TrialSpec) -> TrialRecord:
        ray = _ray()
        config, key = spec.config, "/".join(map(str, (spec.task_id, spec.agent, spec.attempt)))
        if spec.task_id not in self._packed:
            packed = await asyncio.to_thread(pack, spec.task.workspace)
            self._packed[spec.task_id] = ray.put(packed)
        self._specs[key] = spec
        done: asyncio.Future[TrialRecord] = asyncio.get_running_loop().create_future()
        self._done[key] = done
        ref = self._remote.options(
            num_cpus=config.cpus,
            resources=config.resources or None,
            max_retries=self.max_retries,
            retry_exceptions=False,
        ).remote(
            self._job,
            (spec.task_id, spec.agent, spec.attempt),
            self._packed[spec.task_id],
            spec.previous,
            self._sink,
            key,
        )
        try:
            try:
                await ref
            except asyncio.CancelledError:
                ray.cancel(ref, force=True)
                raise
            except Exception as exc:  # Ray's errors: the task could not finish anywhere
                return self._lost(spec, key, exc)
            return await done
        except asyncio.CancelledError:
            last = self._last.get(key)
            if last is not None and not last.finished:
                last.outcome = "cancelled"
                spec.report(last)
            raise
        finally:
            for table in (self._specs, self._done, self._last, self._seen):
                table.pop(key, None)

    def _lost(self, spec: TrialSpec, key: str, exc: Exception) -> TrialRecord:
        record = self._last.get(key) or TrialRecord(
            job_id=spec.job.name, task_id=spec.task_id, agent=spec.agent, attempt=spec.attempt
        )
        record.outcome, record.ended_at = "error", time.time()
        record.error = TrialLost(f"Ray could not run the trial: {exc}").to_dict()
        spec.report(record)
        return record

    async def _drain(self) -> None:
        """Apply what trials pushed, in order, until the executor closes."""
        while True:
            for item in await self._sink.take.remote(_TAKE_WAIT):
                self._accept(item)

    def _accept(self, item: tuple[Any, ...]) -> None:
        """Apply a stream's items in the order they were made."""
        key, stream, number, *rest = item
        following, waiting = self._streams.setdefault(stream, ([0], {}))
        waiting[number] = (key, *rest)
        while following[0] in waiting:
            ready = waiting.pop(following[0])
            following[0] += 1
            try:
                self._apply(ready)
            except Exception:  # one bad write must not stop the others' events
                log.exception("a write shipped by trial %s could not be applied", key)
            if ready[1] == "done":
                del self._streams[stream]

    def _apply(self, item: tuple[Any, ...]) -> None:
        assert self._store is not None
        key, what, *args = item
        events = self._store.events
        if what == "create":
            events.create_conversation(ConversationRecord(*args[0]))
        elif what == "append":
            events.append([EventRecord(*row) for row in args[0]], update=args[1])
        elif what == "update":
            events.update_conversation(args[0], **args[1])
        spec = self._specs.get(key)
        if spec is None:
            return
        if what == "cost":
            spec.on_cost(args[0])
        elif what == "report":
            self._report(spec, key, TrialRecord.model_validate_json(args[0]))
        elif what == "done" and key in self._last and key in self._done:
            self._done[key].set_result(self._last[key])

    def _report(self, spec: TrialSpec, key: str, record: TrialRecord) -> None:
        # A try Ray re-ran after its node died left a conversation: name it in ``previous``.
        seen = self._seen.setdefault(key, [])
        if record.conversation_id and record.conversation_id not in seen:
            seen.append(record.conversation_id)
        lost = [c for c in seen if c != record.conversation_id and c not in record.previous]
        record.previous = [*record.previous, *lost]
        self._last[key] = record
        spec.report(record)

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump
        if self._sink is not None:
            _ray().kill(self._sink)
            self._sink = None
        if self._started_ray:
            await asyncio.to_thread(_ray().shutdown)
            self._started_ray = False
