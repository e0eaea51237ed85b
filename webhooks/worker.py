"""Run the queue's consumer: huey worker threads, a heartbeat, and recovery at start.

`hindsight worker` runs this in the foreground (huey handles SIGINT/SIGTERM: finish the current
delivery, then stop); `hindsight serve` runs it beside the development web server.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from huey.consumer import Consumer

from webhooks.queue import DeliveryQueue
from webhooks.workers import HEARTBEAT_SECONDS

log = logging.getLogger("hindsight.worker")


class Heartbeat(threading.Thread):
    """Writes this worker's heartbeat every few seconds: /readyz and recovery read it."""

    def __init__(self, queue: DeliveryQueue, interval: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(name="hindsight-heartbeat", daemon=True)
        self._workers = queue.processor.store.workers
        self._owner = queue.processor.owner
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._workers.heartbeat(self._owner)
            except Exception:  # a busy database must not kill the worker; try again soon
                log.warning("could not write the worker heartbeat", exc_info=True)
            self._stopped.wait(self._interval)

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._workers.retire(self._owner)
        except Exception:
            log.warning("could not retire the worker heartbeat", exc_info=True)


def build_consumer(queue: DeliveryQueue, workers: int) -> Consumer:
    # Poll the queue often when idle (max 0.5 s): a delivery should not wait 10 s for a worker.
    return queue.huey.create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=True,
        initial_delay=0.05,
        backoff=1.5,
        max_delay=0.5,
        check_worker_health=True,
    )


def run_worker(queue: DeliveryQueue, workers: int) -> None:
    """Process deliveries until SIGINT/SIGTERM (blocking; call from the main thread)."""
    heartbeat = Heartbeat(queue)
    heartbeat.start()
    queue.processor.store.workers.heartbeat(queue.processor.owner)
    recovered = queue.recover(at_start=True)
    log.info(
        "worker started",
        extra={
            "fields": {"owner": queue.processor.owner, "threads": workers, "requeued": recovered}
        },
    )
    try:
        build_consumer(queue, workers).run()
    finally:
        heartbeat.stop()
        log.info("worker stopped", extra={"fields": {"owner": queue.processor.owner}})


def run_service(app: Flask, queue: DeliveryQueue, host: str, port: int, threads: int) -> None:
    """Development server in a thread and workers in the main thread, in one process."""
    from werkzeug.serving import make_server

    server = make_server(host, port, app, threaded=True)
    web = threading.Thread(target=server.serve_forever, name="hindsight-web", daemon=True)
    web.start()
    log.info("listening", extra={"fields": {"url": f"http://{host}:{server.port}/webhooks/jira"}})
    try:
        run_worker(queue, threads)
    finally:
        server.shutdown()
