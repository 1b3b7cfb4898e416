"""A milter for the end-to-end tests, written with Debian's python3-milter (libmilter's Python
binding): `python3 pymilter_app.py PORT NAME LOGFILE [connect-reject]`.

What it does is chosen by the message, so one process serves a whole test:
- sender `slow@...`: never answers MAIL (sleeps 60 s); `reject-sender@...`: rejects MAIL.
- recipient `rcpt-reject@...`: 550 with its own text; `rcpt-tempfail@...`: tempfail.
- Subject at end of message: `accept`, `reject` (554 5.7.1 with its own text), `tempfail`,
  `discard`, `quarantine`, `addheader`, `insheader`, `chgheader` (X-Change), `delheader`
  (X-Delete), `chgfrom`, `addrcpt` (bob@example.com), `delrcpt` (bob@example.com),
  `replacebody`; anything else: continue.
Every event is appended to LOGFILE as a JSON line, so tests can see what the milter saw.
With `connect-reject` it refuses every connection with 554 5.7.1."""
import json
import sys
import threading
import time

import Milter

PORT, NAME, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CONNECT_REJECT = len(sys.argv) > 4 and sys.argv[4] == "connect-reject"
_lock = threading.Lock()


def log(**event):
    with _lock, open(LOG, "a") as f:
        f.write(json.dumps({"milter": NAME, **event}) + "\n")


class TestMilter(Milter.Base):
    def __init__(self):
        self.headers = []
        self.subject = ""

    def connect(self, hostname, family, hostaddr):
        log(event="connect", hostname=hostname, addr=str(hostaddr), j=self.getsymval("j"))
        if CONNECT_REJECT:
            self.setreply("554", "5.7.1", "Connection refused by the test milter")
            return Milter.REJECT
        return Milter.CONTINUE

    def hello(self, name):
        log(event="helo", name=name)
        return Milter.CONTINUE

    def envfrom(self, sender, *params):
        log(event="mail", sender=sender, params=list(params), queue_id=self.getsymval("i"))
        if sender.startswith("<slow@"):
            time.sleep(60)
        if sender.startswith("<reject-sender@"):
            return Milter.REJECT
        self.headers = []
        self.subject = ""
        return Milter.CONTINUE

    def envrcpt(self, rcpt, *params):
        log(event="rcpt", rcpt=rcpt, params=list(params), rcpt_addr=self.getsymval("{rcpt_addr}"))
        if rcpt.startswith("<rcpt-reject@"):
            self.setreply("550", "5.7.1", "Recipient refused by the test milter")
            return Milter.REJECT
        if rcpt.startswith("<rcpt-tempfail@"):
            return Milter.TEMPFAIL
        return Milter.CONTINUE

    def data(self):
        log(event="data")
        return Milter.CONTINUE

    def header(self, name, value):
        log(event="header", name=name, value=value)
        self.headers.append((name, value))
        if name.lower() == "subject":
            self.subject = value.strip()
        return Milter.CONTINUE

    def eoh(self):
        log(event="eoh")
        return Milter.CONTINUE

    def body(self, chunk):
        log(event="body", size=len(chunk))
        return Milter.CONTINUE

    def eom(self):
        action = self.subject
        log(event="eom", action=action, queue_id=self.getsymval("i"))
        if action == "accept":
            self.addheader("X-Milter-Accepted", NAME)
            return Milter.ACCEPT
        if action == "reject":
            self.setreply("554", "5.7.1", f"Rejected by {NAME}: looks like spam")
            return Milter.REJECT
        if action == "tempfail":
            return Milter.TEMPFAIL
        if action == "discard":
            return Milter.DISCARD
        if action == "quarantine":
            self.quarantine(f"held by {NAME}")
        elif action == "addheader":
            self.addheader("X-Milter-Added", NAME)
        elif action == "insheader":
            self.addheader("X-Milter-Inserted", NAME, 1)
        elif action == "chgheader":
            self.chgheader("X-Change", 1, "changed by " + NAME)
        elif action == "delheader":
            self.chgheader("X-Delete", 1, None)
        elif action == "chgfrom":
            self.chgfrom("<changed-sender@example.org>")
        elif action == "addrcpt":
            self.addrcpt("<bob@example.com>")
        elif action == "delrcpt":
            self.delrcpt("<bob@example.com>")
        elif action == "replacebody":
            self.replacebody(b"Body replaced by the milter.\r\n")
        return Milter.CONTINUE

    def abort(self):
        log(event="abort")
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


if __name__ == "__main__":
    Milter.factory = TestMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT
                     | Milter.DELRCPT | Milter.QUARANTINE | Milter.CHGFROM)
    Milter.runmilter(NAME, f"inet:{PORT}@127.0.0.1", 240)
