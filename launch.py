"""Start ftui: `python launch.py [--host 127.0.0.1] [--port 7860] [--runs-dir ./runs] [--auth-file users.txt]`.

See `python launch.py --help`. Everything happens in ftui.server.main.
"""
import sys
import time

STARTED = time.perf_counter()  # before the heavy imports, so the printed start-up time is honest

if __name__ == "__main__":
    from ftui.server import main

    sys.exit(main(sys.argv[1:], started=STARTED))
