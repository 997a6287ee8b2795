"""What both callback endpoints share: query parameters, body limits, and the refusal answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Response, abort, current_app, request

from bot.inbound.messages import InvalidMessage
from bot.services import Services
from bot.wecom.crypto import CallbackCrypto, MalformedPayload, SignatureRejected, StaleRequest

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


def open_post(crypto: CallbackCrypto, encrypted_field: Callable[[bytes], str], *, fresh_within: int) -> str:
    """Read a callback POST, verify its signature and freshness, and return the decrypted plaintext.

    Raises SignatureRejected (StaleRequest for a timestamp more than `fresh_within` seconds from
    now) or MalformedPayload; nothing has been stored when they are raised.
    """
    params = signed_params("msg_signature", "timestamp", "nonce")
    encrypted = encrypted_field(read_body())
    plaintext = crypto.decrypt(encrypted, params["msg_signature"], params["timestamp"], params["nonce"])
    # Checked after the signature, so the timestamp is WeCom's own. Wall time, not the service's clock:
    # WeCom signs with real time, while the service's clock may be a rehearsal's or a test's.
    check_fresh(params["timestamp"], time.time(), fresh_within)
    return plaintext


def check_fresh(timestamp: str, now: float, window: int) -> None:
    """Raise StaleRequest unless `timestamp` (Unix seconds) is within `window` seconds of `now`."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise StaleRequest(f"timestamp {timestamp[:20]!r} is not Unix seconds")
    skew = int(timestamp) - now
    if abs(skew) > window:
        raise StaleRequest(f"timestamp is {skew:+.0f} s from now, outside ±{window} s")


def refusal(channel: str, exc: SignatureRejected | MalformedPayload) -> Response:
    """403 for a request not signed for us, 400 for one we cannot read."""
    if isinstance(exc, StaleRequest):
        log.warning("%s callback refused from %s: %s", channel, request.remote_addr, exc)
        return plain("forbidden", 403)
    if isinstance(exc, SignatureRejected):
        log.warning("%s callback with a bad signature or receive id from %s", channel, request.remote_addr)
        return plain("forbidden", 403)
    log.warning("%s callback refused from %s: %s", channel, request.remote_addr, exc)
    return plain(f"malformed request: {exc}", 400)


def ignored(channel: str, exc: InvalidMessage) -> Response:
    """Answer 200 to a signed message of impossible shape, so WeCom stops retrying it; change nothing else."""
    log.warning("%s callback: signed message %r ignored: %s", channel, exc.msg_id, exc.reason)
    return plain("")
