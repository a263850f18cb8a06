"""A stand-in for `python -m ftui.worker RUN_DIR` that misbehaves on purpose (the job manager's fault tests).

    python fake_worker.py BEHAVIOUR RUN_DIR

finish      says "finished" after 0.3 s, as a good worker does
crash       exits 3 without a word about its run
traceback   dies of an exception outside any run code (Python prints the traceback, exit code 1)
exit137     exits 137, as a process the OOM killer ended appears to a shell
ignore_stop beats its heartbeat and ignores SIGTERM, for ever
grandchild  starts a grandchild that sleeps, then finishes (the grandchild is left behind)
hang        never beats its heartbeat and sleeps
sleep       beats and sleeps until SIGTERM, then says "stopped"
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

behaviour, run_dir = sys.argv[1], Path(sys.argv[2])
me = psutil.Process()


def write(name, data):
    tmp = run_dir / (name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, run_dir / name)


def set_state(state):
    status = json.loads((run_dir / "status.json").read_text())
    write("status.json", {**status, "state": state, "ended": time.time()})


if behaviour != "hang":
    write("worker.json", {"pid": me.pid, "create_time": me.create_time(), "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")})
(run_dir / "env.json").write_text(json.dumps({k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "FTUI_THREADS")}))
stop = []
signal.signal(signal.SIGTERM, (lambda *_: None) if behaviour == "ignore_stop" else (lambda *_: stop.append(1)))
if behaviour == "finish":
    time.sleep(0.3)
    set_state("finished")
elif behaviour == "crash":
    sys.exit(3)
elif behaviour == "traceback":
    raise RuntimeError("boom: the worker broke before its run started")
elif behaviour == "exit137":
    os._exit(137)
elif behaviour == "grandchild":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    (run_dir / "grandchild.pid").write_text(str(child.pid))
    set_state("finished")
elif behaviour in ("ignore_stop", "hang", "sleep"):
    while not stop:
        time.sleep(0.1)
        if behaviour != "hang":
            os.utime(run_dir / "worker.json")
    set_state("stopped")
