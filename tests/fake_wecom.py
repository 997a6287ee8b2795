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
    "kf/sync_msg",
    "kf/send_msg",
    "kf/send_msg_on_event",
    "kf/service_state/get",
    "kf/service_state/trans",
    "kf/add_contact_way",
    "kf/customer/batchget",
)
WEBHOOK_BYTES = {"text": 2048, "markdown": 4096}
# remind_groupmsg_send: at most three reminders per task within 24 hours (document/path/97610).
REMINDS_PER_TASK = 3
# groupchat/list: limit is 1..1000 (document/path/92120); a corp with more visible members than this must
# filter by owner or WeCom answers 81017.
LIST_LIMIT = 1000

# 微信客服, as WeCom documents it:
# - kf/sync_msg pages by cursor, at most 1000 a page, says has_more, keeps messages 3 days; the callback's
#   Token is valid 10 minutes (https://developer.work.weixin.qq.com/document/path/94670);
# - kf/send_msg: within 48 hours of the customer's last message, at most 5 until they write again, only in
#   session states 0 and 1 (https://developer.work.weixin.qq.com/document/path/94677);
# - kf/send_msg_on_event: the enter_session welcome_code, once, within 20 seconds
#   (https://developer.work.weixin.qq.com/document/path/95122);
# - kf/service_state/get|trans and the allowed state changes (https://developer.work.weixin.qq.com/document/path/94669);
# - error codes from the global list (https://developer.work.weixin.qq.com/document/path/90313): 95000 invalid
#   open_kfid, 95001 five messages sent, 95002 past 48 hours, 95004 open_kfid does not exist, 95007 invalid
#   msg token, 95016 state change not allowed, 95018 session state does not allow sending. WeCom's pages name no
#   code of their own for a spent or late welcome_code; the fake answers 95007 (an invalid token) for it.
KF_RETENTION_SECONDS = 3 * 24 * 3600
KF_WINDOW_SECONDS = 48 * 3600
KF_REPLIES = 5
KF_WELCOME_SECONDS = 20
KF_TOKEN_SECONDS = 600
KF_SYNC_MAX = 1000
KF_TRANSITIONS = {0: {1, 2, 3, 4}, 1: {1, 2, 3, 4}, 2: {2, 3, 4}, 3: {3, 4}, 4: set()}
# kf/customer/batchget: 1..100 ids a call, and only customers who entered a session or wrote within
# 48 hours; others come back in invalid_external_userid (document/path/96429, 获取客户基础信息).
KF_BATCHGET_MAX = 100


@dataclass
class KfSession:
    state: int = 0
    servicer: str = ""
    last_customer_at: float | None = None
    sent_since: int = 0


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
    # 微信客服: accounts, each account's message log (the cursor is an index into it), sessions, codes, sends.
    kf_accounts: set[str] = field(default_factory=set)
    kf_log: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kf_sessions: dict[tuple[str, str], KfSession] = field(default_factory=dict)
    kf_tokens: dict[str, float] = field(default_factory=dict)  # callback token -> issued at
    kf_codes: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # welcome_code -> (at, kfid, user)
    kf_sent: list[dict[str, Any]] = field(default_factory=list)  # every message kf took, as sent
    kf_nicknames: dict[str, str] = field(default_factory=dict)  # external_userid -> WeChat nickname
    kf_seen: dict[str, float] = field(default_factory=dict)  # external_userid -> last entered or wrote
    now: Any = field(default=time.time)  # the fake's clock for kf's windows; tests may replace it
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

    # --- 微信客服: what customers do ---------------------------------------------------------------------

    def kf_account(self, open_kfid: str) -> None:
        with self._lock:
            self.kf_accounts.add(open_kfid)
            self.kf_log.setdefault(open_kfid, [])

    def _kf_append(self, open_kfid: str, message: dict[str, Any]) -> str:
        """Log a message for the account and return the Token the kf_msg_or_event callback would carry."""
        token = f"ENC{next(self._ids)}"
        self.kf_log.setdefault(open_kfid, []).append(message)
        self.kf_tokens[token] = self.now()
        return token

    def customer_enters(self, open_kfid: str, user: str, *, scene_param: str = "", with_code: bool = True) -> str:
        """The customer opens the account's link: an enter_session event with a fresh welcome_code."""
        with self._lock:
            now = self.now()
            code = f"WELCOME{next(self._ids)}" if with_code else ""
            if code:
                self.kf_codes[code] = (now, open_kfid, user)
            session = self.kf_sessions.setdefault((open_kfid, user), KfSession())
            if session.state == 4:
                session.state = 0
            self.kf_seen[user] = now
            event = {
                "event_type": "enter_session",
                "open_kfid": open_kfid,
                "external_userid": user,
                "scene": "group",
                "scene_param": scene_param,
                "welcome_code": code,
            }
            message = {
                "msgid": f"kfmsg{next(self._ids)}",
                "open_kfid": open_kfid,
                "send_time": int(now),
                "origin": 4,
                "msgtype": "event",
                "event": event,
            }
            return self._kf_append(open_kfid, message)

    def customer_says(
        self,
        open_kfid: str,
        user: str,
        text: str = "",
        *,
        menu_id: str = "",
        msgtype: str = "text",
        msgid: str | None = None,
    ) -> str:
        """The customer writes (or taps a menu item): their 48-hour, five-message window opens again."""
        with self._lock:
            now = self.now()
            session = self.kf_sessions.setdefault((open_kfid, user), KfSession())
            if session.state == 4:
                session.state = 0
            session.last_customer_at, session.sent_since = now, 0
            self.kf_seen[user] = now
            message: dict[str, Any] = {
                "msgid": msgid or f"kfmsg{next(self._ids)}",
                "open_kfid": open_kfid,
                "external_userid": user,
                "send_time": int(now),
                "origin": 3,
                "msgtype": msgtype,
            }
            if msgtype == "text":
                message["text"] = {"content": text, **({"menu_id": menu_id} if menu_id else {})}
            elif msgtype == "location":
                message["location"] = {"latitude": 23.1, "longitude": 113.3, "name": "某地", "address": "某路"}
            else:
                message[msgtype] = {"media_id": f"MEDIA{next(self._ids)}"}
            return self._kf_append(open_kfid, message)

    def kf_texts_to(self, user: str) -> list[str]:
        """What the customer saw: each text, or a menu's head and its labels."""
        with self._lock:
            sent = [m for m in self.kf_sent if m.get("touser") == user]
        out = []
        for m in sent:
            if m.get("msgtype") == "msgmenu":
                menu = m["msgmenu"]
                labels = " | ".join(item["click"]["content"] for item in menu.get("list", []))
                out.append(f"{menu.get('head_content', '')} [{labels}]")
            else:
                out.append(m.get("text", {}).get("content", ""))
        return out

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
        if endpoint.startswith("kf/"):
            with self._lock:
                return self._kf(endpoint, body)
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

    def _kf(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        ok: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        now = self.now()
        if endpoint == "kf/send_msg_on_event":
            issued = self.kf_codes.pop(str(body.get("code") or ""), None)
            if issued is None or now - issued[0] > KF_WELCOME_SECONDS:
                return {"errcode": 95007, "errmsg": "invalid code (spent, or older than 20 s)"}
            if body.get("msgtype") not in ("text", "msgmenu"):
                return {"errcode": 40008, "errmsg": "invalid message type"}
            self.kf_sent.append({**body, "touser": issued[2], "open_kfid": issued[1], "on_event": True})
            return {**ok, "msgid": f"sent{next(self._ids)}"}
        if endpoint == "kf/customer/batchget":
            wanted = [str(u) for u in body.get("external_userid_list") or []]
            if not 1 <= len(wanted) <= KF_BATCHGET_MAX:
                return {"errcode": 40058, "errmsg": "external_userid_list must hold 1 to 100 ids"}
            known = [u for u in wanted if now - self.kf_seen.get(u, -1e18) <= KF_WINDOW_SECONDS]
            customers = [{"external_userid": u, "nickname": self.kf_nicknames.get(u, ""), "gender": 0} for u in known]
            return {**ok, "customer_list": customers, "invalid_external_userid": [u for u in wanted if u not in known]}
        open_kfid = str(body.get("open_kfid") or "")
        if endpoint == "kf/sync_msg":
            if open_kfid and open_kfid not in self.kf_accounts:
                return {"errcode": 95000, "errmsg": "invalid open_kfid"}
            token = body.get("token")
            if token and now - self.kf_tokens.get(str(token), -1e18) > KF_TOKEN_SECONDS:
                return {"errcode": 95007, "errmsg": "invalid msg token"}
            limit = int(body.get("limit") or KF_SYNC_MAX)
            if not 1 <= limit <= KF_SYNC_MAX:
                return {"errcode": 40058, "errmsg": "limit out of range"}
            cursor = str(body.get("cursor") or "")
            start = int(cursor.removeprefix("c")) if cursor.startswith("c") else 0
            log = self.kf_log.get(open_kfid, [])
            page = log[start : start + limit]
            # Kept three days: older messages are gone (their place in the cursor stays).
            page = [m for m in page if now - m["send_time"] <= KF_RETENTION_SECONDS]
            end = min(start + limit, len(log))
            return {**ok, "next_cursor": f"c{end}", "has_more": int(end < len(log)), "msg_list": page}
        if open_kfid not in self.kf_accounts:
            return {"errcode": 95004, "errmsg": "open_kfid not exists"}
        if endpoint == "kf/add_contact_way":
            scene = str(body.get("scene") or "")
            return {
                **ok,
                "url": f"https://work.weixin.qq.com/kf/kfc{open_kfid}" + (f"?enc_scene=ENC{scene}" if scene else ""),
            }
        user = str(body.get("external_userid") or body.get("touser") or "")
        session = self.kf_sessions.setdefault((open_kfid, user), KfSession())
        if endpoint == "kf/service_state/get":
            return {**ok, "service_state": session.state, "servicer_userid": session.servicer}
        if endpoint == "kf/service_state/trans":
            wanted = int(body.get("service_state", -1))
            if wanted not in KF_TRANSITIONS.get(session.state, set()):
                return {"errcode": 95016, "errmsg": "state change not allowed"}
            if wanted == 3 and not body.get("servicer_userid"):
                return {"errcode": 95014, "errmsg": "servicer required"}
            session.state, session.servicer = wanted, str(body.get("servicer_userid") or "")
            return {**ok, "msg_code": ""}
        if endpoint == "kf/send_msg":
            if session.state not in (0, 1):
                return {"errcode": 95018, "errmsg": "session state does not allow sending"}
            if session.last_customer_at is None or now - session.last_customer_at > KF_WINDOW_SECONDS:
                return {"errcode": 95002, "errmsg": "past 48 hours since the customer's last message"}
            if session.sent_since >= KF_REPLIES:
                return {"errcode": 95001, "errmsg": "five messages sent since the customer's last message"}
            if body.get("msgtype") not in ("text", "msgmenu", "link", "image"):
                return {"errcode": 40008, "errmsg": "invalid message type"}
            session.sent_since += 1
            self.kf_sent.append(dict(body))
            return {**ok, "msgid": f"sent{next(self._ids)}"}
        return ok


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
