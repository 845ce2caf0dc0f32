#!/usr/bin/env python3
"""Rebuild fuzz/seeds/ from the sample payloads (default /work/shared/payloads).

Usage: python3 fuzz/seeds/regenerate.py [PAYLOAD_DIR]

* <target>_decode/: the vendor sample bodies, copied byte for byte, plus
  one careers-site `application.status_changed` body taken from the example
  in the doc comment of `careers_site::APPLICATION_STATUS_CHANGED` (there is
  no sample file for it).
* signature_verify/: one correctly signed delivery per signed sample, in
  the target's `<secret> NUL <headers> NUL <body>` format, with the
  x-fuzz-now / x-fuzz-now-ms / x-fuzz-max-age pseudo-headers set so that
  the delivery is also fresh. Greenhouse and Lever signatures and the
  outbound Standard Webhooks signature come from signatures.json; the
  careers-site application sample has none there, so it is signed here
  with the test secret from signatures.json.
"""

import base64
import hashlib
import hmac
import json
import pathlib
import shutil
import sys

HERE = pathlib.Path(__file__).resolve().parent
PAYLOADS = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/payloads")

STATUS_CHANGED = (
    b'{"type": "application.status_changed", "changed_at": "2026-01-05T09:00:00Z",\n'
    b' "application": {"id": "sub_01JB7Y3K9Q2W5E8R1T4Y6U0I3O", "ats": "careers_site",'
    b' "status": "hired",\n "stage": "Hired", "start_date": "2026-02-01"}}\n'
)


REGRESSIONS = {
    "found_by_fuzzer_start_date_nel.json": b'{"type": "application.status_changed", "changed_at": "2005T09:00:00Z",\n "application": {"id": "\\u0301", "start_dat,e": "2026-ged", "": "\xc2\x8526-01-052-\xc2\xa0"}}\n',
    "start_date_unicode_space.json": b'{"type":"application.status_changed","application":{"id":"x","start_date":"\\u3000226-1-1X"}}',
}


def reset(name):
    d = HERE / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    return d


def copy(prefix, target):
    d = reset(target)
    for f in sorted(PAYLOADS.glob(prefix + "*.json")):
        shutil.copyfile(f, d / f.name)
    return d


def seed(secret, headers, body):
    lines = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return secret.encode() + b"\0" + lines.encode() + b"\0" + body


def main():
    copy("careers_site_", "careers_site_decode")
    (HERE / "careers_site_decode" / "doc_application_status_changed.json").write_bytes(STATUS_CHANGED)
    # Inputs that once failed a target (docs/FUZZING.md, Findings): kept as
    # seeds so every run replays them; not regenerable, so kept across a reset.
    for name, data in REGRESSIONS.items():
        (HERE / "careers_site_decode" / name).write_bytes(data)
    copy("greenhouse_", "greenhouse_decode")
    copy("lever_", "lever_decode")

    sigs = json.loads((PAYLOADS / "signatures.json").read_text())
    out = reset("signature_verify")
    whsec = None
    for name, info in sorted(sigs.items()):
        body = (PAYLOADS / name).read_bytes()
        headers = {k: v for k, v in info["headers"].items() if k != "Content-Type"}
        if "signature_token" in info:  # Lever
            triggered = json.loads(body)["triggeredAt"]
            headers.update({"x-fuzz-now-ms": triggered, "x-fuzz-max-age": 86400})
            data = seed(info["signature_token"], headers, body)
        elif "webhook-signature" in headers:  # Standard Webhooks
            whsec = info["secret"]
            headers["x-fuzz-now"] = headers["webhook-timestamp"]
            data = seed(whsec, headers, body)
        elif "secret" in info:  # Greenhouse
            data = seed(info["secret"], headers, body)
        else:
            continue
        (out / (pathlib.Path(name).stem + ".seed")).write_bytes(data)

    # The careers-site sample, signed the Standard Webhooks way.
    body = (PAYLOADS / "careers_site_application_submitted.json").read_bytes()
    msg_id, ts = "msg_01JB7Y3K9Q2W5E8R1T4Y6U0I3O", "1756808130"
    key = base64.b64decode(whsec.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        "x-fuzz-now": ts,
    }
    (out / "careers_site_application_submitted.seed").write_bytes(seed(whsec, headers, body))


if __name__ == "__main__":
    main()
