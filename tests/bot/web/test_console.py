"""The admin console in headless Chromium: every page with seeded data, charts drawn with the seeded numbers,
tables as in the database, sign-in everywhere, a guide limited to their groups, CSRF, and audited actions."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.web.auth import create_login_link
from models import console_audit, groupbuy
from models import outbox as outbox_rows
from tests.bot.web import console_world as world
from tests.bot.web.conftest import OTHER, SHOP, Web
from tests.bot.web.test_auth import link_sign_in
from tests.browser import browser  # noqa: F401 - the fixture

LAPTOP = (1366, 900)
PAGES = {
    "overview": "/web/console",
    "groups": "/web/console/groups",
    "group": f"/web/console/group/{SHOP}",
    "members": "/web/console/members?q=张",
    "member": "/web/console/member/zhangsan",
    "deals": "/web/console/deals",
    "quizzes": "/web/console/quizzes",
    "reactivation": "/web/console/reactivation",
    "guides": "/web/console/guides",
}
# Where screenshots go when GROUPBOT_SCREENSHOTS names a folder (to look at them, or refresh docs/).
SHOTS = os.environ.get("GROUPBOT_SCREENSHOTS")


@pytest.fixture
def seeded(web: Web) -> dict[str, int]:
    return world.seed(web)


@pytest.fixture
def laptop(browser: Any) -> Iterator[Any]:  # noqa: F811
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": LAPTOP[0], "height": LAPTOP[1], "deviceScaleFactor": 1, "mobile": False},
    )
    browser.delete_all_cookies()
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def sign_in(web: Web, driver: Any, user: str) -> None:
    path = create_login_link(web.services.session_factory, user, web.clock.now(), 10)
    driver.get(web.url + path + "?next=/web/console")


def cells(driver: Any, table_id: str) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def chart_series(driver: Any, chart_id: str) -> dict[str, list[float]]:
    """What ECharts actually drew: the option of the chart instance on that element."""
    option = driver.execute_script(
        "var c = echarts.getInstanceByDom(document.getElementById(arguments[0]));"
        "return c ? {x: c.getOption().xAxis[0].data, series: c.getOption().series.map("
        "function (s) { return [s.name, s.data]; })} : null;",
        chart_id,
    )
    assert option is not None, f"{chart_id} was not drawn"
    drawn = driver.execute_script(
        "return document.getElementById(arguments[0]).querySelectorAll('svg path, svg rect').length;", chart_id
    )
    assert drawn > 0
    return {name: data for name, data in option["series"]}


def shot(driver: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": LAPTOP[0], "height": min(max(height, LAPTOP[1]), 2400), "deviceScaleFactor": 1, "mobile": False},
        )
        driver.save_screenshot(str(Path(SHOTS) / f"console-{name}.png"))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": LAPTOP[0], "height": LAPTOP[1], "deviceScaleFactor": 1, "mobile": False},
        )


def test_every_page_renders_the_seeded_data_with_charts(web: Web, seeded: dict[str, int], laptop: Any) -> None:
    driver = laptop
    sign_in(web, driver, "boss")
    assert urlsplit(driver.current_url).path == "/web/console"

    # 概览: inbound by channel, leader, failed rows with hints, caps, waiting.
    assert driver.find_element(By.TAG_NAME, "h1").text == "概览"
    assert cells(driver, "inbound") == [["智能机器人", "0", "2"], ["自建应用", "3", "3"]]
    series = chart_series(driver, "chart-inbound")
    assert sum(series["自建应用"]) == 3 and sum(series["智能机器人"]) == 2
    assert series["自建应用"][-1] == 3  # all today
    assert "正常运行" in driver.page_source and world.LEADER in driver.page_source
    failed = cells(driver, "failed")
    assert [row[1] for row in failed] == ["二店福利群", "福利群"]
    assert all("企业微信拒绝了这条消息" in row[3] for row in failed)
    assert cells(driver, "caps") == [["福利群", str(world.CAP_USED), "30"], ["二店福利群", "0", "30"]]
    shot(driver, "overview")

    # 群: members now, active and dormant, the join/leave chart and its table, what was sent by which route.
    driver.get(web.url + PAGES["group"])
    assert driver.find_element(By.ID, "members").text == str(world.SHOP_MEMBERS)
    assert driver.find_element(By.ID, "active").text == str(world.SHOP_ACTIVE)
    assert driver.find_element(By.ID, "dormant").text == str(world.SHOP_DORMANT)
    drawn = chart_series(driver, "chart-members")
    assert len(drawn["入群"]) == 30
    for days_ago, (joins, leaves) in world.SHOP_CHANGES.items():
        assert drawn["入群"][29 - days_ago] == joins and drawn["退群"][29 - days_ago] == leaves
    numbers = driver.find_elements(By.CSS_SELECTOR, "table[data-chart=chart-members] tbody tr")
    read = [
        [float(td.get_attribute("textContent")) for td in row.find_elements(By.TAG_NAME, "td")[1:]] for row in numbers
    ]
    assert read == [[a, b] for a, b in zip(drawn["入群"], drawn["退群"], strict=True)]
    assert cells(driver, "board") == [["1", "张三", "30"], ["2", "李四", "5"]]
    planned = cells(driver, "planned")
    assert len(planned) == 7 and planned[0][1:] == ["今晚上新：11月22日", "待发送"]
    sent = cells(driver, "sent")
    assert sent[0][1:3] == ["侧边栏（导购发送）", "王导购"] and "阳光玫瑰葡萄" in sent[0][3]
    shot(driver, "group")

    for name in ("groups", "members", "member", "deals", "quizzes", "reactivation", "guides"):
        driver.get(web.url + PAGES[name])
        assert "群助手后台" in driver.title
        assert "wrShop" not in driver.find_element(By.TAG_NAME, "main").text  # names, never chat ids
        shot(driver, name)
        if name == "members":
            assert cells(driver, "found") == [["张三"]]
        if name == "member":
            assert driver.find_element(By.ID, "balance").text == "30"
            assert driver.find_element(By.ID, "guide").text == "王导购"
            assert [row[1:3] for row in cells(driver, "ledger")] == [["竞猜", "20"], ["签到", "10"]]
            assert cells(driver, "answers")[0][2:4] == ["云南", "对"]
            assert cells(driver, "signups")[0][0] == "阳光玫瑰葡萄"
        if name == "quizzes":
            assert cells(driver, "quizzes")[0][1:6] == ["福利群", "葡萄的产地是哪里？", "2", "1", "张三"]
        if name == "reactivation":
            lift = chart_series(driver, "chart-lift")["回访率"]
            assert tuple(lift) == world.LIFT
            assert driver.find_element(By.ID, "lift").text == "+50.0 个百分点"
        if name == "guides":
            rows = cells(driver, "guides")
            assert rows[0][:6] == ["赵导购", "1", "1", "3", "177.00", "1"]
            assert rows[1][:6] == ["王导购", "1", "2", "3", "119.70", "2"]
            assert chart_series(driver, "chart-guides")["GMV（元）"] == [177.0, 119.7]
            assert chart_series(driver, "chart-guide-people") == {"报名数": [1, 2], "带来成员": [1, 2]}

    driver.get(web.url + f"/web/console/deal/{seeded['grapes']}")
    assert [row[:4] for row in cells(driver, "roster")] == [["1", "张三", "2", "已确认"], ["2", "李四", "1", "已确认"]]
    shot(driver, "deal")


def test_close_deal_from_the_page_is_audited(web: Web, seeded: dict[str, int], laptop: Any) -> None:
    driver = laptop
    sign_in(web, driver, "guide01")
    driver.get(web.url + f"/web/console/deal/{seeded['grapes']}")
    driver.execute_script("window.confirm = function () { return true; };")
    driver.find_element(By.ID, "close-deal").click()
    # The click posts a form and a new page replaces this one: wait for it rather than read the old heading.
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script(
            "const h = document.querySelector('h1'); return h && h.textContent.includes('已成团');"
        )
    )
    with web.services.session_factory() as db:
        assert (
            groupbuy.find(db, driver.find_element(By.TAG_NAME, "h1").text.split("团号 ")[1].split()[0]).status
            == "closed"
        )
        [action] = console_audit.recent(db)
        assert (action.actor, action.action) == ("guide01", "截团")
    # The admin sees it on 概览.
    driver.delete_all_cookies()
    sign_in(web, driver, "boss")
    assert cells(driver, "audit")[0][1:3] == ["王导购", "截团"]


def test_login_is_required_everywhere(web: Web, seeded: dict[str, int]) -> None:
    client = web.app.test_client()
    for path in [
        *PAGES.values(),
        f"/web/console/deal/{seeded['grapes']}",
        f"/web/console/deal/{seeded['grapes']}/export.csv",
    ]:
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/web/console/login?next=")
    # POSTs without a session: no CSRF token either, so refused before anything changes.
    assert client.post(f"/web/console/outbox/{seeded['failed_shop']}/retry").status_code in (401, 403)
    assert client.get("/web/console/login").status_code == 200


def test_wecom_web_login_by_scan(web: Web) -> None:
    client = web.app.test_client()
    page = client.get("/web/console/login?next=/web/console/deals").get_data(as_text=True)
    assert "企业微信扫码登录" in page
    start = client.get("/web/console/login/wecom?next=/web/console/deals")
    location = urlsplit(start.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "login.work.weixin.qq.com" and location.path == "/wwlogin/sso/login"
    assert query["login_type"] == ["CorpApp"] and query["redirect_uri"] == [web.url + "/web/oauth"]
    web.fake.oauth_codes["scan-code"] = "boss"
    done = client.get("/web/oauth", query_string={"code": "scan-code", "state": query["state"][0]})
    assert (done.status_code, done.headers["Location"]) == (302, "/web/console/deals")
    assert client.get("/web/console/deals").status_code == 200
    # A forged state is refused; a member who scans is refused.
    other = web.app.test_client()
    other.get("/web/console/login/wecom")
    assert other.get("/web/oauth", query_string={"code": "scan-code", "state": "forged"}).status_code == 403


def csrf_from(client: FlaskClient) -> str:
    page = client.get("/web/console").get_data(as_text=True)
    return page.split('data-csrf="', 1)[1].split('"', 1)[0]


def test_guide_sees_and_acts_only_on_their_groups(web: Web, seeded: dict[str, int]) -> None:
    client = web.app.test_client()
    link_sign_in(web, client, "guide01")
    token = csrf_from(client)
    page = client.get("/web/console").get_data(as_text=True)
    assert "二店福利群" not in page and "福利群" in page and "收到的消息" not in page
    assert client.get(f"/web/console/group/{OTHER}").status_code == 403
    assert client.get(f"/web/console/deal/{seeded['oranges']}").status_code == 403
    assert client.get(f"/web/console/deal/{seeded['oranges']}/export.csv").status_code == 403
    assert client.get("/web/console/member/zhaoliu").status_code == 403
    assert client.get("/web/console/reactivation").status_code == 403
    assert "赣南脐橙" not in client.get("/web/console/deals").get_data(as_text=True)
    assert "赵导购" not in client.get("/web/console/guides").get_data(as_text=True)
    # Acting on another guide's row or deal is refused and changes nothing.
    assert (
        client.post(f"/web/console/outbox/{seeded['failed_other']}/retry", data={"csrf_token": token}).status_code
        == 403
    )
    assert client.post(f"/web/console/deal/{seeded['oranges']}/close", data={"csrf_token": token}).status_code == 403
    with web.services.session_factory() as db:
        assert db.get(outbox_rows.OutboxMessage, seeded["failed_other"]).status == "failed"
        assert db.get(groupbuy.Deal, seeded["oranges"]).status == "open"
        assert console_audit.recent(db) == []
    # Their own row: retried and audited.
    done = client.post(f"/web/console/outbox/{seeded['failed_shop']}/retry", data={"csrf_token": token})
    assert done.status_code == 302
    with web.services.session_factory() as db:
        assert db.get(outbox_rows.OutboxMessage, seeded["failed_shop"]).status == "pending"
        [action] = console_audit.recent(db)
        assert (action.actor, action.action, action.result) == ("guide01", "重试", "已重新排队")


def test_csrf_is_enforced_on_actions(web: Web, seeded: dict[str, int]) -> None:
    client = web.app.test_client()
    link_sign_in(web, client, "boss")
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(f"/web/console/outbox/{seeded['failed_shop']}/retry", data=data).status_code == 403
        assert client.post(f"/web/console/deal/{seeded['grapes']}/close", data=data).status_code == 403
    with web.services.session_factory() as db:
        assert db.get(outbox_rows.OutboxMessage, seeded["failed_shop"]).status == "failed"
        assert db.get(groupbuy.Deal, seeded["grapes"]).status == "open"
        assert console_audit.recent(db) == []


def test_exports_have_chinese_headers_and_the_roster(web: Web, seeded: dict[str, int]) -> None:
    client = web.app.test_client()
    link_sign_in(web, client, "boss")
    answer = client.get(f"/web/console/deal/{seeded['grapes']}/export.csv")
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["跟团号", "名字", "数量", "状态", "导购", "报名时间"]
    assert [r[:5] for r in rows[1:]] == [["1", "张三", "2", "已确认", "王导购"], ["2", "李四", "1", "已确认", "王导购"]]
    book = load_workbook(io.BytesIO(client.get("/web/console/guides/export.xlsx").get_data()))
    sheet = book.active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "导购" and values[1][:2] == ["赵导购", 1]
