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
