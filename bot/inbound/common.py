"""What both callback endpoints share: query parameters, body limits, and the refusal answers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Response, abort, current_app, request

from bot.services import Services
from bot.wecom.crypto import CallbackCrypto, MalformedPayload, SignatureRejected

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


def services() -> Services:
    return current_app.extensions["groupbot"]


def signed_params(*names: str) -> dict[str, str]:
    """Return the required query parameters or answer 400."""
    values = {name: request.args.get(name, "") for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        abort(plain(f"missing query parameter(s): {', '.join(missing)}", 400))
    return values


def plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def read_body() -> bytes:
    """Return the request body, or answer 413 when it is over MAX_BODY_BYTES, also when sent chunked."""
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        # Werkzeug's max-length stream stops silently at the limit; read one byte past it to tell.
        stream = request.environ["wsgi.input"]
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_BODY_BYTES:
            chunk = stream.read(MAX_BODY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    else:
        data = request.get_data(cache=False)  # a Content-Length over the limit has already raised 413
    if len(data) > MAX_BODY_BYTES:
        abort(413)
    return data


def not_configured(channel: str, keys: str) -> Response:
    log.warning("%s callback called but %s are empty in the config; answering 503", channel, keys)
    return plain(f"{channel} channel is not configured", 503)


def answer_url_verification(crypto: CallbackCrypto, channel: str) -> Response:
    """Answer WeCom's signed GET with the decrypted echostr, or refuse it."""
    params = signed_params("msg_signature", "timestamp", "nonce", "echostr")
    try:
        echo = crypto.verify_url(params["msg_signature"], params["timestamp"], params["nonce"], params["echostr"])
    except (SignatureRejected, MalformedPayload) as exc:
        return refusal(channel, exc)
    return plain(echo)


def open_post(crypto: CallbackCrypto, encrypted_field: Callable[[bytes], str]) -> str:
    """Read a callback POST, verify its signature and return the decrypted plaintext.

    Raises SignatureRejected or MalformedPayload; nothing has been stored when they are raised.
    """
    params = signed_params("msg_signature", "timestamp", "nonce")
    encrypted = encrypted_field(read_body())
    return crypto.decrypt(encrypted, params["msg_signature"], params["timestamp"], params["nonce"])


def refusal(channel: str, exc: SignatureRejected | MalformedPayload) -> Response:
    """403 for a request not signed for us, 400 for one we cannot read."""
    if isinstance(exc, SignatureRejected):
        log.warning("%s callback with a bad signature or receive id from %s", channel, request.remote_addr)
        return plain("forbidden", 403)
    log.warning("%s callback refused: %s", channel, exc)
    return plain(f"malformed request: {exc}", 400)
