"""smtp-mta end to end: Python's smtplib and swaks against the running smtp-mta, which queues and
delivers over LMTP to the running lmtp-mda; results checked in the Maildir and the queue."""
import os
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

from harness import StackTest, http_get, wait_for

DOMAIN = "example.com"


def msg(subject, body="Hello.\r\n", sender="bob@remote.test", extra_headers=""):
    return (f"From: {sender}\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@remote.test>\r\n{extra_headers}\r\n{body}")


class SmtpBase(StackTest):
    users = ("alice", "bob")

    def setUp(self):
        super().setUp()
        for u in self.users:
            self.stack.add_user(f"{u}@{DOMAIN}")
        self.configure()
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")

    def configure(self):
        pass

    def smtp(self, port=None):
        c = smtplib.SMTP("127.0.0.1", port or self.stack.smtp_port, timeout=30)
        c.ehlo("client.remote.test")
        return c

    def inbox(self, user="alice"):
        return self.stack.messages(f"{user}@{DOMAIN}")

    def wait_inbox(self, n, user="alice", timeout=20):
        return wait_for(lambda: len(self.inbox(user)) >= n and self.inbox(user), timeout=timeout,
                        what=f"{n} message(s) in {user}'s Maildir")

    def raw(self, port=None):
        s = socket.create_connection(("127.0.0.1", port or self.stack.smtp_port), timeout=30)
        f = s.makefile("rwb")
        assert f.readline().startswith(b"220 ")
        return s, f


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise AssertionError("connection closed")
        lines.append(line)
        if line[3:4] != b"-":
            return b"".join(lines)


class SmtpDeliveryTests(SmtpBase):
    def test_smtplib_delivery_end_to_end_with_trace_headers(self):
        c = self.smtp()
        self.assertTrue(c.has_extn("starttls"))
        for ext in ("pipelining", "8bitmime", "smtputf8", "size", "enhancedstatuscodes", "chunking", "dsn"):
            self.assertTrue(c.has_extn(ext), ext)
        c.mail("bob@remote.test")
        self.assertEqual(c.rcpt(f"alice@{DOMAIN}")[0], 250)
        code, resp = c.data(msg("end to end").encode())
        self.assertEqual(code, 250, resp)
        qid = resp.decode().rsplit(" ", 1)[1]
        c.quit()
        m = self.wait_inbox(1)[0]
        # One id follows the message: smtp-mta's transaction and queue id, passed to lmtp-mda
        # with XFORWARD IDENT.
        self.assertIn(f"with ESMTP id {qid}".encode(), m)
        self.assertIn(f"with LMTP id {qid}".encode(), m)
        wait_for(lambda: f"id={qid}" in self.stack.log("lmtp-mda"), what="the queue id in lmtp-mda's log")
        self.assertIn(b"Delivered-To: alice@example.com\r\n", m)
        self.assertIn(b"Received: from client.remote.test ([127.0.0.1])\r\n\tby mx.test (mailstack) with ESMTP id ", m)
        self.assertIn(b"Authentication-Results: mx.test;", m)
        self.assertTrue(m.endswith(msg("end to end").encode()))

    def test_starttls_delivery_records_tls_in_received(self):
        c = self.smtp()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.starttls(context=ctx)
        c.ehlo("client.remote.test")
        self.assertFalse(c.has_extn("starttls"))
        c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], msg("over tls"))
        c.quit()
        m = self.wait_inbox(1)[0]
        self.assertIn(b"with ESMTPS id", m)
        self.assertIn(b"(using TLSv1", m)

    def test_swaks_with_tls(self):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.stack.smtp_port}", "--tls",
                            "--from", "carol@remote.test", "--to", f"bob@{DOMAIN}",
                            "--header", "Subject: via swaks", "--body", "swaks body"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("250 2.0.0 Ok: queued as", r.stdout)
        m = self.wait_inbox(1, user="bob")[0]
        self.assertIn(b"Subject: via swaks", m)

    def test_unknown_user_is_550_511(self):
        c = self.smtp()
        c.mail("bob@remote.test")
        code, resp = c.rcpt(f"nobody@{DOMAIN}")
        self.assertEqual(code, 550)
        self.assertIn(b"5.1.1", resp)
        c.quit()

    def test_open_relay_attempts_are_refused(self):
        c = self.smtp()
        c.mail("spammer@remote.test")
        for rcpt, codes in [
            ("victim@other.test", (554,)),
            (f"victim%other.test@{DOMAIN}", (550,)),
            (f'"victim@other.test"@{DOMAIN}', (501, 550, 554)),
            ("@relay.test:victim@other.test", (501, 554)),
            ("victim", (501, 550, 554)),
            (f"victim@other.test@{DOMAIN}", (501, 550, 554)),
        ]:
            code, resp = c.rcpt(rcpt)
            self.assertIn(code, codes, f"{rcpt}: {code} {resp}")
        code, resp = c.rcpt("victim@other.test")
        self.assertIn(b"5.7.1", resp)
        c.quit()
        time.sleep(0.5)
        self.assertEqual(self.stack.mailctl("queue", "list").stdout.strip().splitlines()[-1],
                         "-- 0 message(s) in the queue")

    def test_smuggling_does_not_create_a_second_message(self):
        for i, evil in enumerate([b"\n.\n", b"\r.\n", b"\n.\r\n"]):
            s, f = self.raw()
            f.write(b"EHLO smuggler.test\r\n"); f.flush()
            read_reply(f)
            f.write(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n"); f.flush()
            for _ in range(3):
                read_reply(f)
            f.write(b"Subject: smuggle " + str(i).encode() + b"\r\n\r\nfirst" + evil +
                    b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n"
                    b"Subject: smuggled\r\n\r\nsecond\r\n.\r\n")
            f.flush()
            reply = read_reply(f)
            self.assertTrue(reply.startswith(b"554 5.5.2"), reply)
            f.write(b"QUIT\r\n"); f.flush()
            s.close()
        time.sleep(1)
        self.assertEqual(self.inbox("alice"), [])
        self.assertEqual(self.inbox("bob"), [])

    def test_commands_pipelined_with_starttls_are_discarded(self):
        s, f = self.raw()
        f.write(b"EHLO x.test\r\n"); f.flush()
        read_reply(f)
        # MAIL FROM sent in the same packet as STARTTLS must not survive the TLS upgrade.
        s.sendall(b"STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n")
        self.assertTrue(read_reply(f).startswith(b"220 2.0.0"))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s, server_hostname="mx.test")
        tf = t.makefile("rwb")
        tf.write(b"EHLO x.test\r\n"); tf.flush()
        self.assertTrue(read_reply(tf).startswith(b"250"))
        tf.write(b"RCPT TO:<alice@example.com>\r\n"); tf.flush()
        self.assertTrue(read_reply(tf).startswith(b"503"), "the injected MAIL FROM was executed")
        t.close()

    def test_oversize_and_too_many_recipients(self):
        c = self.smtp()
        code, _ = c.mail("bob@remote.test", [f"SIZE={30 * 1024 * 1024}"])
        self.assertEqual(code, 552)
        c.rset()
        c.mail("bob@remote.test")
        for i in range(100):
            c.rcpt(f"alice+{i}@{DOMAIN}")
        code, resp = c.rcpt(f"alice@{DOMAIN}")
        self.assertEqual(code, 452, resp)
        self.assertIn(b"4.5.3", resp)
        c.rset()
        # Undeclared and too big: read to the end, then refused; the session goes on.
        big = msg("big", body=("x" * 998 + "\r\n") * (26 * 1024))
        c.mail("bob@remote.test")
        c.rcpt(f"alice@{DOMAIN}")
        code, resp = c.data(big.encode())
        self.assertEqual(code, 552, resp)
        self.assertIn(b"5.3.4", resp)
        self.assertEqual(c.noop()[0], 250)
        c.quit()
        self.assertEqual(self.inbox(), [])

    def test_bdat_chunking(self):
        s, f = self.raw()
        f.write(b"EHLO x.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.com>\r\n"); f.flush()
        for _ in range(3):
            read_reply(f)
        part1 = b"Subject: chunked\r\n\r\nline one\r\n.dot line"
        part2 = b" continues\r\n"
        f.write(b"BDAT %d\r\n" % len(part1) + part1); f.flush()
        self.assertTrue(read_reply(f).startswith(b"250"))
        f.write(b"BDAT %d LAST\r\n" % len(part2) + part2); f.flush()
        self.assertTrue(read_reply(f).startswith(b"250 2.0.0 Ok: queued as"))
        s.close()
        m = self.wait_inbox(1)[0]
        self.assertTrue(m.endswith(part1 + part2))

    def test_mail_loop_is_refused(self):
        c = self.smtp()
        hops = "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Thu, 26 Nov 2026 00:00:00 +0000\r\n"
                       for i in range(60))
        with self.assertRaises(smtplib.SMTPDataError) as e:
            c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], hops + msg("loop"))
        self.assertEqual(e.exception.smtp_code, 554)
        self.assertIn(b"5.4.6", e.exception.smtp_error)
        c.quit()

    def test_relay_listener_accepts_local_mail_for_trusted_clients(self):
        c = self.smtp(self.stack.relay_port)
        c.sendmail("alice@example.com", [f"bob@{DOMAIN}"], msg("via relay", sender="alice@example.com"))
        c.quit()
        self.wait_inbox(1, user="bob")

    def test_metrics_and_readiness(self):
        url = self.stack.admin_url("smtp-mta")
        self.assertEqual(http_get(url + "/readyz")[0], 200)
        c = self.smtp()
        c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], msg("metrics"))
        c.quit()
        self.assertIn('mailstack_smtp_messages_total{result="queued",listener="mx"} 1', http_get(url + "/metrics")[1])


class SmtpTimeoutTests(SmtpBase):
    def configure(self):
        cfg = open(self.stack.config).read().replace('timeout = "30s"\nshutdown_grace = "10s"\n\n[queue]',
                                                     'timeout = "2s"\nshutdown_grace = "10s"\n\n[queue]')
        open(self.stack.config, "w").write(cfg)

    def test_slow_client_is_disconnected(self):
        s, f = self.raw()
        start = time.monotonic()
        reply = read_reply(f)  # nothing sent: the server gives up
        self.assertTrue(reply.startswith(b"421 4.4.2"), reply)
        self.assertLess(time.monotonic() - start, 15)
        s.close()


class QueueFailureTests(SmtpBase):
    def test_lmtp_down_mail_is_queued_then_delivered(self):
        self.stack.stop("lmtp-mda")
        c = self.smtp()
        c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], msg("while down"))
        c.quit()
        listing = wait_for(lambda: "alice@example.com" in self.stack.mailctl("queue", "list").stdout
                           and self.stack.mailctl("queue", "list").stdout, what="the message in the queue")
        self.assertIn("1 message(s)", listing)
        self.assertEqual(self.inbox(), [])
        self.stack.start("lmtp-mda")
        self.wait_inbox(1, timeout=30)
        wait_for(lambda: "-- 0 message(s)" in self.stack.mailctl("queue", "list").stdout, what="empty queue")

    def test_queue_admin_hold_release_delete_flush(self):
        self.stack.stop("lmtp-mda")
        c = self.smtp()
        c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], msg("held one"))
        c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], msg("deleted one"))
        c.quit()
        ids = [line.split()[0] for line in self.stack.mailctl("queue", "list").stdout.splitlines()
               if line and not line.startswith((" ", "--"))]
        self.assertEqual(len(ids), 2)
        shown = {i: self.stack.mailctl("queue", "show", i).stdout for i in ids}
        held = next(i for i in ids if "held one" in shown[i])
        deleted = next(i for i in ids if "deleted one" in shown[i])
        self.stack.mailctl("queue", "hold", held)
        self.stack.mailctl("queue", "delete", deleted)
        self.assertIn("(held)", self.stack.mailctl("queue", "list").stdout)
        self.stack.start("lmtp-mda")
        self.stack.mailctl("queue", "flush")
        time.sleep(3)
        self.assertEqual(self.inbox(), [], "a held or deleted message was delivered")
        self.stack.mailctl("queue", "release", held)
        self.stack.mailctl("queue", "flush")
        m = self.wait_inbox(1)
        self.assertIn(b"held one", m[0])
        r = self.stack.mailctl("queue", "show", deleted, check=False)
        self.assertNotEqual(r.returncode, 0)

    def test_permanent_lmtp_failure_sends_dsn_to_local_sender(self):
        self.stack.add_user(f"tiny@{DOMAIN}", quota="2K")
        wait_for(lambda: True)
        c = self.smtp(self.stack.relay_port)
        body = "z" * 6000 + "\r\n"
        deadline = time.monotonic() + 5
        while True:  # the users file is re-read within a second
            try:
                c.sendmail(f"bob@{DOMAIN}", [f"tiny@{DOMAIN}"], msg("too big for tiny", body=body, sender=f"bob@{DOMAIN}"))
                break
            except smtplib.SMTPRecipientsRefused:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        c.quit()
        dsn = self.wait_inbox(1, user="bob", timeout=30)[0]
        self.assertIn(b"Return-Path: <>", dsn)
        self.assertIn(b"multipart/report", dsn)
        self.assertIn(b"report-type=delivery-status", dsn.replace(b'"', b""))
        self.assertIn(b"Final-Recipient: rfc822;tiny@example.com", dsn.replace(b"; ", b";"))
        self.assertIn(b"Status: 5.2.2", dsn)
        self.assertEqual(self.inbox("tiny"), [])


class MtaCrashTests(SmtpBase):
    def test_sigkill_under_load_every_acknowledged_message_is_delivered(self):
        acked, lock, stop = set(), threading.Lock(), threading.Event()

        def worker(n):
            i = 0
            while not stop.is_set():
                try:
                    c = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=10)
                    while not stop.is_set():
                        marker = f"w{n}m{i}"
                        i += 1
                        c.sendmail("bob@remote.test", [f"alice@{DOMAIN}"], msg(marker, body=f"{marker}\r\n" * 50))
                        with lock:
                            acked.add(marker)
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.05)

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 60, timeout=90, what="60 acknowledged messages")
        self.stack.procs["smtp-mta"].send_signal(signal.SIGKILL)
        self.stack.procs["smtp-mta"].wait()
        stop.set()
        for t in threads:
            t.join(timeout=15)
        self.stack.start("smtp-mta")

        def all_there():
            subjects = set()
            for m in self.inbox():
                for line in m.split(b"\r\n"):
                    if line.startswith(b"Subject: "):
                        subjects.add(line[9:].decode())
                        break
            return acked <= subjects
        wait_for(all_there, timeout=60, what="every acknowledged message in the Maildir")


class MtaStartupErrorTests(StackTest):
    def test_unreadable_certificate_is_a_clear_start_up_error(self):
        self.stack.add_user(f"alice@{DOMAIN}")
        os.makedirs(os.path.join(self.tmp, "tls"))
        with open(os.path.join(self.tmp, "tls", "cert.pem"), "w") as f:
            f.write("not a certificate\n")
        p = self.stack.start("smtp-mta", wait=False)
        self.assertNotEqual(p.wait(timeout=20), 0)
        log = self.stack.log("smtp-mta")
        self.assertIn(os.path.join(self.tmp, "tls", "cert.pem"), log)

    def test_port_in_use_is_a_clear_start_up_error(self):
        self.stack.add_user(f"alice@{DOMAIN}")
        self.stack.make_certificate()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.stack.smtp_port))
            s.listen()
            p = self.stack.start("smtp-mta", wait=False)
            self.assertNotEqual(p.wait(timeout=20), 0)
        log = self.stack.log("smtp-mta")
        self.assertIn(f"cannot listen on 127.0.0.1:{self.stack.smtp_port}: address already in use", log)
