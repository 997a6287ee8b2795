"""A thin adapter over wechatpy's WeCom client: a shared token cache, bounded retries, errors that say what to fix."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException
from wechatpy.work import WeChatClient

from bot.clock import Clock
from bot.transports.base import DeliveryError, redact
from models import wecom_token

log = logging.getLogger(__name__)

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# WeCom says "come back later": -1 system busy, 45009 frequency limit, 45033 too many concurrent calls.
TRANSIENT_ERRORS = frozenset({-1, 45009, 45033})
# 45009 blocks the caller for the rest of the minute, so trying again sooner only extends the block.
BLOCKED_WINDOW_SECONDS = 60.0
# A request is not started with less time than this left in the send's time box.
MIN_REQUEST_SECONDS = 0.5
# Tokens are refreshed this long before WeCom's stated expiry, so none expires mid-call.
TOKEN_MARGIN = timedelta(minutes=5)

# Configuration errors: retrying cannot help, an operator has to change something in WeCom.
HINTS: dict[int, str] = {
    48002: "the app lacks permission for this API: in 管理后台 → 应用管理 → the app, grant the API permission "
    "(客户联系 for customer groups) and add the recipients to its 可见范围",
    60011: "the recipient is outside the app's visibility: add them (or their department) to the app's 可见范围",
    60020: "WeCom refused this server's IP: add it to 企业可信IP in 管理后台 → 应用管理 → the app",
    40050: "the chat no longer exists (dismissed or never created by this app): remove it from groups: or fix chat_id",
    49008: "the chat no longer exists (dismissed or never created by this app): remove it from groups: or fix chat_id",
    40003: "WeCom does not know this userid: check the recipient (guide) in the config",
    81013: "no valid recipient: the userid is not a member of the corp or outside the app's 可见范围",
    41001: "no access token was sent: check wecom.corp_id and wecom.secret",
    40013: "the corp id is wrong: check wecom.corp_id",
    81017: "the app sees more than 1,000 members: customer groups are listed per guide (owner_filter); "
    "list the guides under roles.guides",
}
# gettoken answers these when the credentials themselves are wrong; no retry can fix that.
CREDENTIAL_ERRORS = frozenset({40001, 40013, 40091})


class RedactingFilter(logging.Filter):
    """Rewrite a log record's message without query-string secrets (urllib3 logs every URL it requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# urllib3 logs each request line, query string included, at DEBUG; keep secrets out of it too.
logging.getLogger("urllib3.connectionpool").addFilter(RedactingFilter())


# Group robot (webhook) errors, from WeCom's global error codes (https://developer.work.weixin.qq.com/document/path/90313).
WEBHOOK_KEY_INVALID = 93000
GROUP_UNREACHABLE = frozenset({93001, 93006, 93008})
CONTENT_REFUSED = frozenset({93017, 93018})
# 45009 within an hourly budget (message/send per member, appchat per corp) blocks until the hour is over;
# WeCom says which in errmsg (e.g. "api freq out of limit ... hour"), so the hourly wait is read from it.
HOUR_WINDOW_SECONDS = 3600.0


def explain(errcode: int, errmsg: str) -> DeliveryError:
    """Turn a WeCom error code into a retryable or a permanent DeliveryError with its hint.

    WeCom answered with an error, so it did not take the message: every such error is `refused`. A code
    this table does not know is retried with backoff and, after the retry budget, fails with WeCom's own
    code and message shown.
    """
    base = f"errcode {errcode}: {errmsg}"
    if errcode == 45009:
        hourly = "hour" in errmsg.lower() or "小时" in errmsg
        return DeliveryError(
            f"{base} (rate limited; waiting out the blocked {'hour' if hourly else 'minute'})",
            transient=True,
            retry_after=HOUR_WINDOW_SECONDS if hourly else BLOCKED_WINDOW_SECONDS,
            refused=True,
            errcode=errcode,
        )
    if errcode in TRANSIENT_ERRORS:
        return DeliveryError(base, transient=True, refused=True, errcode=errcode)
    if errcode in TOKEN_ERRORS:
        # Reached only after one refresh and one retry failed: let the drainer's bounded retries decide.
        return DeliveryError(
            f"{base} (still refused after refreshing the token)", transient=True, refused=True, errcode=errcode
        )
    if errcode == WEBHOOK_KEY_INVALID:
        return DeliveryError(
            f"{base}: the group robot's webhook key is wrong; set groups[].webhook_key to the key in the robot's "
            "消息推送 URL (群设置 → 群机器人)",
            transient=False,
            refused=True,
            errcode=errcode,
        )
    if errcode in GROUP_UNREACHABLE:
        return DeliveryError(
            f"{base}: the group cannot be reached: the robot was removed from it or the group was dismissed; "
            "add the robot to the group again (and update groups[].webhook_key) or remove the group from groups:",
            transient=False,
            refused=True,
            errcode=errcode,
        )
    if errcode in CONTENT_REFUSED:
        return DeliveryError(
            f"{base}: WeCom refused the content (disallowed words or links, or a malformed message); edit the "
            "text in the config or texts.yaml and `groupbot outbox retry` it",
            transient=False,
            refused=True,
            errcode=errcode,
        )
    hint = HINTS.get(errcode)
    if hint:
        return DeliveryError(f"{base}: {hint}", transient=False, refused=True, errcode=errcode)
    return DeliveryError(
        f"{base} (an error code this bot has no hint for; retried, then left failed with WeCom's words)",
        transient=True,
        refused=True,
        errcode=errcode,
    )


def http_error(exc: requests.RequestException) -> DeliveryError:
    """Classify a transport-level failure: 5xx, timeouts and dropped connections are retried."""
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else None
    if status is not None and status < 500:
        return DeliveryError(f"HTTP {status} from WeCom: check wecom.api_base", transient=False, refused=True)
    what = f"HTTP {status}" if status is not None else type(exc).__name__
    # requests puts the whole URL in its message, and the query string carries the key or the token.
    # An HTTP status is an answer (not taken); a timeout or a dropped connection may follow a delivery.
    return DeliveryError(f"{what} talking to WeCom: {redact(str(exc))}", transient=True, refused=status is not None)


class _Client(WeChatClient):
    """wechatpy's client pointed at the configured host, also for gettoken (wechatpy hard-codes WeCom's)."""

    def __init__(self, corp_id: str, secret: str, api_base: str, timeout: float):
        self.API_BASE_URL = api_base.rstrip("/") + "/cgi-bin/"
        # auto_retry=False: wechatpy's own retry recurses without bound while WeCom answers 42001.
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)

    def fetch_access_token(self, timeout: float | None = None) -> dict[str, Any]:
        res = self._http.get(
            self.API_BASE_URL + "gettoken",
            params={"corpid": self.corp_id, "corpsecret": self.secret},
            timeout=timeout or self.timeout,
        )
        res.raise_for_status()
        result: dict[str, Any] = res.json()
        if int(result.get("errcode", 0)) != 0:
            raise WeChatClientException(int(result["errcode"]), result.get("errmsg", ""), client=self)
        return result


class WecomApi:
    """Calls WeCom's server API and webhooks; every process shares the access token through the database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        corp_id: str,
        secret: str,
        agent_id: str,
        api_base: str,
        timeout: float = 10.0,
        token_lease: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._session_factory = session_factory
        self._clock = clock
        self._client = _Client(corp_id, secret, api_base, timeout)
        self.agent_id = agent_id
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout
        self._lease = timedelta(seconds=token_lease)
        self._sleep = sleep
        self._key = "corp:" + hashlib.sha256(f"{corp_id}\0{secret}".encode()).hexdigest()[:32]
        # A per-process copy of the shared token saves a database read per call; dropped on any token error.
        self._memo: tuple[str, datetime] | None = None
        # The time box of the send in progress on this thread (monotonic deadline, its length), if any.
        self._box = threading.local()

    @property
    def cache_key(self) -> str:
        """The digest naming this corp and app in the token table (the secret itself is never stored)."""
        return self._key

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self._session_factory

    def now(self) -> datetime:
        return self._clock.now()

    # --- the time box ----------------------------------------------------------------------------------

    @contextmanager
    def time_box(self, seconds: float) -> Iterator[None]:
        """Bound every WeCom request made in the block to end within `seconds` from now, all of them together.

        Unboxed, one send can take two token waits, two gettoken calls and two posts at the full timeout
        each; the drainer boxes each send so it ends before another drainer may reclaim (and resend) the row.
        """
        self._box.deadline, self._box.seconds = time.monotonic() + seconds, seconds
        try:
            yield
        finally:
            self._box.deadline = None

    def _timeout(self, before: str) -> float:
        """Return the timeout for the next request: the configured one, or less if the time box is ending."""
        deadline: float | None = getattr(self._box, "deadline", None)
        if deadline is None:
            return self.timeout
        left = deadline - time.monotonic()
        if left < MIN_REQUEST_SECONDS:
            raise DeliveryError(
                f"gave up before {before}: the send used up its {self._box.seconds:g} s (40% of "
                "outbox.reclaim_after_seconds, so that no other drainer takes the row meanwhile); "
                "WeCom is slow or outbound.timeout_seconds is large",
                transient=True,
                refused=True,  # raised before a request, so the message was not posted (again)
            )
        return min(self.timeout, left)

    # --- the access token --------------------------------------------------------------------------

    def access_token(self) -> str:
        """Return a valid token, fetching one only if no process has a fresh one (one gettoken at a time)."""
        memo = self._memo
        if memo is not None and memo[1] > self._clock.now():
            return memo[0]
        deadline = time.monotonic() + self._lease.total_seconds() + self.timeout
        boxed: float | None = getattr(self._box, "deadline", None)
        if boxed is not None:
            deadline = min(deadline, boxed)
        while True:
            now = self._clock.now()
            with self._session_factory.begin() as session:
                found = wecom_token.valid_token(session, self._key, now)
                if found:
                    self._memo = found
                    return found[0]
                leased = wecom_token.take_refresh_lease(session, self._key, now, self._lease)
            if leased:
                return self._refresh()
            if time.monotonic() > deadline:
                raise DeliveryError("another process is still fetching the WeCom token", transient=True)
            # Another process is calling gettoken; its token will be in the table shortly.
            self._sleep(0.05)

    def _refresh(self) -> str:
        try:
            result = self._client.fetch_access_token(self._timeout("gettoken"))
        except BaseException as exc:
            with self._session_factory.begin() as session:
                wecom_token.release_lease(session, self._key)
            if isinstance(exc, WeChatClientException) and exc.errcode is not None:
                if int(exc.errcode) in CREDENTIAL_ERRORS:
                    raise DeliveryError(
                        f"gettoken errcode {exc.errcode}: {exc.errmsg}: WeCom refused the app's credentials; "
                        "check wecom.corp_id and wecom.secret (应用管理 → the app → Secret)",
                        transient=False,
                        errcode=int(exc.errcode),
                    ) from exc
                raise explain(int(exc.errcode), f"gettoken: {exc.errmsg}") from exc
            if isinstance(exc, requests.RequestException):
                raise http_error(exc) from exc
            raise
        token = str(result["access_token"])
        expires_at = self._clock.now() + timedelta(seconds=int(result.get("expires_in", 7200))) - TOKEN_MARGIN
        with self._session_factory.begin() as session:
            wecom_token.store_token(session, self._key, token, expires_at)
        self._memo = (token, expires_at)
        log.info("fetched a new WeCom access token (valid until %s)", expires_at.isoformat(timespec="seconds"))
        return token

    def _forget(self, token: str) -> None:
        self._memo = None
        with self._session_factory.begin() as session:
            wecom_token.invalidate(session, self._key, token)

    # --- calls ---------------------------------------------------------------------------------------

    def call(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to cgi-bin/`endpoint`; refresh the token and retry once if WeCom calls it invalid."""
        token = self._token_before_post()
        try:
            return self._post(endpoint, body, token)
        except WeChatClientException as exc:
            if int(exc.errcode) not in TOKEN_ERRORS:
                raise explain(int(exc.errcode), str(exc.errmsg)) from exc
            log.info("WeCom refused the access token (%s); fetching a new one and retrying once", exc.errcode)
            self._forget(token)
        token = self._token_before_post()
        try:
            return self._post(endpoint, body, token)
        except WeChatClientException as exc:
            raise explain(int(exc.errcode), str(exc.errmsg)) from exc

    def get(self, endpoint: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET cgi-bin/`endpoint` (jsapi tickets, OAuth's auth/getuserinfo); same token handling as `call`."""
        for attempt in (1, 2):
            token = self._token_before_post()
            try:
                result = self._client.get(
                    endpoint, params={**(params or {}), "access_token": token}, timeout=self._timeout(endpoint)
                )
            except WeChatClientException as exc:
                if exc.errcode is None:
                    raise DeliveryError(f"HTTP error from WeCom on {endpoint}", transient=True) from exc
                if int(exc.errcode) in TOKEN_ERRORS and attempt == 1:
                    self._forget(token)
                    continue
                raise explain(int(exc.errcode), str(exc.errmsg)) from exc
            except requests.RequestException as exc:
                raise http_error(exc) from exc
            if not isinstance(result, dict):
                raise DeliveryError("WeCom answered with something that is not JSON", transient=True)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _token_before_post(self) -> str:
        try:
            return self.access_token()
        except DeliveryError as exc:
            exc.refused = True  # whatever went wrong, the message itself was never posted
            raise

    def _post(self, endpoint: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        # A WeChatClientException leaving here always carries WeCom's errcode; HTTP trouble is converted.
        timeout = self._timeout(f"posting to {endpoint}")
        try:
            result = self._client.post(endpoint, params={"access_token": token}, data=body, timeout=timeout)
        except WeChatClientException as exc:
            response = exc.response
            if exc.errcode is None:
                status = response.status_code if response is not None else None
                if status is not None and status < 500:
                    raise DeliveryError(
                        f"HTTP {status} from WeCom: check wecom.api_base", transient=False, refused=True
                    ) from exc
                raise DeliveryError(f"HTTP {status} from WeCom", transient=True, refused=status is not None) from exc
            raise
        except requests.RequestException as exc:
            raise http_error(exc) from exc
        if not isinstance(result, dict):
            raise DeliveryError("WeCom answered with something that is not JSON", transient=True)
        return result

    def post_url(self, url: str, body: dict[str, Any], *, params: dict[str, str] | None = None) -> dict[str, Any]:
        """POST JSON to a URL that needs no access token (a group robot's webhook, an aibot response_url)."""
        timeout = self._timeout("posting the message")
        try:
            res = self._client._http.post(url, params=params, json=body, timeout=timeout)
            res.raise_for_status()
            result: dict[str, Any] = res.json()
        except requests.RequestException as exc:
            raise http_error(exc) from exc
        except ValueError as exc:
            raise DeliveryError("WeCom answered with something that is not JSON", transient=True) from exc
        errcode = int(result.get("errcode", 0))
        if errcode != 0:
            raise explain(errcode, str(result.get("errmsg", "")))
        return result
