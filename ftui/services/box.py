"""The box, for its admins: every slot and the run holding it (with the memory its process uses), the
queue in start order, and every user's active runs; an admin may stop any run. Anyone else is told
that this view is for admins (so a user cannot learn other users' run ids from it)."""
from __future__ import annotations

from ftui.errors import FtuiError
from ftui.runs.store import RunStore, read_status


class BoxActions:
    def __init__(self, store: RunStore, jobs, admins: frozenset[str] = frozenset()):
        self.store, self.jobs, self.admins = store, jobs, frozenset(admins)

    def is_admin(self, caller: str | None) -> bool:
        return bool(caller) and caller in self.admins

    def box_status(self, caller: str | None) -> dict:
        """{slots: [{slot, gpu, threads, run_id, owner, pid, memory_mb, gpu_memory_mb}], queue: [{position,
        owner, run_id}], active: [{owner, run_id, state, progress, eta_s}]}."""
        self._check(caller)
        from ftui.engine.local_backend import gpu_memory_by_pid, process_memory_mb

        gpu_memory, held = gpu_memory_by_pid(), self.jobs.held()
        slots = [{"slot": slot.label(), "gpu": slot.gpu, "threads": slot.threads,
                  "run_id": run_dir.name if run_dir else None, "owner": run_dir.parent.name if run_dir else None,
                  "pid": pid, "memory_mb": process_memory_mb(pid) if pid else None,
                  "gpu_memory_mb": gpu_memory.get(pid) if pid else None} for slot, run_dir, pid in held]
        places = self.jobs.queue_places()
        queue = [{"position": place["position"], "owner": run_dir.parent.name, "run_id": run_dir.name}
                 for run_dir, place in places.items()]
        # the job manager knows the active runs: only their status files are read, not every run's
        active = []
        for run_dir in [d for _, d, _ in held if d is not None] + list(places):
            status = read_status(run_dir)
            active.append({"owner": run_dir.parent.name, "run_id": run_dir.name, "state": status.get("state"),
                           "progress": status.get("progress"), "eta_s": status.get("eta_s")})
        return {"slots": slots, "queue": queue, "active": active}

    def stop_any_run(self, caller: str | None, owner: str, run_id: str) -> dict:
        """An admin stops (or takes out of the queue) any user's run; its owner keeps the model so far."""
        self._check(caller)
        run_dir = self.store.run_dir(owner, run_id)
        return {"owner": owner, "run_id": run_id, "stopping": self.jobs.cancel(run_dir)}

    def _check(self, caller: str | None) -> None:
        if not self.is_admin(caller):
            raise FtuiError("admin_only")
