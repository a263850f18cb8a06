"""`python -m ftui serve [options]` starts the studio (as launch.py does);
`python -m ftui users add|remove|list` keeps the accounts file of a shared box;
`python -m ftui train|runs|status|stop|predict|evaluate|export ...` is the command line on the same runs
(ftui/cli; `ftui --help`).

    python -m ftui users add ann [--admin] [--auth-file auth.txt]   # asks for the password twice
    python -m ftui users remove ann
    python -m ftui users list

The password is read from the terminal without echo; when stdin is not a terminal (a script), its first
line is the password.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

DEFAULT_AUTH_FILE = "auth.txt"


def users(argv: list[str]) -> int:
    from ftui.auth import Account, hash_password, read_accounts, write_accounts
    from ftui.runs.store import OWNER

    parser = argparse.ArgumentParser(prog="python -m ftui users", description="Accounts of a shared ftui box.")
    parser.add_argument("action", choices=("add", "remove", "list"))
    parser.add_argument("name", nargs="?")
    parser.add_argument("--admin", action="store_true", help="the account sees every user's runs and the box")
    parser.add_argument("--auth-file", default=DEFAULT_AUTH_FILE, help=f"the accounts file (default {DEFAULT_AUTH_FILE})")
    args = parser.parse_args(argv)
    path = Path(args.auth_file)
    try:
        accounts = read_accounts(path) if path.is_file() else {}
    except ValueError:
        accounts = _hash_plain_lines(path, parser)  # the way out the start-up refusal points to
    if args.action == "list":
        for account in accounts.values():
            print(account.name + (" (admin)" if account.admin else ""))
        return 0
    if not args.name or not OWNER.match(args.name):
        parser.error("give a user name of letters, digits and . _ @ - (at most 64)")
    if args.action == "remove":
        if accounts.pop(args.name, None) is None:
            parser.error(f"no user {args.name} in {path}")
        write_accounts(path, accounts)
        print(f"removed {args.name} from {path}")
        return 0
    password = _ask_password()
    if len(password) < 8:
        parser.error("a password needs at least 8 characters")
    accounts[args.name] = Account(args.name, hash_password(password), args.admin)
    write_accounts(path, accounts)
    print(f"{args.name}{' (admin)' if args.admin else ''} can sign in; start with --auth-file {path}")
    return 0


def _ask_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        sys.exit("the two passwords differ; nothing was changed")
    return first


def _hash_plain_lines(path: Path, parser: argparse.ArgumentParser) -> dict:
    """An older file with plain-text `name:password` lines: each is replaced by its hash, in place."""
    from ftui.auth import HASH_PREFIX, Account, hash_password, read_accounts, write_accounts

    accounts = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        if rest.startswith(HASH_PREFIX):
            password_hash, _, role = rest.partition(":")
            accounts[name] = Account(name, password_hash, role == "admin")
        elif name and rest:
            accounts[name] = Account(name, hash_password(rest))
            print(f"{name}: the plain-text password is now stored as a hash", file=sys.stderr)
    write_accounts(path, accounts)
    try:
        return read_accounts(path)
    except ValueError as err:
        parser.error(str(err))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else ""
    if command == "users":
        return users(argv[1:])
    if command == "serve":
        from ftui.server import main as serve

        return serve(argv[1:])
    from ftui.cli.main import main as command_line  # no gradio on this path

    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main())
