"""The cryptographic half of the test suite's fake Web Push service (tests/src/mock/push.rs).

main signs VAPID tokens and encrypts push payloads with Rust crates (web-push-native, jsonwebtoken). The fake
checks them with an independent implementation, so a mistake shared by main's crates and the tests cannot hide:
http_ece (the aes128gcm reference code by the author of RFC 8188) for the payload, `cryptography` for ECDSA.

Modes (argv[1]); each reads one JSON object on stdin and prints one JSON line:

  verify-decrypt  checks a push request's VAPID Authorization (RFC 8292) and decrypts its body (RFC 8291):
                  {authorization, body_b64, private_key_b64, auth_b64, origin, content_encoding}
                  -> {ok: true, plaintext_b64, claims, k} | {ok: false, stage: "vapid"|"payload"|"size", error}
  encrypt         {plaintext_b64, p256dh, auth_b64} -> {body_b64}, from a fresh sender key (the fake's own tests)
  sign-vapid      {private_key_b64, aud, exp, sub} -> {authorization} (the fake's own tests)

Binary fields named *_b64 are standard base64 when they carry a body or plaintext, base64url otherwise (keys,
secrets), as in the Push API. The exit code is 0 whenever a JSON answer was printed, including {ok: false}.
"""

import base64
import json
import re
import sys
import time

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CURVE = ec.SECP256R1()
# RFC 8030 §7.2: a push service need not accept more than 4096 octets of payload (real ones answer 413 beyond).
MAX_BODY = 4096
B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class Refused(Exception):
    """The request is wrong; `stage` says which check failed: "vapid", "payload" or "size" (too large)."""

    def __init__(self, stage, message):
        super().__init__(message)
        self.stage = stage


def b64url_decode(text, what):
    """Strict unpadded base64url (RFC 7515 §2), as JWS, VAPID's `k` and the Push API's keys use."""
    if not isinstance(text, str) or not B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError(f"{what} is not unpadded base64url: {text!r:.80}")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_key(raw):
    if len(raw) != 32:
        raise ValueError(f"a P-256 private key is 32 bytes, not {len(raw)}")
    return ec.derive_private_key(int.from_bytes(raw, "big"), CURVE)


def uncompressed(public_key):
    return public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def parse_authorization(value):
    """`vapid t=<jwt>, k=<key>` (RFC 8292 §3): scheme case-insensitive, parameters in any order, spaces allowed."""
    m = re.fullmatch(r"\s*vapid\s+(.*?)\s*", value or "", re.IGNORECASE | re.DOTALL)
    if not m:
        raise Refused("vapid", f"Authorization is not the vapid scheme: {value!r:.80}")
    params = {}
    for part in m.group(1).split(","):
        name, eq, val = part.partition("=")
        name, val = name.strip().lower(), val.strip()
        if not eq or not name:
            raise Refused("vapid", f"malformed vapid parameter {part!r:.80}")
        if name in params:
            raise Refused("vapid", f"vapid parameter {name} given twice")
        params[name] = val[1:-1] if len(val) >= 2 and val[0] == val[-1] == '"' else val
    missing = [p for p in ("t", "k") if p not in params]
    if missing:
        raise Refused("vapid", f"vapid parameter(s) missing: {', '.join(missing)}")
    return params["t"], params["k"]


def verify_vapid(authorization, origin):
    """Checks the token and returns (claims, k)."""
    token, k = parse_authorization(authorization)
    try:
        point = b64url_decode(k, "k")
        if len(point) != 65:
            raise ValueError(f"not an uncompressed point (65 bytes, RFC 8292 §3.2): {len(point)} bytes")
        key = ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)
    except ValueError as e:
        raise Refused("vapid", f"k is not a P-256 public key: {e}")
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("vapid", f"t is not a compact JWS (3 parts, got {len(parts)})")
    try:
        header = json.loads(b64url_decode(parts[0], "JWT header"))
        claims = json.loads(b64url_decode(parts[1], "JWT claims"))
        signature = b64url_decode(parts[2], "JWT signature")
    except ValueError as e:
        raise Refused("vapid", f"undecodable JWT: {e}")
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise Refused("vapid", f"JWT alg must be ES256 (RFC 8292 §2), header is {header}")
    if len(signature) != 64:
        raise Refused("vapid", f"ES256 signature must be raw r||s of 64 bytes, got {len(signature)}")
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("vapid", "JWT signature does not verify with k")
    if not isinstance(claims, dict):
        raise Refused("vapid", f"JWT claims are not an object: {claims}")
    if claims.get("aud") != origin:
        raise Refused("vapid", f"aud {claims.get('aud')!r} is not the push resource's origin {origin!r}")
    exp, now = claims.get("exp"), time.time()
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise Refused("vapid", f"exp missing or not a number: {exp!r}")
    if exp <= now:
        raise Refused("vapid", f"exp {exp} is in the past (now {int(now)})")
    if exp > now + 24 * 3600:
        raise Refused("vapid", f"exp {exp} is more than 24 h ahead (RFC 8292 §2; now {int(now)})")
    sub = claims.get("sub")
    if not (isinstance(sub, str) and sub.startswith(("mailto:", "https:"))):
        raise Refused("vapid", f"sub must be a mailto: or https: contact URI (RFC 8292 §2.1), got {sub!r}")
    return claims, k


def decrypt(body, private_key_b64, auth_b64, content_encoding):
    """The aes128gcm body (RFC 8291 §4): one record whose keyid is the sender's 65-byte public key."""
    if content_encoding != "aes128gcm":
        raise Refused("payload", f"Content-Encoding must be aes128gcm, got {content_encoding!r}")
    if len(body) > MAX_BODY:
        raise Refused("size", f"body of {len(body)} bytes is over {MAX_BODY} (RFC 8030 §7.2)")
    if len(body) < 21 or body[20] != 65:
        raise Refused("payload", "keyid must be the sender's uncompressed public key (65 bytes, RFC 8291 §4)")
    rs, records = int.from_bytes(body[16:20], "big"), body[21 + 65 :]
    if len(records) < 17:
        raise Refused("payload", "no record after the header (a record is at least a 16-byte tag + delimiter)")
    if len(records) > rs:
        raise Refused("payload", f"more than one record (rs {rs}); RFC 8291 §4 allows a single record")
    key = private_key(b64url_decode(private_key_b64, "private_key_b64"))
    auth = b64url_decode(auth_b64, "auth_b64")
    try:
        return http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm")
    except (http_ece.ECEException, ValueError) as e:
        raise Refused("payload", f"decryption failed: {getattr(e, 'message', e)}")


def verify_decrypt(req):
    claims = k = None
    try:
        claims, k = verify_vapid(req.get("authorization"), req["origin"])
        body = base64.b64decode(req["body_b64"], validate=True)
        plaintext = decrypt(body, req["private_key_b64"], req["auth_b64"], req.get("content_encoding"))
    except Refused as e:
        return {"ok": False, "stage": e.stage, "error": str(e), "claims": claims, "k": k}
    return {"ok": True, "plaintext_b64": base64.b64encode(plaintext).decode(), "claims": claims, "k": k}


def encrypt(req):
    sender = ec.generate_private_key(CURVE)
    body = http_ece.encrypt(
        base64.b64decode(req["plaintext_b64"], validate=True),
        private_key=sender,
        dh=b64url_decode(req["p256dh"], "p256dh"),
        auth_secret=b64url_decode(req["auth_b64"], "auth_b64"),
        # keyid stays None: http_ece then writes the sender's uncompressed public key (a str keyid would be
        # UTF-8 encoded, so the raw point cannot be passed).
        version="aes128gcm",
    )
    return {"body_b64": base64.b64encode(body).decode()}


def sign_vapid(req):
    key = private_key(b64url_decode(req["private_key_b64"], "private_key_b64"))
    header = b64url(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
    claims = b64url(json.dumps({"aud": req["aud"], "exp": req["exp"], "sub": req["sub"]}).encode())
    der = key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    signature = b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    k = b64url(uncompressed(key.public_key()))
    return {"authorization": f"vapid t={header}.{claims}.{signature}, k={k}"}


MODES = {"verify-decrypt": verify_decrypt, "encrypt": encrypt, "sign-vapid": sign_vapid}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        sys.exit(f"usage: webpush.py {{{'|'.join(MODES)}}} < request.json")
    print(json.dumps(MODES[sys.argv[1]](json.load(sys.stdin))))
