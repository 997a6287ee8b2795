"""A fake WeCom API on 127.0.0.1: a real HTTP server that records every call and can be told to fail."""

from __future__ import annotations

import itertools
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CORP_ID = "wwfakecorp"
SECRET = "fake-secret"
API_ENDPOINTS = (
    "message/send",
    "appchat/send",
    "externalcontact/add_msg_template",
    "externalcontact/get_groupmsg_send_result",
    "externalcontact/groupchat/list",
    "externalcontact/groupchat/get",
    "get_jsapi_ticket",
    "ticket/get",
    "auth/getuserinfo",
    "externalcontact/cancel_groupmsg_send",
    "externalcontact/remind_groupmsg_send",
    "externalcontact/group_welcome_template/add",
    "externalcontact/group_welcome_template/edit",
)
WEBHOOK_BYTES = {"text": 2048, "markdown": 4096}
# remind_groupmsg_send: at most three reminders per task within 24 hours (document/path/97610).
REMINDS_PER_TASK = 3
# groupchat/list: limit is 1..1000 (document/path/92120); a corp with more visible members than this must
# filter by owner or WeCom answers 81017.
LIST_LIMIT = 1000


@dataclass(frozen=True)
class Call:
    method: str
    endpoint: str  # the path below /cgi-bin/, e.g. "message/send"
    query: dict[str, str]
    body: dict[str, Any] | None
    at: float = 0.0  # time.monotonic() when the request arrived


@dataclass
class Failure:
    errcode: int | None = None
    http_status: int | None = None
    delay: float = 0.0
    times: int | None = 1  # None: forever
    errmsg: str | None = None


@dataclass
class FakeWecom:
    """The state behind the server; tests read `calls` and script failures."""

    base_url: str = ""
    calls: list[Call] = field(default_factory=list)
    tokens: dict[str, bool] = field(default_factory=dict)  # token -> still valid
    webhook_keys: set[str] = field(default_factory=set)
    task_status: dict[str, int] = field(default_factory=dict)  # msgid -> get_groupmsg_send_result status
    task_chats: dict[str, str] = field(default_factory=dict)  # msgid -> the (first) chat the task was created for
    task_chat_lists: dict[str, list[str]] = field(default_factory=dict)  # msgid -> every chat of the task
    chat_status: dict[tuple[str, str], int] = field(default_factory=dict)  # (msgid, chat) -> status, overrides
    cancelled: set[str] = field(default_factory=set)  # msgids cancel_groupmsg_send stopped
    reminders: dict[str, int] = field(default_factory=dict)  # msgid -> remind_groupmsg_send calls
    groupchat_owners: dict[str, str] = field(default_factory=dict)  # chat_id -> owner userid
    # More members visible to the app than this make an unfiltered groupchat/list fail with 81017.
    visible_members: int = 0
    welcome_templates: dict[str, dict[str, Any]] = field(default_factory=dict)  # template_id -> body
    groupchats: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_ttl: int = 7200
    oauth_codes: dict[str, str] = field(default_factory=dict)  # OAuth2 code -> userid (each works once)
    ticket_delay: float = 0.0  # seconds a jsapi ticket takes to issue, to make a stampede visible
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- scripting -----------------------------------------------------------------------------------

    def fail_next(
        self,
        endpoint: str,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay: float = 0.0,
        times: int = 1,
        errmsg: str | None = None,
    ) -> None:
        """Answer the next `times` calls of `endpoint` with an errcode (and errmsg), an HTTP status, or slowly."""
        with self._lock:
            self._failures.setdefault(endpoint, []).append(Failure(errcode, http_status, delay, times, errmsg))

    def always(self, endpoint: str, *, errcode: int | None = None, http_status: int | None = None) -> None:
        """Answer every call of `endpoint` with this failure from now on."""
        with self._lock:
            self._failures.setdefault(endpoint, []).append(Failure(errcode, http_status, 0.0, None))

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (42001), as WeCom does after two hours."""
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = False

    def calls_to(self, endpoint: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.endpoint == endpoint]

    def bodies(self, endpoint: str) -> list[dict[str, Any] | None]:
        return [c.body for c in self.calls_to(endpoint)]

    # --- the server side -------------------------------------------------------------------------------

    def _scripted(self, endpoint: str) -> Failure | None:
        with self._lock:
            queue = self._failures.get(endpoint) or []
            if not queue:
                return None
            failure = queue[0]
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    queue.pop(0)
            return failure

    def handle(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        endpoint = path.removeprefix("/cgi-bin/")
        with self._lock:
            self.calls.append(Call(method, endpoint, query, body, time.monotonic()))
        failure = self._scripted(endpoint)
        if failure is not None:
            if failure.delay:
                time.sleep(failure.delay)
            if failure.http_status is not None:
                return failure.http_status, {"error": "scripted"}
            if failure.errcode is not None:
                return 200, {
                    "errcode": failure.errcode,
                    "errmsg": failure.errmsg or f"scripted error {failure.errcode}",
                }
        if endpoint == "gettoken":
            if query.get("corpid") != CORP_ID or query.get("corpsecret") != SECRET:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            with self._lock:
                token = f"token-{next(self._ids)}"
                self.tokens[token] = True
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}
        if endpoint == "webhook/send":
            if query.get("key") not in self.webhook_keys:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            # Text over 2048 bytes and markdown over 4096 are refused (document/path/91770).
            kind = str((body or {}).get("msgtype", ""))
            content = str(((body or {}).get(kind) or {}).get("content", ""))
            if len(content.encode("utf-8")) > WEBHOOK_BYTES.get(kind, 1 << 30):
                return 200, {"errcode": 40058, "errmsg": "content exceed max length"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if endpoint.startswith("aibot/response"):
            return 200, {"errcode": 0, "errmsg": "ok"}
        if endpoint not in API_ENDPOINTS:
            return 404, {"error": "no such endpoint"}
        with self._lock:
            valid = self.tokens.get(query.get("access_token", ""))
        if valid is None:
            return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
        if valid is False:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        if endpoint == "auth/getuserinfo":
            with self._lock:
                user = self.oauth_codes.pop(query.get("code", ""), None)
            if user is None:
                return 200, {"errcode": 40029, "errmsg": "invalid code"}
            return 200, {"errcode": 0, "errmsg": "ok", "userid": user}
        return 200, self._answer(endpoint, body or {})

    def _answer(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        ok: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if endpoint == "message/send":
            return {**ok, "invaliduser": "", "msgid": f"appmsg-{next(self._ids)}"}
        if endpoint == "externalcontact/add_msg_template":
            msgid = f"task-{next(self._ids)}"
            with self._lock:
                self.task_status.setdefault(msgid, 0)
                chats = list(body.get("chat_id_list") or [""])
                self.task_chats[msgid] = chats[0]
                self.task_chat_lists[msgid] = chats
            return {**ok, "fail_list": [], "msgid": msgid}
        if endpoint == "externalcontact/get_groupmsg_send_result":
            msgid = body.get("msgid", "")
            with self._lock:
                status = self.task_status.get(msgid)
                chats = self.task_chat_lists.get(msgid) or [self.task_chats.get(msgid, "")]
                entries = [
                    {"chat_id": c, "userid": body.get("userid"), "status": self.chat_status.get((msgid, c), status)}
                    for c in chats
                ]
            if status is None:
                return {"errcode": 41063, "errmsg": "msgid not found"}
            return {**ok, "next_cursor": "", "send_list": entries}
        if endpoint == "externalcontact/cancel_groupmsg_send":
            msgid = body.get("msgid", "")
            with self._lock:
                if msgid not in self.task_status:
                    return {"errcode": 41063, "errmsg": "msgid not found"}
                self.cancelled.add(msgid)
            return ok
        if endpoint == "externalcontact/remind_groupmsg_send":
            msgid = body.get("msgid", "")
            with self._lock:
                if msgid not in self.task_status:
                    return {"errcode": 41063, "errmsg": "msgid not found"}
                if self.reminders.get(msgid, 0) >= REMINDS_PER_TASK:
                    return {"errcode": 45009, "errmsg": "remind limit reached"}
                self.reminders[msgid] = self.reminders.get(msgid, 0) + 1
            return ok
        if endpoint in ("get_jsapi_ticket", "ticket/get"):
            if self.ticket_delay:
                time.sleep(self.ticket_delay)
            kind = "agent" if endpoint == "ticket/get" else "corp"
            return {**ok, "ticket": f"{kind}-ticket-{next(self._ids)}", "expires_in": 7200}
        if endpoint == "auth/getuserinfo":
            raise AssertionError("answered in handle(): it needs the query string")
        if endpoint == "externalcontact/groupchat/list":
            return self._list_chats(body)
        if endpoint == "externalcontact/group_welcome_template/add":
            template_id = f"tpl-{next(self._ids)}"
            with self._lock:
                self.welcome_templates[template_id] = body
            return {**ok, "template_id": template_id}
        if endpoint == "externalcontact/group_welcome_template/edit":
            template_id = body.get("template_id", "")
            with self._lock:
                if template_id not in self.welcome_templates:
                    return {"errcode": 41034, "errmsg": "invalid template_id"}
                self.welcome_templates[template_id] = {k: v for k, v in body.items() if k != "template_id"}
            return ok
        if endpoint == "externalcontact/groupchat/get":
            chat = self.groupchats.get(body.get("chat_id", ""))
            if chat is None:
                return {"errcode": 49008, "errmsg": "chat not exists"}
            return {**ok, "group_chat": chat}
        return ok

    def _list_chats(self, body: dict[str, Any]) -> dict[str, Any]:
        """groupchat/list as documented: owner_filter, cursor paging, limit 1..1000, 81017 without a filter."""
        limit = int(body.get("limit") or 0)
        if not 1 <= limit <= LIST_LIMIT:
            return {"errcode": 40058, "errmsg": "invalid limit"}
        owners = list((body.get("owner_filter") or {}).get("userid_list") or [])
        if not owners and self.visible_members > LIST_LIMIT:
            return {"errcode": 81017, "errmsg": "too many members visible: use owner_filter"}
        with self._lock:
            chats = [c for c in self.groupchats if not owners or self.groupchat_owners.get(c) in owners]
        start = int(body.get("cursor") or 0)
        page = chats[start : start + limit]
        following = str(start + limit) if start + limit < len(chats) else ""
        return {
            "errcode": 0,
            "errmsg": "ok",
            "group_chat_list": [{"chat_id": c, "status": 0} for c in page],
            "next_cursor": following,
        }


def start_fake_wecom() -> tuple[FakeWecom, ThreadingHTTPServer, threading.Thread]:
    """Serve a fresh FakeWecom on an ephemeral port of 127.0.0.1."""
    fake = FakeWecom()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body are written separately; without NODELAY each answer waits ~40 ms on Nagle.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                body = {"_unparsable": raw.decode("utf-8", "replace")}
            status, answer = fake.handle(self.command, parts.path, query, body)
            data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that timed out on a scripted delay has hung up; that is the test working, not a failure.
            if isinstance(sys.exc_info()[1], ConnectionError):
                return
            super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-wecom", daemon=True)
    thread.start()
    return fake, server, thread
