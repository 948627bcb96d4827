"""Dynamic batching for the HTTP server: concurrent requests for one signature share one call.

Requests for the same model and signature with equal scalar inputs (beam_size, max_length, ...)
wait in one queue. The queue's worker takes the oldest request and waits until the queue holds
`max_batch_size` rows or that request has waited `timeout_s`, then calls the model once, off the
event loop, on the concatenated rows and hands each request its own rows of the outputs. While
that call runs, new requests queue up, so under load a batch forms without waiting at all. A
request larger than `max_batch_size` runs alone and whole. A queue and its worker exist only while
requests wait, so distinct scalar values cannot pile up idle queues.

No web framework here: plain asyncio, driven by `nlp_lstm.serving.server`.
"""

import asyncio
import collections
import dataclasses


@dataclasses.dataclass
class _Waiting:
    call: object  # serving_signatures.Call
    future: asyncio.Future
    arrived: float  # loop.time()


class _Queue:
    def __init__(self):
        self.items = collections.deque()
        self.rows = 0
        self.full = None  # a future the worker awaits while the batch fills
        self.most = 0  # most rows per merged call of this queue


def _wake(future):
    if not future.done():
        future.set_result(None)


class Batcher:
    """Merges concurrent calls of one signature into one model call.

    Args:
        executor: concurrent.futures.Executor. Where the model calls run.
        max_batch_size: int. Most rows per merged call.
        timeout_s: float. How long the oldest waiting request waits for others to join it.
    """

    def __init__(self, executor, max_batch_size, timeout_s, max_concurrent_calls=1):
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_concurrent_calls)
        self._running = set()  # the calls in flight (the loop keeps only weak references)
        self._queues = {}
        self.calls = 0  # merged calls made, for the health endpoint

    async def submit(self, call):
        """The outputs (numpy arrays) of `call`'s rows, computed in a merged call."""
        loop = asyncio.get_running_loop()
        key = (id(call.signature), tuple(sorted(call.scalars.items())))
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
            # A merged call never holds more rows than one call of the export takes.
            queue.most = min(self.max_batch_size, call.signature.limits["max_batch_rows"])
            loop.create_task(self._work(key, queue))
        waiting = _Waiting(call, loop.create_future(), loop.time())
        queue.items.append(waiting)
        queue.rows += call.rows
        if queue.full is not None and queue.rows >= queue.most:
            _wake(queue.full)
        return await waiting.future

    def _take(self, queue):
        """The oldest requests, as many as fit into one call (at least one)."""
        batch, rows = [], 0
        while queue.items and (not batch or rows + queue.items[0].call.rows <= queue.most):
            waiting = queue.items.popleft()
            queue.rows -= waiting.call.rows
            if not waiting.future.done():  # a cancelled request leaves the queue unanswered
                batch.append(waiting)
                rows += waiting.call.rows
        return batch

    async def _work(self, key, queue):
        loop = asyncio.get_running_loop()
        try:
            while queue.items:
                # A batch forms while every model thread is busy, and then for at most
                # timeout_s after its oldest request arrived.
                await self._slots.acquire()
                try:
                    wait = queue.items[0].arrived + self.timeout_s - loop.time()
                    if queue.rows < queue.most and wait > 0:
                        queue.full = loop.create_future()
                        timer = loop.call_later(wait, _wake, queue.full)
                        await queue.full
                        timer.cancel()
                        queue.full = None
                    batch = self._take(queue)
                except BaseException:
                    self._slots.release()
                    raise
                if not batch:
                    self._slots.release()
                    continue
                task = loop.create_task(self._run(loop, batch))
                self._running.add(task)
                task.add_done_callback(self._done)
        finally:
            del self._queues[key]

    def _done(self, task):
        self._running.discard(task)
        self._slots.release()

    async def _run(self, loop, batch):
        first = batch[0].call
        signature = first.signature
        merged = {
            key: [row for waiting in batch for row in waiting.call.batched[key]]
            for key in signature.batched
        }
        self.calls += 1
        try:
            outputs = await loop.run_in_executor(
                self.executor, signature.call, merged, first.scalars
            )
            parts = signature.split(outputs, [waiting.call.rows for waiting in batch])
        except Exception as err:  # noqa: BLE001  (each request re-raises it and answers it)
            for waiting in batch:
                if not waiting.future.done():
                    waiting.future.set_exception(err)
            return
        for waiting, part in zip(batch, parts):
            if not waiting.future.done():
                waiting.future.set_result(part)
