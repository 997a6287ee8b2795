"""Read a callback's outer envelope before its signature is checked: bounded, flat, and nothing more.

Anyone on the internet can POST to the callback URLs, so what is read before verification must
not be able to cost more than a linear scan: `json.loads` recurses once per nesting level (a
deeply nested body raises RecursionError), so the nesting depth is measured first, without
recursion, and a body deeper than an envelope can be is refused as malformed (400).
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from bot.wecom.crypto import MalformedPayload

# WeCom's JSON envelope is {"encrypt": "..."}: one level. A little room for fields WeCom may add.
ENVELOPE_MAX_DEPTH = 4
# The decrypted aibot message: message → mixed → msg_item → [item] → text → content is six levels.
MESSAGE_MAX_DEPTH = 12


def json_depth_within(data: str, limit: int) -> bool:
    """Tell whether the JSON text `data` nests objects and arrays no deeper than `limit`, scanning once."""
    depth = 0
    in_string = False
    escaped = False
    for char in data:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def bounded_json_object(data: bytes | str, limit: int) -> dict[str, Any]:
    """Parse `data` as a JSON object no deeper than `limit`, or raise MalformedPayload."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise MalformedPayload("not UTF-8") from exc
    if not json_depth_within(text, limit):
        raise MalformedPayload(f"JSON nested deeper than {limit} levels")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError cannot happen below the limit; kept as a net
        raise MalformedPayload(f"not JSON ({type(exc).__name__})") from exc
    if not isinstance(value, dict):
        raise MalformedPayload("JSON body is not an object")
    return value


def json_envelope_encrypt(body: bytes) -> str:
    """Return the "encrypt" string of an aibot envelope."""
    envelope = bounded_json_object(body, ENVELOPE_MAX_DEPTH)
    encrypted = envelope.get("encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise MalformedPayload('no "encrypt" string in the body')
    return _base64_text(encrypted)


def _base64_text(encrypted: str) -> str:
    # The ciphertext is base64; anything else (a lone surrogate, say) cannot even be hashed for the signature.
    if not encrypted.isascii():
        raise MalformedPayload("the encrypted field is not base64 text")
    return encrypted


def safe_xml(data: bytes | str) -> Element:
    """Parse XML with DTDs, entities and external references refused instead of expanded.

    expat builds the tree without recursion, so depth costs memory linear in the (64 KiB) body only.
    """
    try:
        return SafeET.fromstring(data, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedPayload(f"not acceptable XML ({type(exc).__name__})") from exc


def xml_envelope_encrypt(body: bytes) -> str:
    """Return the <Encrypt> text of an app envelope; a nested or repeated <Encrypt> is malformed."""
    if not body:
        raise MalformedPayload("empty body")
    root = safe_xml(body)
    found = root.findall("Encrypt")
    if len(found) != 1 or len(found[0]) != 0:
        raise MalformedPayload("the body needs exactly one plain <Encrypt> element")
    encrypted = (found[0].text or "").strip()
    if not encrypted:
        raise MalformedPayload("no <Encrypt> element")
    return _base64_text(encrypted)
