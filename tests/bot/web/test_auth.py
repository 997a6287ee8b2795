"""Who may open the sidebar: OAuth against the fake WeCom, one-time links, sessions, CSRF, tickets."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from bot.app import create_app
from bot.config.web import SECRET_ENV
from bot.outbox import queue_reply
from bot.replies import Reply
from bot.web.auth import create_login_link
from tests.bot.web.conftest import OTHER, SHOP, Web

PAGE = f"/web/sidebar/group/{SHOP}"


def oauth_sign_in(web: Web, client: FlaskClient, user: str, code: str = "code-1", target: str = PAGE):  # type: ignore[no-untyped-def]
    start = client.get("/web/login", query_string={"next": target})
    assert start.status_code == 302
    location = urlsplit(start.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "open.weixin.qq.com" and query["redirect_uri"] == [web.url + "/web/oauth"]
    assert query["scope"] == ["snsapi_base"] and location.fragment == "wechat_redirect"
    web.fake.oauth_codes[code] = user
    return client.get("/web/oauth", query_string={"code": code, "state": query["state"][0]})


def link_sign_in(web: Web, client: FlaskClient, user: str) -> None:
    path = create_login_link(web.services.session_factory, user, web.clock.now(), 10)
    assert client.get(path).status_code == 302


def csrf_of(client: FlaskClient) -> str:
    page = client.get(PAGE).get_data(as_text=True)
    return page.split('data-csrf="', 1)[1].split('"', 1)[0]


def queued_row(web: Web) -> int:
    with web.services.session_factory.begin() as db:
        row = queue_reply(db, Reply("今日上新", to_chat=SHOP), web.clock.now(), origin="calendar:x")
        assert row is not None
        return row.id


def test_oauth_code_becomes_the_guide_and_lands_on_the_page(web: Web) -> None:
    client = web.app.test_client()
    done = oauth_sign_in(web, client, "guide01")
    assert (done.status_code, done.headers["Location"]) == (302, PAGE)
    assert client.get(PAGE).status_code == 200
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert web.fake.calls_to("auth/getuserinfo")[0].query["code"] == "code-1"


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example/x", "/elsewhere", "/web\\..\\x"])
def test_state_and_next_cannot_redirect_off_the_site(web: Web, target: str) -> None:
    client = web.app.test_client()
    done = oauth_sign_in(web, client, "guide01", target=target)
    assert done.headers["Location"] == "/web/sidebar"


def test_refused_sign_ins(web: Web) -> None:
    # A member (no guide, no admin) is refused.
    assert oauth_sign_in(web, web.app.test_client(), "zhangsan").status_code == 403
    # A state this browser was not given is refused, and so is a code WeCom does not know.
    client = web.app.test_client()
    client.get("/web/login", query_string={"next": PAGE})
    assert client.get("/web/oauth", query_string={"code": "x", "state": "forged"}).status_code == 403
    client.get("/web/login")
    state = "unused"
    with client.session_transaction() as session:
        state = session["oauth_state"]
    assert client.get("/web/oauth", query_string={"code": "unknown", "state": state}).status_code == 403
    # A one-time link works once.
    path = create_login_link(web.services.session_factory, "guide01", web.clock.now(), 10)
    assert web.app.test_client().get(path).status_code == 302
    assert web.app.test_client().get(path).status_code == 403


def test_a_guide_sees_only_their_groups_and_an_admin_all(web: Web) -> None:
    guide = web.app.test_client()
    link_sign_in(web, guide, "guide02")
    assert guide.get(PAGE).status_code == 403
    assert guide.get(f"/web/sidebar/group/{OTHER}").status_code == 200
    admin = web.app.test_client()
    link_sign_in(web, admin, "boss")
    assert admin.get(PAGE).status_code == 200


def test_missing_or_forged_session_and_missing_csrf_are_refused(web: Web) -> None:
    row = queued_row(web)
    anonymous = web.app.test_client()
    assert anonymous.get(PAGE).status_code == 302  # to the login
    assert anonymous.post(f"/web/api/group/{SHOP}/claim/{row}").status_code in (401, 403)
    forged = web.app.test_client()
    forged.set_cookie("groupbot_session", "eyJ1c2VyIjoiZ3VpZGUwMSJ9.forged.signature")
    assert forged.get(PAGE).status_code == 302
    guide = web.app.test_client()
    link_sign_in(web, guide, "guide01")
    assert guide.post(f"/web/api/group/{SHOP}/claim/{row}").status_code == 403
    assert guide.post(f"/web/api/group/{SHOP}/claim/{row}", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    # Another guide's page cannot take this group's row even with its own valid token.
    other = web.app.test_client()
    link_sign_in(web, other, "guide02")
    token = other.get(f"/web/sidebar/group/{OTHER}").get_data(as_text=True).split('data-csrf="')[1].split('"')[0]
    assert other.post(f"/web/api/group/{SHOP}/claim/{row}", headers={"X-CSRF-Token": token}).status_code == 403
    claimed = guide.post(f"/web/api/group/{SHOP}/claim/{row}", headers={"X-CSRF-Token": csrf_of(guide)})
    assert claimed.status_code == 200 and claimed.json["text"] == {"content": "今日上新"}


def test_pages_answer_503_without_a_session_secret(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV)
    app = create_app(web.services)
    page = app.test_client().get("/web/sidebar")
    assert page.status_code == 503 and SECRET_ENV in page.get_data(as_text=True)
    assert app.test_client().get("/healthz").status_code == 200


def test_twenty_parallel_page_loads_fetch_each_ticket_once(web: Web) -> None:
    web.fake.ticket_delay = 0.3
    clients = []
    for _ in range(20):
        client = web.app.test_client()
        link_sign_in(web, client, "guide01")
        clients.append(client)
    answers: list[int] = []
    barrier = threading.Barrier(20)

    def load(client: FlaskClient) -> None:
        barrier.wait()
        for agent in ("0", "1"):
            signed = client.get("/web/api/jssdk-signature", query_string={"agent": agent, "url": web.url + PAGE})
            answers.append(signed.status_code)

    threads = [threading.Thread(target=load, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200] * 40
    assert len(web.fake.calls_to("get_jsapi_ticket")) == 1
    assert len(web.fake.calls_to("ticket/get")) == 1
    assert len(web.fake.calls_to("gettoken")) == 1
    # A page of another site is not signed.
    guide = clients[0]
    assert guide.get("/web/api/jssdk-signature", query_string={"url": "https://evil.example/"}).status_code == 400


def test_signature_matches_wecoms_documented_example() -> None:
    """developer.work.weixin.qq.com/document/path/90506: the worked example of the signature algorithm."""
    from bot.wecom.tickets import sign

    ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
    url = "http://mp.weixin.qq.com?params=value#ignored"
    signed = sign(ticket, url, nonce_str="Wm3WZYTPz0wzccnW", timestamp=1414587457)
    assert signed == "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
