"""The one module that touches wechatpy's callback crypto (WXBizMsgCrypt: SHA1 signature, AES-256-CBC).

Both WeCom channels use the same scheme; they differ only in the receive id (CorpID for the
self-built app, "" for the intelligent robot) and in wrapping (XML or JSON).
"""

from __future__ import annotations

import binascii
import struct
import time
import uuid

import defusedxml.ElementTree as SafeET
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.work.crypto import WeChatCrypto
from wechatpy.work.exceptions import InvalidCorpIdException


class SignatureRejected(Exception):
    """The request was not signed with our token, or was meant for another receive id (HTTP 403)."""


class StaleRequest(SignatureRejected):
    """A correctly signed request dated outside the freshness window: a replay, or a clock far off (HTTP 403)."""


class MalformedPayload(Exception):
    """The request was signed correctly but its content cannot be read (HTTP 400)."""


# What a corrupt ciphertext can raise inside wechatpy's decryptor.
_DECRYPT_ERRORS = (binascii.Error, ValueError, UnicodeDecodeError, struct.error, IndexError, TypeError)


class CallbackCrypto:
    def __init__(self, token: str, encoding_aes_key: str, receive_id: str):
        self._crypto = WeChatCrypto(token, encoding_aes_key, receive_id)

    def verify_url(self, signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """Check a URL-verification GET and return the decrypted echostr to answer with."""
        try:
            return self._crypto.check_signature(signature, timestamp, nonce, echostr)
        except (InvalidSignatureException, InvalidCorpIdException) as exc:
            raise SignatureRejected(type(exc).__name__) from exc
        except _DECRYPT_ERRORS as exc:
            raise MalformedPayload(f"echostr cannot be decrypted: {exc}") from exc

    def decrypt(self, encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
        """Verify the signature over `encrypted` and return the plaintext."""
        try:
            return self._crypto.decrypt_message({"Encrypt": encrypted}, signature, timestamp, nonce)
        except (InvalidSignatureException, InvalidCorpIdException) as exc:
            raise SignatureRejected(type(exc).__name__) from exc
        except _DECRYPT_ERRORS as exc:
            raise MalformedPayload(f"message cannot be decrypted: {exc}") from exc

    def encrypt(self, plaintext: str, *, nonce: str | None = None, timestamp: str | None = None) -> dict[str, str]:
        """Encrypt and sign a passive reply; return encrypt, msgsignature, timestamp and nonce."""
        nonce = nonce or uuid.uuid4().hex[:16]
        timestamp = timestamp or str(int(time.time()))
        # wechatpy renders the signed envelope as XML; the values are what both wrappings carry.
        envelope = SafeET.fromstring(self._crypto.encrypt_message(plaintext, nonce, timestamp))
        return {
            "encrypt": envelope.findtext("Encrypt") or "",
            "msgsignature": envelope.findtext("MsgSignature") or "",
            "timestamp": envelope.findtext("TimeStamp") or timestamp,
            "nonce": envelope.findtext("Nonce") or nonce,
        }
