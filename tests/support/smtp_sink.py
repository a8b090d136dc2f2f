#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd, from PyPI): each message it takes is parsed with
Python's own email package and written to DIR as <n>.json (envelope recipients, headers, the
plain and HTML parts); with --refuse it answers every message 554 (a permanent refusal). Prints
"ready" once listening; stops when its stdin closes. With --light (the benchmark) it only
writes the envelope's recipients to DIR/<n>.light, so that the sink's own parsing does not set
the pace. With --tls CERT KEY it offers STARTTLS and takes no mail before it (the session's
record says whether it was encrypted); with --delay S it takes S seconds over each message (a
slow server, for a worker killed mid-batch)."""
import argparse
import itertools
import logging
import json
import os
import asyncio
import ssl
import sys
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder, refuse, light, delay):
        self.folder, self.refuse, self.light, self.delay, self.n = folder, refuse, light, delay, itertools.count()

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return "554 5.7.1 refused by the test server"
        if self.light:
            with open(os.path.join(self.folder, "%06d.light" % next(self.n)), "w") as f:
                f.write(",".join(envelope.rcpt_tos))
            return "250 OK"
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "rcpt_tos": envelope.rcpt_tos,
            "mail_from": envelope.mail_from,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "reply_to": str(msg["Reply-To"] or ""),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "content_type": msg.get_content_type(),
            "text": plain.get_content() if plain else "",
            "html": html.get_content() if html else "",
            "tls": session.ssl is not None,
        }
        path = os.path.join(self.folder, "%06d.json" % next(self.n))
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--refuse", action="store_true")
    p.add_argument("--light", action="store_true")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    a = p.parse_args()
    # A refused handshake is what a test may want: not a traceback on the test's output.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    extra = {}
    if a.tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        extra = {"tls_context": ctx, "require_starttls": True}
    c = Controller(Sink(a.dir, a.refuse, a.light, a.delay), hostname="127.0.0.1", port=a.port, **extra)
    c.start()
    print("ready", flush=True)
    sys.stdin.read()
    c.stop()


if __name__ == "__main__":
    main()
