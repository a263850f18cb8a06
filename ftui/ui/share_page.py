"""The routes of shared links, outside Gradio's sign-in: /share/<token> (the page), /share/<token>/live (its
refreshing part) and POST /share/<token>/predict (only when the owner allowed it).

An unknown, expired or withdrawn token answers 404, as any other path would. Every answer says
`Referrer-Policy: no-referrer` (the token must not leak to a site the page links to, and it links to
none), `X-Robots-Tag: noindex` and `Cache-Control: no-store`. Every answer speaks the visitor's language,
read from each request as the studio reads it (ftui.ui.lang.lang_of), so the live part follows the page.
"""
from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ftui.errors import FtuiError
from ftui.i18n import LANGS, best_lang
from ftui.messages import describe
from ftui.runs.store import safe_filename
from ftui.ui import render_share

HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store",
           "X-Content-Type-Options": "nosniff"}
COOKIE = "ftui_lang"  # the page switch's cookie (ftui/ui/lang.py, which imports gradio: this module does not)


def visitor_lang(request: Request) -> str:
    """The visitor's language, as ftui.ui.lang.lang_of picks it: the switch's cookie, else Accept-Language."""
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGS else best_lang(request.headers.get("accept-language"))


def add_share_routes(app: FastAPI, services) -> None:
    sharing = services.sharing

    async def view(token: str, since: int = 0) -> dict | None:
        try:
            return await asyncio.to_thread(sharing.shared_view, token, since)
        except FtuiError:
            return None

    async def page(token: str, request: Request) -> Response:
        shown, lang = await view(token), visitor_lang(request)
        if shown is None:
            return HTMLResponse(render_share.gone_html(lang), status_code=404, headers=HEADERS)
        return HTMLResponse(render_share.page_html(shown, token, lang), headers=HEADERS)

    async def live(token: str, request: Request) -> Response:
        shown = await view(token)
        if shown is None:
            return HTMLResponse("", status_code=404, headers=HEADERS)
        return HTMLResponse(render_share.live_html(shown, visitor_lang(request)), headers=HEADERS)

    async def predict(token: str, request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=2)
        text, upload = form.get("input"), form.get("file")
        try:
            if isinstance(text, str):
                answer = await asyncio.to_thread(sharing.shared_predict, token, text)
            elif upload is not None and hasattr(upload, "read"):
                answer = await _predict_file(sharing, token, upload, services.max_upload_bytes)
            else:
                raise FtuiError("empty_input")
        except FtuiError as err:
            status = 404 if err.code == "unknown_run" else 400
            return JSONResponse({"error": describe(err.code, err.detail, visitor_lang(request))}, status_code=status,
                                headers=HEADERS)
        return JSONResponse(answer, headers=HEADERS)

    app.add_api_route("/share/{token}", page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/share/{token}/live", live, methods=["GET"], include_in_schema=False)
    app.add_api_route("/share/{token}/predict", predict, methods=["POST"], include_in_schema=False)


async def _predict_file(sharing, token: str, upload, limit: int) -> dict:
    """A picture or a sound, into a private temporary file (size-capped) that is gone after the answer."""
    data = await upload.read(limit + 1)
    if not data:
        raise FtuiError("empty_input")
    if len(data) > limit:
        raise FtuiError("file_too_large", name=upload.filename, size_mb=len(data) / 2**20, limit_mb=limit / 2**20)
    with tempfile.TemporaryDirectory(prefix="ftui-share-") as folder:
        path = Path(folder) / safe_filename(upload.filename or "input")
        path.write_bytes(data)
        with contextlib.suppress(OSError):
            path.chmod(0o600)
        return await asyncio.to_thread(sharing.shared_predict, token, path)
