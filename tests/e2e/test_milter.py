"""smtp-mta's milter client end to end: a milter written with Debian's python3-milter
(tests/e2e/pymilter_app.py, libmilter underneath) on a free loopback port, the running smtp-mta
and lmtp-mda, smtplib and swaks as clients. Every milter action round-trips and is checked in
the delivered Maildir file (or the queue); connect- and RCPT-stage refusals, two milters in
order, a dead milter, a milter that never answers and the relay listener's own milter list."""
import json
import os
import smtplib
import socket
import subprocess
import sys
import time
import unittest

from harness import Stack, StackTest, free_port, wait_for

DOMAIN = "example.com"
HERE = os.path.dirname(os.path.abspath(__file__))


def msg(subject, extra_headers="", body="Hello from the milter test.\r\n"):
    return (f"From: carol@remote.test\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}.{time.monotonic_ns()}@remote.test>\r\n{extra_headers}\r\n{body}")


class PyMilter:
    """One pymilter process on a free loopback port."""

    def __init__(self, workdir, name, mode=None):
        self.port = free_port()
        self.name = name
        self.log = os.path.join(workdir, f"milter-{name}.jsonl")
        self.out = open(os.path.join(workdir, f"milter-{name}.out"), "ab")
        args = [sys.executable, os.path.join(HERE, "pymilter_app.py"), str(self.port), name, self.log]
        if mode:
            args.append(mode)
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.out)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"milter {name} exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, what=f"milter {name} listening")

    @property
    def address(self):
        return f"inet:127.0.0.1:{self.port}"

    def events(self, kind=None):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            events = [json.loads(line) for line in f if line.strip()]
        return [e for e in events if kind is None or e["event"] == kind]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.out.close()


class MilterBase(StackTest):
    """lmtp-mda and smtp-mta with the milters `milter_config()` names."""

    def setUp(self):
        super().setUp()
        self.milters = []
        self.addCleanup(lambda: [m.stop() for m in self.milters])
        self.stack = Stack(self.tmp, extra={"smtp_mta": self.milter_config()})
        for u in ("alice", "bob"):
            self.stack.add_user(f"{u}@{DOMAIN}")
        # Addresses the test milter refuses at RCPT (known to the directory, so they reach it).
        for a in ("rcpt-reject", "rcpt-tempfail"):
            self.stack.mailctl("alias", "add", f"{a}@{DOMAIN}", f"alice@{DOMAIN}")
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")

    def milter(self, name, mode=None):
        m = PyMilter(self.tmp, name, mode)
        self.milters.append(m)
        return m

    def milter_config(self):
        self.main = self.milter("main")
        return {"milters": [self.main.address]}

    def smtp(self, port=None):
        c = smtplib.SMTP("127.0.0.1", port or self.stack.smtp_port, timeout=30)
        c.ehlo("client.remote.test")
        return c

    def send(self, subject, rcpts=("alice",), extra_headers="", sender="carol@remote.test",
             port=None, body="Hello from the milter test.\r\n"):
        """(code, reply) of the end of DATA."""
        c = self.smtp(port)
        code, reply = c.mail(sender)
        self.assertEqual(code, 250, reply)
        for r in rcpts:
            code, reply = c.rcpt(f"{r}@{DOMAIN}")
            self.assertEqual(code, 250, reply)
        c.putcmd("data")
        code, reply = c.getreply()
        self.assertEqual(code, 354, reply)
        data = msg(subject, extra_headers, body).encode()
        c.send(data + b".\r\n")
        code, reply = c.getreply()
        c.quit()
        return code, reply.decode()

    def inbox(self, user="alice"):
        return self.stack.messages(f"{user}@{DOMAIN}")

    def delivered(self, subject, user="alice"):
        """The one delivered message whose Message-ID starts with `subject.` (see msg())."""
        def find():
            for m in self.inbox(user):
                if f"Message-ID: <{subject}.".encode() in m:
                    return m
            return None
        return wait_for(find, what=f"{subject!r} in {user}'s Maildir")

    def header_names(self, message):
        head = message.split(b"\r\n\r\n", 1)[0]
        return [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n")
                if line and line[:1] not in (b" ", b"\t")]

    def queue_empty(self):
        return wait_for(lambda: "-- 0 message(s)" in self.stack.mailctl("queue", "list").stdout,
                        what="an empty queue")


class MilterActionTests(MilterBase):
    def test_continue_delivers_and_the_milter_sees_the_whole_transaction(self):
        code, reply = self.send("plain")
        self.assertEqual(code, 250, reply)
        qid = reply.rsplit(" ", 1)[1]
        m = self.delivered("plain")
        self.assertIn(b"Hello from the milter test.", m)
        kinds = [e["event"] for e in self.main.events()]
        for k in ("connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom"):
            self.assertIn(k, kinds)
        self.assertEqual(self.main.events("connect")[0]["j"], "mx.test")
        self.assertEqual(self.main.events("helo")[0]["name"], "client.remote.test")
        self.assertEqual(self.main.events("mail")[-1]["queue_id"], qid, "macro i is the queue id")
        self.assertEqual(self.main.events("rcpt")[-1]["rcpt_addr"], f"alice@{DOMAIN}")
        # Our Received: header comes first, as Postfix's does.
        self.assertEqual(self.main.events("header")[0]["name"], "Received")
        self.assertIn(qid, self.main.events("header")[0]["value"])

    def test_accept(self):
        code, reply = self.send("accept")
        self.assertEqual(code, 250, reply)
        self.assertIn(b"X-Milter-Accepted: main", self.delivered("accept"))

    def test_reject_with_the_milters_own_reply(self):
        code, reply = self.send("reject")
        self.assertEqual(code, 554)
        self.assertEqual(reply, "5.7.1 Rejected by main: looks like spam")
        self.queue_empty()
        self.assertEqual(self.inbox(), [])

    def test_tempfail(self):
        code, reply = self.send("tempfail")
        self.assertEqual(code, 451)
        self.assertEqual(reply, "4.7.1 Service unavailable - try again later")
        self.queue_empty()

    def test_discard_answers_250_and_delivers_nothing(self):
        code, reply = self.send("discard")
        self.assertEqual(code, 250, reply)
        # A message sent after it arrives; the discarded one never does.
        self.assertEqual(self.send("plain")[0], 250)
        self.delivered("plain")
        self.queue_empty()
        self.assertEqual(len(self.inbox()), 1)
        self.assertIn("discarded by a milter", self.stack.log("smtp-mta"))

    def test_quarantine_holds_the_message_in_the_queue(self):
        code, reply = self.send("quarantine")
        self.assertEqual(code, 250, reply)
        qid = reply.rsplit(" ", 1)[1]
        listing = self.stack.mailctl("queue", "list").stdout
        self.assertIn(f"{qid} (held: held by main)", listing)
        shown = self.stack.mailctl("queue", "show", qid).stdout
        self.assertIn("held: true", shown)
        self.assertIn("hold reason: held by main", shown)
        self.stack.mailctl("queue", "flush")
        self.assertEqual(self.send("plain")[0], 250)
        self.delivered("plain")
        self.assertEqual(len(self.inbox()), 1, "the quarantined message is not delivered")
        self.stack.mailctl("queue", "release", qid)
        self.delivered("quarantine")

    def test_add_header(self):
        self.assertEqual(self.send("addheader")[0], 250)
        m = self.delivered("addheader")
        self.assertIn(b"\r\nX-Milter-Added: main\r\n", m)
        names = self.header_names(m)
        self.assertGreater(names.index("X-Milter-Added"), names.index("Subject"), "appended")

    def test_insert_header_at_index(self):
        self.assertEqual(self.send("insheader")[0], 250)
        m = self.delivered("insheader")
        names = self.header_names(m)
        # Index 1: right after the first header the milter saw, our Received:.
        i = names.index("X-Milter-Inserted")
        self.assertEqual(names[i - 1], "Received")
        self.assertLess(i, names.index("From"))
        self.assertIn(b"X-Milter-Inserted: main\r\n", m)

    def test_change_header(self):
        self.assertEqual(self.send("chgheader", extra_headers="X-Change: original\r\n")[0], 250)
        m = self.delivered("chgheader")
        self.assertIn(b"\r\nX-Change: changed by main\r\n", m)
        self.assertNotIn(b"original", m)

    def test_delete_header(self):
        self.assertEqual(self.send("delheader", extra_headers="X-Delete: remove me\r\nX-Keep: k\r\n")[0], 250)
        m = self.delivered("delheader")
        self.assertNotIn(b"X-Delete", m)
        self.assertIn(b"X-Keep: k", m)

    def test_change_sender(self):
        self.assertEqual(self.send("chgfrom")[0], 250)
        m = self.delivered("chgfrom")
        self.assertTrue(m.startswith(b"Return-Path: <changed-sender@example.org>\r\n"), m[:200])

    def test_add_recipient(self):
        self.assertEqual(self.send("addrcpt")[0], 250)
        self.delivered("addrcpt", "alice")
        self.delivered("addrcpt", "bob")

    def test_delete_recipient(self):
        self.assertEqual(self.send("delrcpt", rcpts=("alice", "bob"))[0], 250)
        self.delivered("delrcpt", "alice")
        self.assertEqual(self.send("plain", rcpts=("bob",))[0], 250)
        self.delivered("plain", "bob")
        self.assertEqual(len(self.inbox("bob")), 1, "bob was deleted from the first message")

    def test_replace_body(self):
        big = "x" * 70 + "\r\n"
        self.assertEqual(self.send("replacebody", body=big * 2000)[0], 250)
        m = self.delivered("replacebody")
        self.assertTrue(m.endswith(b"\r\n\r\nBody replaced by the milter.\r\n"), m[-200:])
        self.assertGreater(len(self.main.events("body")), 1, "the body went in several chunks")

    def test_rcpt_stage_refusals_are_per_recipient(self):
        c = self.smtp()
        c.mail("carol@remote.test")
        # Unknown users are refused before the milter sees them (like Postfix's restrictions).
        self.assertEqual(c.rcpt(f"nobody@{DOMAIN}")[0], 550)
        self.assertNotIn("<nobody@example.com>", [e["rcpt"] for e in self.main.events("rcpt")])
        code, reply = c.rcpt(f"rcpt-reject@{DOMAIN}")
        self.assertEqual((code, reply), (550, b"5.7.1 Recipient refused by the test milter"))
        code, reply = c.rcpt(f"rcpt-tempfail@{DOMAIN}")
        self.assertEqual((code, reply), (451, b"4.7.1 Service unavailable - try again later"))
        self.assertEqual(c.rcpt(f"bob@{DOMAIN}")[0], 250)
        code, reply = c.data(msg("plain").encode())
        self.assertEqual(code, 250, reply)
        c.quit()
        self.delivered("plain", "bob")
        self.assertEqual(self.inbox("alice"), [])

    def test_mail_stage_reject_and_rset_aborts(self):
        c = self.smtp()
        self.assertEqual(c.mail("reject-sender@remote.test"),
                         (550, b"5.7.1 Command rejected"))
        self.assertEqual(c.mail("carol@remote.test")[0], 250)
        self.assertEqual(c.rset()[0], 250)
        c.quit()
        wait_for(lambda: self.main.events("abort"), what="SMFIC_ABORT at the milter")

    def test_bdat_message_reaches_the_milter(self):
        s = socket.create_connection(("127.0.0.1", self.stack.smtp_port), timeout=30)
        f = s.makefile("rwb")
        self.assertTrue(f.readline().startswith(b"220 "))
        data = msg("addheader").replace("addheader.", "addheader.bdat.", 1).encode()
        f.write(b"EHLO client.remote.test\r\nMAIL FROM:<carol@remote.test>\r\n"
                + f"RCPT TO:<alice@{DOMAIN}>\r\n".encode()
                + f"BDAT {len(data)} LAST\r\n".encode() + data)
        f.flush()
        replies = []
        while len([r for r in replies if not r[3:4] == b"-"]) < 4:
            replies.append(f.readline())
        self.assertTrue(replies[-1].startswith(b"250 2.0.0 Ok: queued as"), replies)
        f.write(b"QUIT\r\n")
        f.flush()
        s.close()
        m = self.delivered("addheader.bdat")
        self.assertIn(b"X-Milter-Added: main", m)
        self.assertIn("data", [e["event"] for e in self.main.events()])

    def test_swaks_round_trip(self):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.stack.smtp_port}",
                            "--from", "carol@remote.test", "--to", f"alice@{DOMAIN}",
                            "--header", "Subject: addheader", "--header",
                            "Message-ID: <addheader.swaks@remote.test>", "--body", "swaks body"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = self.delivered("addheader")
        self.assertIn(b"X-Milter-Added: main", m)


class ConnectRejectTests(MilterBase):
    def milter_config(self):
        self.main = self.milter("gate", "connect-reject")
        return {"milters": [self.main.address]}

    def test_connect_reject_is_a_554_greeting_then_503(self):
        s = socket.create_connection(("127.0.0.1", self.stack.smtp_port), timeout=30)
        f = s.makefile("rwb")
        self.assertEqual(f.readline(), b"554 5.7.1 Connection refused by the test milter\r\n")
        f.write(b"EHLO x\r\n")
        f.flush()
        self.assertTrue(f.readline().startswith(b"503 5.5.1"))
        f.write(b"QUIT\r\n")
        f.flush()
        self.assertTrue(f.readline().startswith(b"221"))
        s.close()


class TwoMiltersTests(MilterBase):
    def milter_config(self):
        self.first = self.milter("first")
        self.second = self.milter("second")
        self.main = self.first
        return {"milters": [self.first.address, self.second.address]}

    def test_the_second_milter_sees_the_first_ones_header(self):
        self.assertEqual(self.send("addheader")[0], 250)
        m = self.delivered("addheader")
        added = [l for l in m.split(b"\r\n") if l.startswith(b"X-Milter-Added:")]
        self.assertEqual(added, [b"X-Milter-Added: first", b"X-Milter-Added: second"])
        seen = [(e["name"], e["value"]) for e in self.second.events("header")]
        self.assertIn(("X-Milter-Added", "first"), seen)
        self.assertNotIn("X-Milter-Added", [e["name"] for e in self.first.events("header")])

    def test_a_reject_by_the_first_milter_stops_the_chain(self):
        self.assertEqual(self.send("reject")[0], 554)
        self.assertEqual(self.second.events("eom"), [])


class MilterDownTests(MilterBase):
    def milter_config(self):
        return {"milters": [f"inet:127.0.0.1:{free_port()}"]}

    def test_a_dead_milter_means_4xx_by_default(self):
        with self.assertRaises(smtplib.SMTPConnectError) as e:
            smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        self.assertEqual(e.exception.smtp_code, 421)
        self.assertIn(b"4.7.1 Service unavailable - try again later", e.exception.smtp_error)
        metrics = urllib_get(self.stack.admin_url("smtp-mta") + "/metrics")
        self.assertIn('result="error"', metrics)


class MilterDownAcceptTests(MilterBase):
    def milter_config(self):
        return {"milters": [f"inet:127.0.0.1:{free_port()}"], "milter_default_action": "accept"}

    def test_a_dead_milter_is_skipped_with_default_accept(self):
        self.assertEqual(self.send("plain")[0], 250)
        self.delivered("plain")


class MilterTimeoutTests(MilterBase):
    def milter_config(self):
        self.main = self.milter("slow")
        self.accepting = self.milter("slow-accept")
        return {"milters": [f"{{ {self.main.address}, command_timeout=2s }}"],
                "relay_milters": [f"{{ {self.accepting.address}, command_timeout=2s, "
                                  "default_action=accept }"]}

    def test_a_milter_that_never_answers_times_out_into_the_default_action(self):
        c = self.smtp()
        start = time.monotonic()
        code, reply = c.mail("slow@remote.test")
        self.assertEqual((code, reply), (451, b"4.7.1 Service unavailable - try again later"))
        self.assertLess(time.monotonic() - start, 15)
        c.quit()
        # With default_action = accept (here on the relay listener) the mail goes through.
        c = self.smtp(self.stack.relay_port)
        self.assertEqual(c.mail("slow@remote.test")[0], 250)
        self.assertEqual(c.rcpt(f"alice@{DOMAIN}")[0], 250)
        self.assertEqual(c.data(msg("plain").encode())[0], 250)
        c.quit()
        self.delivered("plain")


class RelayMilterTests(MilterBase):
    def milter_config(self):
        self.main = self.milter("mx")
        self.relay = self.milter("relay")
        return {"milters": [self.main.address], "relay_milters": [self.relay.address]}

    def test_each_listener_uses_its_own_milters(self):
        self.assertEqual(self.send("addheader")[0], 250)
        self.assertIn(b"X-Milter-Added: mx\r\n", self.delivered("addheader"))
        c = self.smtp(self.stack.relay_port)
        c.mail("alice@example.com")
        c.rcpt(f"bob@{DOMAIN}")
        self.assertEqual(c.data(msg("addheader").encode())[0], 250)
        c.quit()
        m = self.delivered("addheader", "bob")
        self.assertIn(b"X-Milter-Added: relay\r\n", m)
        self.assertNotIn(b"X-Milter-Added: mx", m)
        self.assertEqual(len(self.relay.events("eom")), 1)
        self.assertEqual(len(self.main.events("eom")), 1)


def urllib_get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


if __name__ == "__main__":
    unittest.main()
