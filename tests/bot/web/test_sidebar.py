"""The guide's sidebar in real headless Chromium, with a stub of WeCom's JS-SDK."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.outbox import queue_reply
from bot.replies import Reply
from bot.transports.drainer import drain_once
from bot.transports.wecom import build_wecom_transport
from bot.web.auth import create_login_link
from models import outbox as outbox_rows
from models.quiz import Quiz
from tests.bot.web.conftest import SHOP, Web
from tests.browser import browser  # noqa: F401 - the fixture

WAIT = 10.0
CALENDAR_POST = "【今日上新】阳光玫瑰葡萄 39.9 元/串，今晚 8 点开团！"
WELCOME = "欢迎 小王 加入福利群！群规：请勿刷屏。"


def sign_in(web: Web, driver: Any, user: str = "guide01") -> None:
    path = create_login_link(web.services.session_factory, user, web.clock.now(), 10)
    driver.delete_all_cookies()
    driver.get(web.url + path)


def queue_for_shop(web: Web) -> None:
    now = web.clock.now()
    with web.services.session_factory.begin() as db:
        queue_reply(db, Reply(WELCOME, to_chat=SHOP), now, origin="app:evt:change_external_chat:abc")
        queue_reply(db, Reply(CALENDAR_POST, to_chat=SHOP), now, origin="calendar:morning:2026-11-22")


def wait_for(driver: Any, script: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(script))


def screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("GROUPBOT_SCREENSHOT_DIR")
    if folder:
        driver.save_screenshot(str(Path(folder) / name))


def test_guide_sends_waiting_content_with_one_tap(web: Web, browser: Any) -> None:  # noqa: F811
    """Content for the customer group waits for the guide; 发送 hands its text to sendChatMessage and the row
    is recorded as delivered by the guide: no customer task is created."""
    queue_for_shop(web)
    config = web.services.config
    transport = build_wecom_transport(config, web.services.session_factory, web.clock)
    report = drain_once(web.services.session_factory, transport, config().outbox, web.clock)
    assert report.waiting == 2 and report.sent == 0
    with web.services.session_factory() as db:
        notices = [r for r in outbox_rows.list_messages(db) if r.channel == "app_message"]
    assert [n.payload["content"] for n in notices] == ["有 1 条待发内容：打开客户群「福利群」侧边栏发送。"]

    sign_in(web, browser)
    browser.get(web.url + "/web/sidebar")
    wait_for(browser, "return location.pathname.endsWith('/web/sidebar/group/wrShop01')")
    previews = wait_for(browser, "return [...document.querySelectorAll('.item .preview')].map(e => e.textContent)")
    assert previews == [WELCOME, CALENDAR_POST]
    kinds = browser.execute_script("return [...document.querySelectorAll('.item .kind')].map(e => e.textContent)")
    assert kinds == ["入群欢迎", "今日内容"]
    screenshot(browser, "sidebar.png")

    web.clock.advance(minutes=3)
    browser.execute_script("document.querySelectorAll('button.send')[1].click()")
    wait_for(browser, "return document.querySelectorAll('.item .state')[1].textContent === '已发送'")
    sent = browser.execute_script("return JSON.parse(sessionStorage.getItem('ww')).sent")
    assert sent == [{"msgtype": "text", "text": {"content": CALENDAR_POST}}]
    with web.services.session_factory() as db:
        rows = {r.payload["content"]: r for r in outbox_rows.sendable_for_chat(db, SHOP)}
        done = db.scalars(select(outbox_rows.OutboxMessage).where(outbox_rows.OutboxMessage.status == "sent")).all()
    assert list(rows) == [WELCOME]
    assert [(r.payload["content"], r.delivered_by, r.delivered_at) for r in done] == [
        (CALENDAR_POST, "guide01", web.clock.now())
    ]
    assert web.fake.calls_to("externalcontact/add_msg_template") == []
    # The page signed for agentConfig with the app's ticket.
    assert len(web.fake.calls_to("ticket/get")) == 1

    # Not sent within the grace period: the welcome goes on as a customer task, as before.
    web.clock.advance(minutes=30)
    drain_once(web.services.session_factory, transport, config().outbox, web.clock)
    bodies = web.fake.bodies("externalcontact/add_msg_template")
    assert [b["text"]["content"] for b in bodies if b] == [WELCOME]


def test_a_cancelled_send_puts_the_item_back(web: Web, browser: Any) -> None:  # noqa: F811
    queue_for_shop(web)
    web.ww.refuse = True
    sign_in(web, browser)
    browser.get(web.url + "/web/sidebar/group/" + SHOP)
    wait_for(browser, "return document.querySelectorAll('button.send').length === 2")
    browser.execute_script("document.querySelector('button.send').click()")
    wait_for(browser, "return document.querySelector('.item .state').textContent === '未发送'")
    with web.services.session_factory() as db:
        statuses = [r.status for r in outbox_rows.sendable_for_chat(db, SHOP)]
    assert statuses == ["waiting", "pending"]


def test_quiz_started_from_the_page_starts_its_clock_when_the_question_is_sent(web: Web, browser: Any) -> None:  # noqa: F811
    sign_in(web, browser)
    browser.get(web.url + "/web/sidebar/group/" + SHOP)
    wait_for(browser, "return document.querySelector('form[action$=\"/quiz\"]') !== null")
    browser.execute_script(
        """
        const form = document.querySelector('form[action$="/quiz"]');
        form.querySelector('select').value = 'q001';
        form.querySelector('input[name=seconds]').value = '120';
        form.submit();
        """
    )
    flash = wait_for(browser, "const f = document.querySelector('.flash'); return f && f.textContent")
    assert "发出后开始计时 120 秒" in flash
    kinds = browser.execute_script("return [...document.querySelectorAll('.item .kind')].map(e => e.textContent)")
    assert kinds == ["竞猜题目"]

    web.clock.advance(minutes=7)
    sent_at = web.clock.now()
    browser.execute_script("document.querySelector('button.send').click()")
    wait_for(browser, "return document.querySelector('.item .state').textContent === '已发送'")
    sent = browser.execute_script("return JSON.parse(sessionStorage.getItem('ww')).sent")
    text = sent[-1]["text"]["content"]
    deadline = sent_at + timedelta(seconds=120)
    assert "几点前下单可以当日达？" in text
    assert f"{deadline.astimezone(web.services.config().zone):%H:%M:%S} 截止" in text
    with web.services.session_factory() as db:
        quiz = db.scalars(select(Quiz)).one()
    assert (quiz.started_at, quiz.deadline_at) == (sent_at, deadline)


def test_one_to_one_page_shows_the_customer(web: Web, browser: Any) -> None:  # noqa: F811
    web.ww.entry, web.ww.userId = "single_chat_tools", "wmCustomer01"
    sign_in(web, browser)
    browser.get(web.url + "/web/sidebar")
    wait_for(browser, "return location.pathname.endsWith('/web/sidebar/contact/wmCustomer01')")
    labels = browser.execute_script("return [...document.querySelectorAll('.profile dt')].map(e => e.textContent)")
    values = browser.execute_script("return [...document.querySelectorAll('.profile dd')].map(e => e.textContent)")
    assert labels == ["积分", "等级"]
    assert values == ["可用 0 分 · 累计 0 分", "暂无"]
    screenshot(browser, "contact.png")
