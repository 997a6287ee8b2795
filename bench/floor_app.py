"""The floor: what no WeCom callback service can skip (verify, decrypt, parse), then an empty 200.

Served by gunicorn from bench/callback_vs_floor.py as `bench.floor_app:create()`; the credentials
come from the environment so the floor answers the very requests the project answers.
`create_durable()` adds the least a service that loses no callback must do: record the event in
the database (the project's de-dup claim, one transaction) before answering. It bounds any design
that keeps one durable row per callback, an inbox processed later included.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
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


# What 帮助 writes, in the database's own SQL with the driver's placeholders: the de-dup claim, the
# member's first sighting, the answer's outbox row.
_WRITTEN_SQL = (
    "INSERT INTO processed_events (dedup_key, source, kind, user_id, received_at)"
    " VALUES ({key}, 'app', 'text', {user}, {now}) ON CONFLICT DO NOTHING RETURNING dedup_key",
    "INSERT INTO people (user_id, first_seen_at) VALUES ({user}, {now}) ON CONFLICT DO NOTHING",
    "INSERT INTO outbox (channel, target_kind, target, payload, status, attempts, next_attempt_at, created_at, origin)"
    " VALUES ('app_message', 'user', {user}, {payload}, 'pending', 0, {now}, {now}, {key}) RETURNING id",
)


def create_written() -> Flask:
    """The floor plus every row 帮助 writes, on the driver's own connection: the most 帮助 can reach.

    One transaction per callback as the project's, but no ORM, no pool, no routing, no log line: a
    hand-written service that does 帮助's durable work and nothing else. The answer text is the
    same size as the project's help; its rows carry DURABLE_KEY_PREFIX like the durable floor's.
    """
    import json

    from models.db import make_engine

    crypto = WeChatCrypto(os.environ["FLOOR_TOKEN"], os.environ["FLOOR_AES_KEY"], os.environ["FLOOR_CORP_ID"])
    engine = make_engine(os.environ["FLOOR_DATABASE_URL"])
    sqlite = engine.dialect.name == "sqlite"
    marks = {name: (f":{name}" if sqlite else f"%({name})s") for name in ("key", "user", "now", "payload")}
    claim, person, answer = (sql.format(**marks) for sql in _WRITTEN_SQL)
    payload = json.dumps({"msgtype": "text", "content": "帮助" * 400, "mentions": [], "purpose": "answer"})
    held: list[Any] = []
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    app = Flask(__name__)

    @app.post("/wecom/callback")
    def callback() -> Response:
        args = request.args
        plaintext = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
        message = parse_message(plaintext)
        if not held:
            held.append(engine.raw_connection().driver_connection)
        connection = held[0]
        now = datetime.now(UTC)
        values = {
            "key": f"{DURABLE_KEY_PREFIX}{message.id}",
            "user": message.source,
            # SQLite keeps naive UTC text, as the project's column type writes it.
            "now": now.replace(tzinfo=None).isoformat(sep=" ") if sqlite else now,
            "payload": payload,
        }
        cursor = connection.cursor()
        if sqlite:
            connection.lock_for_write()  # the project's writer lock (see models.db), then BEGIN IMMEDIATE
            cursor.execute("BEGIN IMMEDIATE")
        if cursor.execute(claim, values).fetchone():
            cursor.execute(person, values)
            cursor.execute(answer, values).fetchone()
        connection.commit()
        return Response("", mimetype="text/plain")

    return app
