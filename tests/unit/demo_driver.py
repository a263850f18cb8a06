"""Drive an unzipped demo bundle as its user would: start `app.py` in a process where ftui cannot be
imported, ask it through gradio_client, print one JSON line with what it answered.

    python demo_driver.py <bundle folder> '{"inputs": [...], "files": true|false}'

Used by tests/unit/test_export_demo.py (possibly inside `unshare -rn`: loopback only, no network)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Runs in the app's process: an import hook refuses ftui (an editable install puts it on every path,
# `python -I` included), says whether `import ftui` failed, then runs app.py as `python app.py` would.
WITHOUT_FTUI = """
import importlib.abc, runpy, sys
class NoFtui(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ftui" or name.startswith("ftui."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoFtui())
try:
    import ftui
except ModuleNotFoundError:
    print("FTUI-NOT-IMPORTABLE", flush=True)
else:
    print("FTUI-IMPORTABLE", flush=True)
sys.argv = ["app.py"]
runpy.run_path("app.py", run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def network() -> bool:
    try:  # PyPI's CDN by address: no DNS needed to tell
        socket.create_connection(("151.101.0.223", 443), timeout=3).close()
        return True
    except OSError:
        return False


def main() -> None:
    folder, request = Path(sys.argv[1]), json.loads(sys.argv[2])
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = open(folder.parent / "app.log", "w+")
    started = time.monotonic()
    app = subprocess.Popen([sys.executable, "-I", "-c", WITHOUT_FTUI], cwd=folder, env=env, stdout=log,
                           stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            if app.poll() is not None or time.monotonic() - started > 240:
                log.seek(0)
                sys.exit(f"the app did not start (exit {app.poll()}):\n{log.read()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        startup = time.monotonic() - started
        from gradio_client import Client, handle_file

        client = Client(url, verbose=False, download_files=False)
        probabilities, labels = [], []
        for item in request["inputs"]:
            value = handle_file(item) if request["files"] else item
            probabilities.append(client.predict(value, api_name="/probabilities"))
            labels.append(client.predict(value, api_name="/predict"))
        log.seek(0)
        text = log.read()
        print(json.dumps({"ftui_importable": "FTUI-NOT-IMPORTABLE" not in text, "network": network(),
                          "startup_s": round(startup, 1), "probabilities": probabilities, "labels": labels}))
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()


if __name__ == "__main__":
    main()
