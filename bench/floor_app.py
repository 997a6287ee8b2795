"""The floor: what no WeCom callback service can skip (verify, decrypt, parse), then an empty 200.

Served by gunicorn from bench/callback_vs_floor.py as `bench.floor_app:create()`; the credentials
come from the environment so the floor answers the very requests the project answers.
`create_durable()` adds the least a service that loses no callback must do: record the event in
the database (the project's de-dup claim, one transaction) before answering. It bounds any design
that keeps one durable row per callback, an inbox processed later included.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Response, request
from wechatpy.work import parse_message
from wechatpy.work.crypto import WeChatCrypto


def create() -> Flask:
    """A Flask app with one route that verifies, decrypts and parses an app callback."""
    crypto = WeChatCrypto(os.environ["FLOOR_TOKEN"], os.environ["FLOOR_AES_KEY"], os.environ["FLOOR_CORP_ID"])
    app = Flask(__name__)

    @app.post("/wecom/callback")
    def callback() -> Response:
        args = request.args
        plaintext = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
        parse_message(plaintext)
        return Response("", mimetype="text/plain")

    return app


# The durable floor's de-dup keys carry this prefix, so its rows are told apart from the project's.
DURABLE_KEY_PREFIX = "floor:"


def create_durable() -> Flask:
    """The floor plus one durable row: the event's de-dup claim committed before the 200."""
    # Imported here so the plain floor loads nothing of the project.
    from models.db import make_engine, make_session_factory
    from models.processed_event import claim_event

    crypto = WeChatCrypto(os.environ["FLOOR_TOKEN"], os.environ["FLOOR_AES_KEY"], os.environ["FLOOR_CORP_ID"])
    engine = make_engine(os.environ["FLOOR_DATABASE_URL"])
    sessions = make_session_factory(engine)
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    app = Flask(__name__)

    @app.post("/wecom/callback")
    def callback() -> Response:
        args = request.args
        plaintext = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
        message = parse_message(plaintext)
        with sessions.begin() as session:
            claim_event(
                session,
                dedup_key=f"{DURABLE_KEY_PREFIX}{message.id}",
                source="app",
                kind=message.type,
                chat_id=None,
                user_id=message.source,
                received_at=datetime.now(UTC),
            )
        return Response("", mimetype="text/plain")

    return app


# What 帮助 and 签到 write, in the database's own SQL with the driver's placeholders. 帮助: the
# de-dup claim, the member's first sighting, the answer's outbox row. 签到 adds the check-in (its
# streak read from yesterday's row), the activity count, the ledger row and the account's credit.
_WRITTEN_SQL = {
    "claim": "INSERT INTO processed_events (dedup_key, source, kind, user_id, received_at)"
    " VALUES ({key}, 'app', 'text', {user}, {now}) ON CONFLICT DO NOTHING RETURNING dedup_key",
    "person": "INSERT INTO people (user_id, first_seen_at) VALUES ({user}, {now}) ON CONFLICT DO NOTHING",
    "checkin": "INSERT INTO checkins (user_id, day, streak, points, created_at)"
    " SELECT CAST({user} AS VARCHAR), CAST({day} AS DATE),"
    " COALESCE((SELECT streak FROM checkins WHERE user_id = {user} AND day = {yesterday}), 0)"
    " + 1, 10, {now} WHERE true ON CONFLICT DO NOTHING RETURNING streak",
    "activity": "INSERT INTO activity_hours (chat_id, user_id, hour, kind, count) VALUES ({direct}, {user}, {hour},"
    " 'checkin', 1)"
    " ON CONFLICT (chat_id, user_id, hour, kind) DO UPDATE SET count = activity_hours.count + 1",
    "ledger": "INSERT INTO points_ledger (key, user_id, delta, reason, actor, day, created_at)"
    " VALUES ({key}, {user}, 10, 'checkin', {user}, {day}, {now}) ON CONFLICT DO NOTHING RETURNING id",
    "account": "INSERT INTO points_accounts (user_id, balance, earned, updated_at) VALUES ({user}, 10, 10, {now})"
    " ON CONFLICT (user_id) DO UPDATE SET balance = points_accounts.balance + excluded.balance,"
    " earned = points_accounts.earned + excluded.earned, updated_at = excluded.updated_at RETURNING balance",
    "answer": "INSERT INTO outbox"
    " (channel, target_kind, target, payload, status, attempts, next_attempt_at, created_at, origin)"
    " VALUES ('app_message', 'user', {user}, {payload}, 'pending', 0, {now}, {now}, {key}) RETURNING id",
}
_WRITTEN_BY = {"帮助": ("person", "answer"), "签到": ("person", "checkin", "activity", "ledger", "account", "answer")}
# The written floor's members: their check-ins are told apart from the project's by this prefix.
WRITTEN_USER_PREFIX = "written"


def create_written() -> Flask:
    """The floor plus every row 帮助 or 签到 writes, on the driver's own connection: the most either can reach.

    One transaction per callback as the project's, but no ORM, no pool, no routing, no log line: a
    hand-written service that does the command's durable work and nothing else. The answers are
    the size of the project's; the rows carry DURABLE_KEY_PREFIX like the durable floor's.
    """
    import json

    from models.activity import DIRECT
    from models.db import make_engine

    crypto = WeChatCrypto(os.environ["FLOOR_TOKEN"], os.environ["FLOOR_AES_KEY"], os.environ["FLOOR_CORP_ID"])
    engine = make_engine(os.environ["FLOOR_DATABASE_URL"])
    sqlite = engine.dialect.name == "sqlite"
    names = ("key", "user", "now", "day", "yesterday", "hour", "direct", "payload")
    marks = {name: (f":{name}" if sqlite else f"%({name})s") for name in names}
    sql = {name: text.format(**marks) for name, text in _WRITTEN_SQL.items()}
    answers = {"帮助": "帮助" * 400, "签到": "签到成功" * 10}
    held: list[Any] = []
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    app = Flask(__name__)

    def stamp(value: datetime) -> object:
        # SQLite keeps naive UTC text, as the project's column type writes it.
        return value.replace(tzinfo=None).isoformat(sep=" ") if sqlite else value

    @app.post("/wecom/callback")
    def callback() -> Response:
        args = request.args
        plaintext = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
        message = parse_message(plaintext)
        command = "签到" if message.content.strip() == "签到" else "帮助"
        if not held:
            held.append(engine.raw_connection().driver_connection)
        connection = held[0]
        now = datetime.now(UTC)
        day = now.date()
        values = {
            "key": f"{DURABLE_KEY_PREFIX}{message.id}",
            "user": message.source,
            "now": stamp(now),
            "day": day.isoformat() if sqlite else day,
            "yesterday": (day - timedelta(days=1)).isoformat() if sqlite else day - timedelta(days=1),
            "hour": stamp(now.replace(minute=0, second=0, microsecond=0)),
            "direct": DIRECT,
            "payload": json.dumps({"msgtype": "text", "content": answers[command], "purpose": "answer"}),
        }
        cursor = connection.cursor()
        if sqlite:
            connection.lock_for_write()  # the project's writer lock (see models.db), then BEGIN IMMEDIATE
            cursor.execute("BEGIN IMMEDIATE")
        if cursor.execute(sql["claim"], values).fetchone():
            for name in _WRITTEN_BY[command]:
                cursor.execute(sql[name], values)
                if cursor.description:
                    cursor.fetchall()
        connection.commit()
        return Response("", mimetype="text/plain")

    return app
