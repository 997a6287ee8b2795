"""Who is on the page: WeCom OAuth2 inside WeCom, one-time links from the CLI, signed sessions, CSRF."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, render_template, request, session
from sqlalchemy.orm import Session, sessionmaker

from bot.config.core import Config, GroupConfig, Role
from bot.config.web import SECRET_ENV
from bot.services import Services
from bot.transports.base import DeliveryError
from bot.wecom.api import WecomApi
from bot.wecom.tickets import user_for_code
from models import web_login
from models.membership import display_names

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__, url_prefix="/web", template_folder="templates")
F = TypeVar("F", bound=Callable[..., Any])

# WeCom's page-authorisation address (developer.work.weixin.qq.com/document/path/91022, 构造网页授权链接).
AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
HOME = "/web/sidebar"


def services() -> Services:
    return cast(Services, current_app.extensions["groupbot"])


def config() -> Config:
    return services().config()


def wecom_api() -> WecomApi:
    """The WeCom API client the pages share (built once per app, token cached in the database)."""
    api = current_app.extensions.get("groupbot_web_api")
    if api is None:
        current = config()
        if not (current.wecom.corp_id and current.wecom.secret):
            abort(503, "wecom.corp_id and wecom.secret are not set: the pages cannot talk to WeCom")
        api = WecomApi(
            services().session_factory,
            services().clock,
            corp_id=current.wecom.corp_id,
            secret=current.wecom.secret,
            agent_id=current.wecom.agent_id,
            api_base=current.wecom.api_base,
            timeout=current.outbound.timeout_seconds,
            token_lease=current.outbound.token_lease_seconds,
        )
        current_app.extensions["groupbot_web_api"] = api
    return cast(WecomApi, api)


def safe_next(target: str | None) -> str:
    """Return `target` if it is a path of these pages, else the home page: no redirect leaves the site."""
    if not target or not target.startswith("/web/") or target.startswith("//") or "\\" in target:
        return HOME
    return target


# --- sessions -----------------------------------------------------------------------------------------


@blueprint.before_app_request
def _needs_secret() -> None:
    if request.path.startswith("/web/") and not current_app.secret_key:
        abort(503, f"the web pages are off: set {SECRET_ENV} (a long random string) in the environment")


@blueprint.before_app_request
def _csrf() -> None:
    # Every POST of these pages carries the session's token: a form field or the X-CSRF-Token header.
    if request.method != "POST" or not request.path.startswith("/web/"):
        return
    expected = session.get("csrf")
    given = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(str(expected), given):
        abort(403, "missing or wrong CSRF token: reload the page")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def role_of(user: str | None) -> Role:
    return config().roles.role_of(user)


def start_session(user: str) -> None:
    session.clear()
    session.permanent = True
    session["user"] = user
    session["csrf"] = secrets.token_urlsafe(24)


def current_user() -> str | None:
    """The signed-in guide or admin; None without a session or once the YAML no longer lists them."""
    user = session.get("user")
    if not user or role_of(user) == "member":
        return None
    return str(user)


def login_required(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.method == "GET" and not request.path.startswith("/web/api/"):
                return redirect("/web/login?" + urlencode({"next": request.full_path.rstrip("?")}))
            abort(401, "not signed in")
        return func(*args, **kwargs)

    return cast(F, wrapper)


def may_see(user: str, group: GroupConfig) -> bool:
    """Guides see the groups they own; admins see all."""
    return role_of(user) == "admin" or group.guide == user


# --- WeCom OAuth2 -------------------------------------------------------------------------------------


@blueprint.get("/login")
def login():  # type: ignore[no-untyped-def]
    """Send the visitor through WeCom's page authorisation; it comes back to /web/oauth with a code."""
    current = config()
    if not (current.web.public_url and current.wecom.corp_id):
        return render_template("message.html", title="无法登录", text="未配置 web.public_url 或 wecom.corp_id。"), 503
    state = secrets.token_urlsafe(16)
    session["oauth_state"] = state
    session["oauth_next"] = safe_next(request.args.get("next"))
    query = urlencode(
        {
            "appid": current.wecom.corp_id,
            "redirect_uri": current.web.public_url + "/web/oauth",
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
            "agentid": current.wecom.agent_id,
        }
    )
    return redirect(f"{AUTHORIZE_URL}?{query}#wechat_redirect")


@blueprint.get("/oauth")
def oauth():  # type: ignore[no-untyped-def]
    """Exchange WeCom's code for the userid; `state` must be the one this browser was sent with."""
    expected = session.pop("oauth_state", None)
    target = safe_next(session.pop("oauth_next", None))
    state, code = request.args.get("state", ""), request.args.get("code", "")
    if not expected or not hmac.compare_digest(str(expected), state) or not code:
        abort(403, "the sign-in did not start here (state does not match): open the page again")
    try:
        user = user_for_code(wecom_api(), code)
    except DeliveryError as exc:
        log.warning("OAuth code exchange failed: %s", exc)
        abort(403, "WeCom did not accept the sign-in code: open the page again")
    if user is None or role_of(user) == "member":
        log.info("web sign-in refused for %s: not a guide or admin", user or "a non-member")
        abort(403, "only guides and admins listed in the config may use these pages")
    start_session(user)
    return redirect(target)


# --- one-time links -----------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_login_link(session_factory: sessionmaker[Session], user: str, now: datetime, minutes: float) -> str:
    """Store a one-time link for `user` and return its path (valid `minutes`, usable once)."""
    token = secrets.token_urlsafe(24)
    with session_factory.begin() as db:
        web_login.add_link(db, _digest(token), user, now, now + timedelta(minutes=minutes))
    return f"/web/login-link/{token}"


@blueprint.get("/login-link/<token>")
def login_link(token: str):  # type: ignore[no-untyped-def]
    with services().session_factory.begin() as db:
        user = web_login.use_link(db, _digest(token), services().clock.now())
    if user is None or role_of(user) == "member":
        abort(403, "this link is unknown, used or expired: ask for a new one (groupbot web login-link)")
    start_session(user)
    return redirect(safe_next(request.args.get("next")))


@blueprint.post("/logout")
def logout():  # type: ignore[no-untyped-def]
    session.clear()
    return redirect("/web/login")


def current_user_name() -> str:
    """The signed-in person as pages show them: their name from WeCom when known, never a bare userid."""
    user = current_user()
    if user is None:
        return ""
    with services().session_factory() as db:
        name = display_names(db, [user])[user]
    return name if name != user else "导购" if role_of(user) == "guide" else "管理员"


@blueprint.app_context_processor
def _template_globals() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "current_user": current_user, "current_user_name": current_user_name}
