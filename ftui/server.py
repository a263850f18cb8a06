"""Command line entry point: `python launch.py [--host --port --runs-dir --auth-file ...]`.

Builds one Services (run store, job manager, catalog), builds the Gradio app around it and serves
it until Ctrl-C. `serve` is also what the API and browser tests call, so they run the app exactly
as a user does.
"""
from __future__ import annotations

import argparse
import html
import os
import socket
import sys
import time
from ftui.messages import count
from ftui.vocab import APP_TITLE
from pathlib import Path

# Before gradio is imported anywhere: its analytics thread would otherwise try to reach the
# internet at start-up (slow or failing on offline machines).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# transformers' load reports ("classifier.weight MISSING ... newly initialized") are expected for a
# fresh head and only alarm people reading the console; real errors still surface.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

IMPORTED_AT = time.perf_counter()
ASSETS = Path(__file__).resolve().parents[1] / "assets"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ftui", description="ftui: a browser-based fine-tuning studio.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 = all interfaces; then use --auth-file)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--runs-dir", default="./runs", help="where runs and uploads are kept (default ./runs)")
    parser.add_argument("--max-upload-mb", type=float, default=50, help="largest accepted upload in MB (default 50)")
    parser.add_argument("--max-concurrent-runs", type=int, default=1,
                        help="runs that train at the same time; the rest wait in a queue (default 1)")
    parser.add_argument("--auth-file", help='file of "user:password" lines; turns on sign-in, one runs folder per user')
    parser.add_argument("--contact", default="",
                        help="who to ask for an account, shown on the sign-in page (e.g. 'Ann, ann@example.org')")
    parser.add_argument("--allow-local-models", action=argparse.BooleanOptionalAction, default=None,
                        help="let users train from model folders on this machine (default: on without "
                             "--auth-file, off with it, so signed-in users cannot name host folders)")
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        parser.error("--max-upload-mb must be above 0")
    if args.max_concurrent_runs < 1:
        parser.error("--max-concurrent-runs must be at least 1")
    if args.auth_file:
        try:
            args.auth = read_auth_file(Path(args.auth_file))
        except (OSError, ValueError) as err:
            parser.error(f"--auth-file: {err}")
    else:
        args.auth = None
    if args.allow_local_models is None:
        args.allow_local_models = not args.auth
    return args


def read_auth_file(path: Path) -> list[tuple[str, str]]:
    """(user, password) pairs from "user:password" lines; blank lines and # comments are skipped."""
    from ftui.runs.store import OWNER  # user names become folder names: the store's rule applies

    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ValueError(f'line {number} is not "user:password"')
        if not OWNER.match(user):
            raise ValueError(f"line {number}: user names may use letters, digits and . _ @ - only")
        pairs.append((user, password))
    if not pairs:
        raise ValueError("no users in the file")
    return pairs


def sign_in_message(contact: str = "") -> str:
    """The sign-in page names the studio and says who gives accounts (Gradio shows it as HTML)."""
    who = html.escape(contact) if contact else "the person who runs this studio"
    return (f"<h2>{html.escape(APP_TITLE)}</h2><p>Sign in with the account you were given: your runs, uploads and "
            f"models are yours alone here. No account yet? Ask {who}.</p>")


def serve(services, *, host: str = "127.0.0.1", port: int = 7860, auth=None, max_upload_mb: float = 50,
          prevent_thread_lock: bool = False, contact: str = ""):
    """Build the app around `services` and start serving; returns the Blocks (already running)."""
    from ftui.ui.page import build_app

    demo = build_app(services)
    css_file = ASSETS / "style.css"
    demo.launch(server_name=host, server_port=port, auth=auth, auth_message=sign_in_message(contact) if auth else None,
                max_file_size=int(max_upload_mb * 1024 * 1024),
                css=css_file.read_text(encoding="utf-8") if css_file.is_file() else None,
                show_error=True, ssr_mode=False, quiet=True, prevent_thread_lock=True)
    if not prevent_thread_lock:
        demo.block_thread()
    return demo


def display_url(host: str, port: int) -> str:
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    """Parse arguments, build Services, serve until Ctrl-C. `started`: perf_counter() at process start."""
    started = started if started is not None else IMPORTED_AT
    args = parse_args(argv)
    from ftui.services import Services

    services = Services(Path(args.runs_dir), max_upload_mb=args.max_upload_mb,
                        max_concurrent_runs=args.max_concurrent_runs, allow_local_models=args.allow_local_models)
    if services.interrupted:
        print(f"ftui: {count(len(services.interrupted), 'run')} active when the app last stopped; "
              "they are marked 'interrupted'.")
    if args.host not in LOOPBACK and not args.auth:
        print("ftui: warning: listening beyond this machine without --auth-file; anyone who can reach "
              "the port can train models and read your runs.", file=sys.stderr)
    services.warm_up()  # before the port answers: a run pressed at once must find the warm-up under way
    try:
        demo = serve(services, host=args.host, port=args.port, auth=args.auth, max_upload_mb=args.max_upload_mb,
                     prevent_thread_lock=True, contact=args.contact)
    except OSError as err:
        services.close()
        print(f"ftui: could not listen on {args.host}:{args.port} ({err}); try another --port.", file=sys.stderr)
        return 1
    print(f"ftui is ready: open {display_url(args.host, args.port)} "
          f"(started in {time.perf_counter() - started:.1f} s; runs in {services.store.root}"
          f"{'; sign-in on' if args.auth else ''}). Ctrl-C stops it.", flush=True)
    try:
        demo.block_thread()
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
