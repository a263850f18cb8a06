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
from pathlib import Path

from ftui.messages import count
from ftui.vocab import APP_TITLE

# Before gradio is imported anywhere: its analytics thread would otherwise try to reach the
# internet at start-up (slow or failing on offline machines).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# transformers' load reports ("classifier.weight MISSING ... newly initialized") are expected for a
# fresh head and only alarm people reading the console; real errors still surface.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

IMPORTED_AT = time.perf_counter()
ASSETS = Path(__file__).resolve().parents[1] / "assets"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
UPLOADS_TEMP = ".gradio-uploads"  # inside the runs folder; not a user name (those never start with a dot)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ftui", description="ftui: a browser-based fine-tuning studio.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (0.0.0.0 = all interfaces; then use --auth-file)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument("--runs-dir", default="./runs", help="where runs and uploads are kept (default ./runs)")
    parser.add_argument("--max-upload-mb", type=float, default=50, help="largest accepted upload in MB (default 50)")
    parser.add_argument("--max-concurrent-runs", type=int, default=1,
                        help="on a box without GPUs: runs that train at the same time, sharing the cores; the "
                             "rest wait in a queue (default 1)")
    parser.add_argument("--gpus", default="auto",
                        help="GPUs runs may use: auto (every one nvidia-smi lists), none, or indexes like 0,1")
    parser.add_argument("--runs-per-gpu", type=int, default=1, help="runs that share one GPU (default 1)")
    parser.add_argument("--max-active-per-user", type=int, default=0,
                        help="runs one user may train at once (default 0: no cap beyond the slots)")
    parser.add_argument("--max-queued-per-user", type=int, default=0,
                        help="runs one user may have waiting in the queue (default 0: no cap)")
    parser.add_argument("--max-disk-gb-per-user", type=float, default=0,
                        help="disk one user's runs and uploads may take, in GB (default 0: no quota)")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where runs train: local worker processes (default), or jobs on a Ray cluster")
    parser.add_argument("--ray-address", help="the Ray dashboard's address for --backend ray, e.g. http://HEAD:8265")
    parser.add_argument("--ray-slots", type=int, default=1,
                        help="runs ftui keeps on the Ray cluster at once; the rest wait in ftui's fair queue")
    parser.add_argument("--ray-gpus-per-run", type=float, default=0, help="GPUs each Ray job asks for (default 0)")
    parser.add_argument("--ray-lost-after-s", type=float, default=60,
                        help="a Ray head that does not answer this long: its runs are interrupted (default 60)")
    parser.add_argument("--auto-resume", action="store_true",
                        help="resume runs that were interrupted by the last stop of the server, without a click")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write each run's curves as TensorBoard event files (RUN/tensorboard/; "
                             "view with tensorboard --logdir RUNS_DIR); needs pip install -e '.[tensorboard]'")
    parser.add_argument("--auth-file", help="accounts file (python -m ftui users add NAME writes it); turns on "
                                            "sign-in, one runs folder per user")
    parser.add_argument("--contact", default="",
                        help="who to ask for an account, shown on the sign-in page (e.g. 'Ann, ann@example.org')")
    parser.add_argument("--allow-local-models", action=argparse.BooleanOptionalAction, default=None,
                        help="let users train from model folders on this machine (default: on without "
                             "--auth-file, off with it, so signed-in users cannot name host folders)")
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        parser.error("--max-upload-mb must be above 0")
    for name in ("max_concurrent_runs", "runs_per_gpu"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_active_per_user", "max_queued_per_user", "max_disk_gb_per_user"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 (no limit) or more")
    from ftui.engine.local_backend import plan_slots

    if args.backend == "ray":
        if not args.ray_address:
            parser.error("--backend ray needs --ray-address http://HEAD:8265 (the Ray dashboard)")
        if args.ray_slots < 1:
            parser.error("--ray-slots must be at least 1")
        from ftui.engine.local_backend import Slot

        args.slots = [Slot(index=i, gpu=None, threads=0, place="Ray") for i in range(args.ray_slots)]
    else:
        try:
            args.slots = plan_slots(args.gpus, args.runs_per_gpu, args.max_concurrent_runs)
        except ValueError as err:
            parser.error(str(err))
    if args.auth_file:
        from ftui.auth import Authenticator, read_accounts

        try:
            accounts = read_accounts(Path(args.auth_file))
        except (OSError, ValueError) as err:
            parser.error(f"--auth-file: {err}")
        if not accounts:
            parser.error(f"--auth-file: no accounts in {args.auth_file}; add one with python -m ftui users add NAME")
        args.auth = Authenticator(accounts)
    else:
        args.auth = None
    if args.allow_local_models is None:
        args.allow_local_models = not args.auth
    return args


def sign_in_message(contact: str = "") -> str:
    """The sign-in page names the studio and says who gives accounts (Gradio shows it as HTML)."""
    who = html.escape(contact) if contact else "the person who runs this studio"
    return (f"<h2>{html.escape(APP_TITLE)}</h2><p>Sign in with the account you were given: your runs, uploads and "
            f"models are yours alone here. No account yet? Ask {who}.</p>")


def serve(services, *, host: str = "127.0.0.1", port: int = 7860, auth=None, max_upload_mb: float = 50,
          prevent_thread_lock: bool = False, contact: str = ""):
    """Build the app around `services` and start serving; returns the Blocks (already running)."""
    from starlette.middleware import Middleware

    from ftui.auth import Account, Authenticator, ClientAddress, hash_password
    from ftui.ui.lang import I18N, LOAD_JS
    from ftui.ui.page import build_app
    from ftui.ui.share_page import add_share_routes

    demo = build_app(services)
    css_file = ASSETS / "style.css"
    if auth is not None and not isinstance(auth, Authenticator):  # [(name, password[, "admin"]), ...]: tests
        auth = Authenticator({name: Account(name, hash_password(password), "admin" in rest)
                              for name, password, *rest in auth})
    if auth is not None:
        services.box.admins = frozenset(name for name, account in auth.accounts.items() if account.admin)
    demo.launch(server_name=host, server_port=port, auth=auth.check if auth else None,
                auth_message=sign_in_message(contact) if auth else None,
                app_kwargs={"middleware": [Middleware(ClientAddress)]},
                max_file_size=int(max_upload_mb * 1024 * 1024),
                css=css_file.read_text(encoding="utf-8") if css_file.is_file() else None,
                show_error=True, ssr_mode=False, quiet=True, prevent_thread_lock=True,
                i18n=I18N, js=LOAD_JS)  # English / 简体中文: ftui/ui/lang.py
    add_share_routes(demo.app, services)  # outside Gradio's sign-in: a shared link needs no account
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
    # Gradio keeps raw uploads in GRADIO_TEMP_DIR, by default one folder for every app on the host, which any
    # of them serves: this instance's goes under its own runs folder (read by gradio at import, hence here).
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(args.runs_dir).resolve() / UPLOADS_TEMP))
    if args.tensorboard:  # before any worker starts: they inherit the switch (engine/tensorboard_sink.py)
        from ftui.engine.tensorboard_sink import enable_tensorboard
        from ftui.errors import FtuiError
        from ftui.messages import describe

        try:
            enable_tensorboard()
        except FtuiError as err:
            print(f"ftui: {describe(err.code, err.detail)}", file=sys.stderr)
            return 1
    from ftui.services import Services

    backend = None
    if args.backend == "ray":
        from ftui.engine.ray_backend import RayBackend

        try:
            backend = RayBackend(args.ray_address, gpus_per_run=args.ray_gpus_per_run,
                                 lost_after_s=args.ray_lost_after_s)
            backend.check_shared_storage(Path(args.runs_dir).resolve())
        except ImportError:
            print("ftui: --backend ray needs Ray: pip install -e '.[ray]'", file=sys.stderr)
            return 1
        except (RuntimeError, OSError, ConnectionError) as err:
            print(f"ftui: cannot use the Ray cluster: {err}", file=sys.stderr)
            return 1
    services = Services(Path(args.runs_dir), max_upload_mb=args.max_upload_mb, slots=args.slots, backend=backend,
                        allow_local_models=args.allow_local_models, max_disk_gb_per_user=args.max_disk_gb_per_user,
                        max_active_per_user=args.max_active_per_user, max_queued_per_user=args.max_queued_per_user)
    if services.interrupted:
        resumed = services.resume_interrupted() if args.auto_resume else []
        print(f"ftui: {count(len(services.interrupted), 'run')} lost its training process when the app last "
              f"stopped: {'resumed' if resumed else 'marked interrupted (resume them on the Runs tab)'}.")
    where = ", ".join(slot.label() for slot in args.slots)
    print(f"ftui: training slots: {where}.")
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
