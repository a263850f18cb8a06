"""Sign-in for a shared box: hashed accounts file, plain text refused, back-off, checks off the event loop."""
from __future__ import annotations

import asyncio

import pytest

from ftui.auth import FREE_FAILURES, Account, Authenticator, Throttle, hash_password, read_accounts, write_accounts


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API (the browser tests) leaves an event loop
    running in the main thread, where asyncio.run refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_accounts_file_round_trips_with_hashes_and_admins(tmp_path):
    path = tmp_path / "auth.txt"
    write_accounts(path, {"ann": Account("ann", hash_password("pw-ann-123"), admin=True),
                          "bob": Account("bob", hash_password("pw-bob-123"))})
    text = path.read_text()
    assert "pw-ann" not in text and text.count("$argon2id$") == 2
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    accounts = read_accounts(path)
    assert accounts["ann"].admin and not accounts["bob"].admin


@pytest.mark.parametrize("line, words", [
    ("ann:hunter2", "plain-text password"),
    ("ann", 'not "name:hash"'),
    ("a/b:$argon2id$v=19$x", "user names"),
    ("ann:$argon2id$v=19$x:root", 'only role after the hash is "admin"'),
])
def test_a_bad_line_refuses_with_a_sentence(tmp_path, line, words):
    path = tmp_path / "auth.txt"
    path.write_text(line + "\n")
    with pytest.raises(ValueError, match=words):
        read_accounts(path)


def test_throttle_locks_a_key_longer_after_each_failure_and_a_success_clears_it():
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    keys = ["name:ann", "address:10.0.0.1"]
    for _ in range(FREE_FAILURES):
        throttle.failed(keys)
        assert throttle.wait_s(keys) == 0  # the first few mistakes cost nothing
    throttle.failed(keys)
    assert throttle.wait_s(keys) == pytest.approx(2.0)
    throttle.failed(keys)
    assert throttle.wait_s(keys) == pytest.approx(4.0)
    assert throttle.wait_s(["name:bob", "address:10.0.0.2"]) == 0  # others are not slowed
    assert throttle.wait_s(["name:bob", "address:10.0.0.1"]) > 0  # the same address trying another name is
    now[0] += 5
    assert throttle.wait_s(keys) == 0
    throttle.succeeded(keys)
    throttle.failed(keys)
    assert throttle.wait_s(keys) == 0


def test_guessing_is_refused_while_locked_even_with_the_right_password():
    auth = Authenticator({"ann": Account("ann", hash_password("right-password"))})

    async def tries():
        wrong = [await auth.check("ann", f"guess-{i}") for i in range(FREE_FAILURES + 1)]
        return wrong, await auth.check("ann", "right-password"), await auth.check("nobody", "right-password")

    wrong, right_while_locked, unknown = run_async(tries())
    assert not any(wrong) and not right_while_locked and not unknown
    auth.throttle.succeeded(["name:ann", "address:?"])
    assert run_async(auth.check("ann", "right-password"))


def test_the_hash_is_checked_off_the_event_loop(monkeypatch):
    """The hash takes tens of ms of CPU on purpose: computed on the loop's thread, it would stall every
    other user's requests for as long."""
    import threading

    import ftui.auth

    threads, real = [], ftui.auth._verify
    monkeypatch.setattr(ftui.auth, "_verify", lambda *a: threads.append(threading.get_ident()) or real(*a))
    auth = Authenticator({"ann": Account("ann", hash_password("right-password"))})

    async def check():
        return threading.get_ident(), await auth.check("ann", "right-password")

    loop_thread, ok = run_async(check())
    assert ok and threads and threads[0] != loop_thread
