"""The floor: what no WeCom callback service can skip (verify, decrypt, parse), then an empty 200.

Served by gunicorn from bench/callback_vs_floor.py as `bench.floor_app:create()`; the credentials
come from the environment so the floor answers the very requests the project answers.
"""

from __future__ import annotations

import os

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
