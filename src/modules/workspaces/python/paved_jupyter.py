"""Paved's kernel manager for a workspace's Jupyter server (Jupyter Notebook 6).

Loaded through jupyter_paved_config.py (`--config=`).

Stopping: kernels run in sessions of their own (Jupyter starts them with setsid), so stopping the
server's process group does not reach them, and Jupyter shuts them down itself, one after another,
each answering a shutdown request first (about half a second apiece, up to shutdown_wait_time for a
busy one): a workspace with a dozen kernels outlived the executor's grace period and was killed, its
kernels left to notice on their own. When the server stops, the kernels' state goes with it either
way, so they are killed at once instead.

A spare kernel: a warm pool's server keeps the kernel that answered its readiness probe, its id in
the file PAVED_SPARE_KERNEL_FILE names. The first notebook (or console) opened at the home's root
asking for the default kernel gets that kernel instead of waiting for a new one to start.
"""

import os

from notebook.services.kernels.kernelmanager import MappingKernelManager
from tornado.ioloop import PeriodicCallback

# How often a kernel's activity stream is drained by hand (see start_watching_activity), in ms.
ACTIVITY_DRAIN_MS = 2000


class PavedKernelManager(MappingKernelManager):
    def start_watching_activity(self, kernel_id):
        """Jupyter's watcher of a kernel's IOPub messages (its execution_state and last_activity) is a
        ZMQStream, woken by ZeroMQ's notification descriptor, which is edge-triggered: a message that
        arrives between the socket's connect and the stream's registration (the kernel's first
        "starting" status, often) consumes the edge, and the stream then hears nothing more, ever. The
        kernel reads "starting" for good, though it runs cells, and Paved's idle culling cannot tell
        it from a busy one. Draining the stream every two seconds cleared it in repeated runs, though
        not in every run of the full suite: the cause may be another, so the controller also stops
        counting "starting" as use after 30 seconds."""
        super().start_watching_activity(kernel_id)
        stream = self._kernels[kernel_id]._activity_stream

        def drain():
            if stream.closed():
                timer.stop()
            else:
                stream.flush()

        timer = PeriodicCallback(drain, ACTIVITY_DRAIN_MS)
        timer.start()

    def shutdown_all(self, now=False):
        return super().shutdown_all(now=True)

    def _take_spare(self, path):
        spare_file = os.environ.get("PAVED_SPARE_KERNEL_FILE", "")
        # `path` is the folder the kernel is for (a notebook's); the spare kernel's is the root.
        if not spare_file or (path or "").strip("/"):
            return None
        try:
            with open(spare_file) as f:
                kernel_id = f.read().strip()
            os.remove(spare_file)
        except OSError:
            return None
        return kernel_id if kernel_id in self else None

    async def start_kernel(self, kernel_id=None, path=None, **kwargs):
        if kernel_id is None and kwargs.get("kernel_name", self.default_kernel_name) in (None, self.default_kernel_name):
            spare = self._take_spare(path)
            if spare:
                self.log.info("Handing the warm pool's spare kernel %s to %s", spare, path or "a new session")
                kernel_id = spare
        return await super().start_kernel(kernel_id=kernel_id, path=path, **kwargs)
