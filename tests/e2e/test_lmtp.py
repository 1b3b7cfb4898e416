"""lmtp-mda end to end: Python's smtplib.LMTP against the running binary, results checked in the
Maildir on disk."""
import os
import smtplib
import socket
import subprocess
import threading
import time

from harness import StackTest, http_get, wait_for

DOMAIN = "example.com"


def message(subject, body="Hello.\r\n", extra=b""):
    return (f"From: sender@remote.test\r\nTo: someone@{DOMAIN}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@remote.test>\r\n\r\n{body}").encode() + extra


class LmtpClient(smtplib.LMTP):
    """smtplib.LMTP that reads one DATA reply per accepted recipient, as RFC 2033 says."""

    def send_lmtp(self, sender, rcpts, msg):
        self.ehlo_or_helo_if_needed()
        code, resp = self.mail(sender)
        assert code == 250, (code, resp)
        accepted, refused = [], {}
        for r in rcpts:
            code, resp = self.rcpt(r)
            if code == 250:
                accepted.append(r)
            else:
                refused[r] = (code, resp.decode())
        if not accepted:
            self.rset()
            return refused, {}
        code, resp = self.putcmd("data") or self.getreply()
        assert code == 354, (code, resp)
        data = smtplib.quotedata(msg.decode("latin-1")).encode("latin-1")
        self.send(data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"))
        per_rcpt = {}
        for r in accepted:
            code, resp = self.getreply()
            per_rcpt[r] = (code, resp.decode())
        return refused, per_rcpt


def deliver_when_known(port, rcpt, msg, timeout=5):
    """Deliver once `rcpt` is known: the users file is re-read within a second of a change.
    A new connection per try, as repeated refusals would end the session (max_errors)."""
    def accepted():
        c = LmtpClient("127.0.0.1", port)
        try:
            _, res = c.send_lmtp("s@remote.test", [rcpt], msg)
            return res.get(rcpt, (0,))[0] == 250
        finally:
            c.close()
    wait_for(accepted, timeout=timeout, what=f"{rcpt} to be accepted")


class LmtpTests(StackTest):
    def setUp(self):
        super().setUp()
        s = self.stack
        for u in ("alice", "bob", "carol"):
            s.add_user(f"{u}@{DOMAIN}")
        s.add_user(f"tiny@{DOMAIN}", quota="4K")
        s.mailctl("alias", "add", f"postmaster@{DOMAIN}", f"alice@{DOMAIN}")
        s.mailctl("group", "add", f"team@{DOMAIN}", f"alice@{DOMAIN}", f"bob@{DOMAIN}", f"carol@{DOMAIN}")
        s.start()

    def client(self, unix=False):
        if unix:
            c = LmtpClient(self.stack.lmtp_socket)
        else:
            c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        c.ehlo_or_helo_if_needed()
        return c

    def test_lhlo_advertises_lmtp_extensions(self):
        c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        code, resp = c.ehlo("client.test")  # smtplib.LMTP sends LHLO
        self.assertEqual(code, 250)
        for ext in ("pipelining", "8bitmime", "enhancedstatuscodes", "size"):
            self.assertTrue(c.has_extn(ext), ext)
        self.assertEqual(c.esmtp_features["size"], str(25 * 1024 * 1024))
        c.quit()

    def test_ehlo_is_refused_in_lmtp(self):
        with socket.create_connection(("127.0.0.1", self.stack.lmtp_port)) as s:
            f = s.makefile("rwb")
            self.assertTrue(f.readline().startswith(b"220 mx.test"))
            f.write(b"EHLO x\r\n"); f.flush()
            self.assertTrue(f.readline().startswith(b"500 5.5.2"))

    def test_delivery_to_user_writes_complete_file_with_trace_headers(self):
        c = self.client()
        refused, res = c.send_lmtp("sender@remote.test", [f"alice@{DOMAIN}"], message("one"))
        self.assertEqual(refused, {})
        self.assertEqual(res[f"alice@{DOMAIN}"][0], 250)
        self.assertIn("2.0.0", res[f"alice@{DOMAIN}"][1])
        c.quit()
        msgs = self.stack.messages(f"alice@{DOMAIN}")
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertTrue(m.startswith(b"Return-Path: <sender@remote.test>\r\nDelivered-To: alice@example.com\r\nReceived: from "))
        self.assertTrue(m.endswith(message("one")), m)
        # Dovecot-style file name with S= equal to the file size, and nothing left in tmp/.
        md = self.stack.maildir(f"alice@{DOMAIN}")
        name = os.listdir(os.path.join(md, "new"))[0]
        self.assertIn(f",S={len(m)}", name)
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])
        # Default folders exist as Maildir++ subfolders.
        for folder in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
            self.assertTrue(os.path.isdir(os.path.join(md, "." + folder, "cur")), folder)

    def test_unix_socket_delivery(self):
        c = self.client(unix=True)
        _, res = c.send_lmtp("", [f"bob@{DOMAIN}"], message("via-unix"))
        self.assertEqual(res[f"bob@{DOMAIN}"][0], 250)
        c.quit()
        m = self.stack.messages(f"bob@{DOMAIN}")[0]
        self.assertTrue(m.startswith(b"Return-Path: <>\r\n"))

    def test_alias_group_and_subaddress(self):
        c = self.client()
        rcpts = [f"postmaster@{DOMAIN}", f"team@{DOMAIN}", f"carol+lists@{DOMAIN}", f"Bob@EXAMPLE.com"]
        refused, res = c.send_lmtp("sender@remote.test", rcpts, message("multi"))
        self.assertEqual(refused, {})
        self.assertEqual([res[r][0] for r in rcpts], [250, 250, 250, 250])
        c.quit()
        # alice: via postmaster and via team; bob: team + direct; carol: team + subaddress.
        self.assertEqual(len(self.stack.messages(f"alice@{DOMAIN}")), 2)
        self.assertEqual(len(self.stack.messages(f"bob@{DOMAIN}")), 2)
        carol = self.stack.messages(f"carol@{DOMAIN}")
        self.assertEqual(len(carol), 2)
        self.assertTrue(all(b"Delivered-To: carol@example.com\r\n" in m for m in carol))

    def test_unknown_user_is_550_and_others_still_delivered(self):
        c = self.client()
        refused, res = c.send_lmtp("s@remote.test", [f"nobody@{DOMAIN}", f"alice@{DOMAIN}"], message("x"))
        self.assertEqual(refused[f"nobody@{DOMAIN}"][0], 550)
        self.assertIn("5.1.1", refused[f"nobody@{DOMAIN}"][1])
        self.assertEqual(res[f"alice@{DOMAIN}"][0], 250)
        c.quit()
        self.assertFalse(os.path.exists(self.stack.maildir(f"nobody@{DOMAIN}")))

    def test_full_quota_is_552(self):
        c = self.client()
        big = message("big", body="x" * 6000 + "\r\n")
        _, res = c.send_lmtp("s@remote.test", [f"tiny@{DOMAIN}"], big)
        self.assertEqual(res[f"tiny@{DOMAIN}"][0], 552)
        self.assertIn("5.2.2", res[f"tiny@{DOMAIN}"][1])
        # A small one fits; maildirsize is kept in Dovecot's format.
        _, res = c.send_lmtp("s@remote.test", [f"tiny@{DOMAIN}"], message("small"))
        self.assertEqual(res[f"tiny@{DOMAIN}"][0], 250)
        with open(os.path.join(self.stack.maildir(f"tiny@{DOMAIN}"), "maildirsize")) as f:
            first = f.readline().strip()
        self.assertEqual(first, "4096S")
        # A message that would cross the limit is refused at DATA; what is stored stays.
        _, res = c.send_lmtp("s@remote.test", [f"tiny@{DOMAIN}"], message("fill", body="y" * 3900 + "\r\n"))
        self.assertEqual(res[f"tiny@{DOMAIN}"][0], 552)
        c.quit()
        self.assertEqual(len(self.stack.messages(f"tiny@{DOMAIN}")), 1)

    def test_bare_lf_is_refused_and_does_not_end_data(self):
        c = self.client()
        c.mail("s@remote.test")
        c.rcpt(f"alice@{DOMAIN}")
        c.putcmd("data")
        self.assertEqual(c.getreply()[0], 354)
        # A smuggling attempt: bare-LF "." lines must not end the data.
        c.send(b"Subject: smuggle\r\n\r\nline\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nevil\r\n.\r\n")
        code, resp = c.getreply()
        self.assertEqual(code, 554, resp)
        self.assertIn(b"5.5.2", resp)
        # The session is still in sync: a NOOP is answered normally.
        self.assertEqual(c.noop()[0], 250)
        c.quit()
        self.assertEqual(self.stack.messages(f"alice@{DOMAIN}"), [])
        self.assertEqual(self.stack.messages(f"bob@{DOMAIN}"), [])

    def test_message_over_size_limit_is_552_and_session_continues(self):
        c = self.client()
        # Declared too big: refused at MAIL.
        code, resp = c.mail("s@remote.test", ["SIZE=31457280"])
        self.assertEqual(code, 552, resp)
        # Undeclared 30 MB: read to the end, then refused; nothing stored.
        c.mail("s@remote.test")
        c.rcpt(f"alice@{DOMAIN}")
        chunk = ("z" * 998 + "\r\n").encode()
        c.putcmd("data")
        self.assertEqual(c.getreply()[0], 354)
        header = b"Subject: huge\r\n\r\n"
        c.send(header)
        for _ in range(30 * 1024 * 1024 // len(chunk) + 1):
            c.sock.sendall(chunk)
        c.send(b".\r\n")
        code, resp = c.getreply()
        self.assertEqual(code, 552, resp)
        self.assertIn(b"5.3.4", resp)
        _, res = c.send_lmtp("s@remote.test", [f"alice@{DOMAIN}"], message("after"))
        self.assertEqual(res[f"alice@{DOMAIN}"][0], 250)
        c.quit()
        msgs = self.stack.messages(f"alice@{DOMAIN}")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"Subject: after", msgs[0])

    def test_too_many_recipients_and_bad_sequence(self):
        c = self.client()
        self.assertEqual(c.rcpt(f"alice@{DOMAIN}")[0], 503)
        code, resp = c.docmd("DATA")
        self.assertEqual(code, 503)
        c.quit()

    def test_admin_endpoints(self):
        base = f"http://127.0.0.1:{self.stack.admin_port}"
        self.assertEqual(http_get(base + "/healthz")[0], 200)
        self.assertEqual(http_get(base + "/readyz")[0], 200)
        c = self.client()
        c.send_lmtp("s@remote.test", [f"alice@{DOMAIN}"], message("m"))
        c.quit()
        status, body = http_get(base + "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("lmtp_deliveries_total", body)
        self.assertEqual(http_get(base + "/nope")[0], 404)

    def test_sigterm_finishes_the_transaction_in_progress(self):
        c = self.client()
        c.mail("s@remote.test")
        c.rcpt(f"alice@{DOMAIN}")
        c.putcmd("data")
        self.assertEqual(c.getreply()[0], 354)
        c.send(b"Subject: during shutdown\r\n\r\nfirst half\r\n")
        self.stack.procs["lmtp-mda"].terminate()
        # Not ready any more, but the transaction still completes.
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.stack.admin_port}/readyz")[0] != 200,
                 what="readyz to turn unready")
        c.send(b"second half\r\n.\r\n")
        code, resp = c.getreply()
        self.assertEqual(code, 250, resp)
        code, resp = c.getreply()
        self.assertEqual(code, 421, resp)
        self.assertEqual(self.stack.procs["lmtp-mda"].wait(timeout=20), 0)
        self.assertEqual(len(self.stack.messages(f"alice@{DOMAIN}")), 1)
        # The folder's index connections, kept for the next delivery, were closed on the way
        # out: closing checkpoints the write-ahead log into the index and removes it.
        index = os.path.join(self.stack.maildir(f"alice@{DOMAIN}"), "mailstack-index.sqlite")
        self.assertTrue(os.path.exists(index))
        self.assertFalse(os.path.exists(index + "-wal"), "the index's WAL was left behind")

    def test_user_added_while_running_is_deliverable(self):
        c = self.client()
        refused, _ = c.send_lmtp("s@remote.test", [f"dave@{DOMAIN}"], message("before"))
        self.assertEqual(refused[f"dave@{DOMAIN}"][0], 550)
        self.stack.add_user(f"dave@{DOMAIN}")

        c.quit()
        deliver_when_known(self.stack.lmtp_port, f"dave@{DOMAIN}", message("new user"))
        self.assertEqual(len(self.stack.messages(f"dave@{DOMAIN}")), 1)


class BrokenStoreTests(StackTest):
    """The store on a small tmpfs: read-only → 4xx, full disk → 452, never a 5xx."""

    def setUp(self):
        super().setUp()
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.mnt], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])
        self.stack.store = self.mnt
        with open(self.stack.config, "a") as f:
            pass
        cfg = open(self.stack.config).read().replace(os.path.join(self.tmp, "mail"), self.mnt)
        open(self.stack.config, "w").write(cfg)
        self.stack.add_user(f"alice@{DOMAIN}")
        self.stack.start()

    def deliver(self, msg):
        c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        _, res = c.send_lmtp("s@remote.test", [f"alice@{DOMAIN}"], msg)
        c.quit()
        return res[f"alice@{DOMAIN}"]

    def test_read_only_store_is_temporary_failure(self):
        self.assertEqual(self.deliver(message("ok"))[0], 250)
        # The kernel refuses to remount read-only while a file is open for writing: lmtp-mda
        # keeps a folder's index open for 10 s after a delivery (the next one reuses it).
        deadline = time.monotonic() + 30
        while subprocess.run(["mount", "-o", "remount,ro", self.mnt],
                             stderr=subprocess.DEVNULL).returncode != 0:
            self.assertLess(time.monotonic(), deadline, "the store never became remountable")
            time.sleep(0.5)
        code, text = self.deliver(message("ro"))
        self.assertTrue(400 <= code < 500, (code, text))
        subprocess.run(["mount", "-o", "remount,rw", self.mnt], check=True)
        self.assertEqual(self.deliver(message("again"))[0], 250)
        self.assertEqual(len(self.stack.messages(f"alice@{DOMAIN}")), 2)

    def test_full_disk_is_452(self):
        code, text = self.deliver(message("huge", body="q" * (3 * 1024 * 1024) + "\r\n"))
        self.assertEqual(code, 452, text)
        self.assertIn("4.3.1", text)
        md = self.stack.maildir(f"alice@{DOMAIN}")
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [], "partial file left in tmp/")
        self.assertEqual(self.deliver(message("small"))[0], 250)


class StartupErrorTests(StackTest):
    def test_bad_config_names_file_line_and_key(self):
        cfg = open(self.stack.config).read().replace("[store]\n", "[store]\nfsnyc = true\n")
        open(self.stack.config, "w").write(cfg)
        p = self.stack.start(wait=False)
        self.assertNotEqual(p.wait(timeout=20), 0)
        log = self.stack.log()
        self.assertIn(f"{self.stack.config}:", log)
        self.assertIn("store.fsnyc", log)

    def test_port_in_use_is_a_clear_error(self):
        self.stack.add_user(f"alice@{DOMAIN}")
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.stack.lmtp_port))
            s.listen()
            p = self.stack.start(wait=False)
            self.assertNotEqual(p.wait(timeout=20), 0)
        self.assertIn("address already in use", self.stack.log().lower())

    def test_config_check(self):
        r = self.stack.mailctl("config", "check")
        self.assertEqual(r.returncode, 0)
        with open(self.stack.config, "a") as f:
            f.write("[lmtp_mda]\n")
        r = self.stack.mailctl("config", "check", check=False)
        self.assertNotEqual(r.returncode, 0)
        with open(self.stack.config, "w") as f:
            f.write("[lmtp_mda]\nmax_recipients = 0\n")
        r = self.stack.mailctl("config", "check", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"{self.stack.config}:2:1: key `lmtp_mda.max_recipients`", r.stderr)
