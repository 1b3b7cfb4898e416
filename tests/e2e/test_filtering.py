"""Spam and virus filtering end to end, with Debian's rspamd and ClamAV (tests/e2e/filters.py):
smtp-mta hands mail to clamav-milter and rspamd's milter, lmtp-mda files spam into Junk, and
imap-server reports messages users move into and out of Junk to rspamd's controller.

rspamd, redis, clamd and clamav-milter start once per test class; every test has its own stack
(config, store, queue, services)."""
import os
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from filters import (CONTROLLER_PASSWORD, EICAR, GTUBE, JUNK_SUBJECT, ClamavMilter, Clamd,
                     Redis, Rspamd)
from harness import Stack, free_port, wait_for
from test_lmtp import LmtpClient

DOMAIN = "example.com"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"  # opted out of Junk filing

# Enough distinct words for rspamd's Bayes (it learns nothing from fewer than 11 tokens).
WORDS = ("quarterly report meeting agenda budget forecast invoice schedule review project "
         "delivery customer support contract renewal discussion summary").split()


def text(seed):
    """A body of ordinary words, different for every seed (rspamd refuses to learn the same
    message twice)."""
    words = [WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(40)]
    return f"Hello,\r\n\r\n{' '.join(words)} (ref {seed}).\r\n\r\nRegards\r\n"


def message(subject, body, extra_headers=""):
    return (f"From: Sender <sender@remote.test>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{abs(hash((subject, body)))}@remote.test>\r\n{extra_headers}"
            f"\r\n{body}").encode()


def swaks(port, to, *args):
    """Run swaks against smtp-mta; (exit status, transcript)."""
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--helo", "client.remote.test",
                        "--from", "sender@remote.test", "--to", to, "--timeout", "30", *args],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def server_replies(transcript):
    """The server lines of a swaks transcript (`<-` and `<**`)."""
    return [line for line in transcript.splitlines() if line.lstrip().startswith(("<-", "<**"))]


class _WithStack(unittest.TestCase):
    """A fresh stack per test, in its own directory."""

    def make_stack(self, extra):
        self.tmp = tempfile.mkdtemp(prefix="mailstack-filter-")
        self.stack = Stack(self.tmp, extra=extra)
        self.addCleanup(self._cleanup)
        for user in (ALICE, BOB):
            self.stack.add_user(user)
        return self.stack

    def _cleanup(self):
        self.stack.close()
        if not os.environ.get("MAILSTACK_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_messages(self, address, folder="", count=1):
        return wait_for(lambda: len(self.stack.messages(address, folder)) >= count
                        and self.stack.messages(address, folder),
                        timeout=30, what=f"{count} message(s) in {address} {folder or 'INBOX'}")

    def lmtp(self, rcpts, msg):
        c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        try:
            refused, replies = c.send_lmtp("sender@remote.test", rcpts, msg)
        finally:
            c.close()
        self.assertEqual(refused, {})
        for r in rcpts:
            self.assertEqual(replies[r][0], 250, replies)


class JunkFilingTest(_WithStack):
    """lmtp-mda alone: the spam mark decides the folder (what rspamd's milter adds is tested
    below with the real rspamd)."""

    def start(self, **lmtp):
        self.make_stack({"lmtp_mda": {"spam_opt_out": [BOB], **lmtp}})
        self.stack.start("lmtp-mda")

    def test_marked_mail_goes_to_junk_unless_opted_out(self):
        self.start()
        spam = message("cheap", "Buy now.\r\n", "X-Spam: Yes\r\n")
        self.lmtp([ALICE, BOB], spam)
        junk = self.wait_messages(ALICE, "Junk")
        self.assertIn(b"X-Spam: Yes", junk[0])
        self.assertEqual(self.stack.messages(ALICE), [])
        self.assertEqual(len(self.stack.messages(BOB)), 1, "bob opted out: INBOX")
        self.assertEqual(self.stack.messages(BOB, "Junk"), [])
        # Not marked, marked "No", or marked only inside the body or an attached message.
        for i, extra, body in ((1, "", "Hi.\r\n"), (2, "X-Spam: No\r\n", "Hi.\r\n"),
                               (3, "", "X-Spam: Yes\r\n"),
                               (4, "Content-Type: message/rfc822\r\n", "X-Spam: Yes\r\n\r\nx\r\n")):
            self.lmtp([ALICE], message(f"ham {i}", body, extra))
        self.wait_messages(ALICE, "", 4)
        self.assertEqual(len(self.stack.messages(ALICE, "Junk")), 1)
        metrics = wait_for(lambda: self.stack_metrics("lmtp-mda"), what="metrics")
        self.assertIn("mailstack_lmtp_spam_filed_total 1", metrics)

    def stack_metrics(self, name):
        from harness import http_get
        status, body = http_get(self.stack.admin_url(name) + "/metrics")
        return body if status == 200 else None

    def test_global_switch_off_keeps_spam_in_the_inbox(self):
        self.start(spam_to_junk=False)
        self.lmtp([ALICE], message("cheap", "Buy now.\r\n", "X-Spam: Yes\r\n"))
        self.wait_messages(ALICE)
        self.assertEqual(self.stack.messages(ALICE, "Junk"), [])

    def test_custom_marker_and_folder_created_when_missing(self):
        self.start(spam_header="X-Spam-Flag: YES", spam_folder="Spam")
        self.lmtp([ALICE], message("first", "Hi.\r\n"))  # creates the mailbox and its folders
        self.wait_messages(ALICE)
        self.assertFalse(os.path.isdir(self.stack.maildir(ALICE, "Spam")))
        self.lmtp([ALICE], message("cheap", "Buy.\r\n", "X-Spam-Flag: yes\r\n"))
        self.wait_messages(ALICE, "Spam")
        self.lmtp([ALICE], message("other", "Buy.\r\n", "X-Spam: Yes\r\n"))
        self.wait_messages(ALICE, "", 2)
        # The user deleted Junk-like folders: it is made again.
        shutil.rmtree(self.stack.maildir(ALICE, "Spam"))
        self.lmtp([ALICE], message("again", "Buy.\r\n", "X-Spam-Flag: YES\r\n"))
        self.wait_messages(ALICE, "Spam")


class _RspamdClass(_WithStack):
    """rspamd (with redis) started once for the class."""

    @classmethod
    def setUpClass(cls):
        cls.filters_dir = tempfile.mkdtemp(prefix="mailstack-filters-")
        os.chmod(cls.filters_dir, 0o755)
        cls.daemons = []
        try:
            cls.redis = cls._up(Redis(cls.filters_dir))
            cls.rspamd = cls._up(Rspamd(cls.filters_dir, redis_port=cls.redis.port))
            cls.more_daemons()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def more_daemons(cls):
        pass

    @classmethod
    def _up(cls, daemon, *args):
        cls.daemons.append(daemon)
        daemon.start(*args)
        return daemon

    @classmethod
    def tearDownClass(cls):
        for d in reversed(cls.daemons):
            d.stop()
        if not os.environ.get("MAILSTACK_KEEP_TMP"):
            shutil.rmtree(cls.filters_dir, ignore_errors=True)

    def learns(self):
        """rspamd's Bayes learn counters as stored in redis: (spam, ham)."""
        def field(name):
            r = subprocess.run(["redis-cli", "-p", str(self.redis.port), "HGET", "RS", name],
                               capture_output=True, text=True, check=True)
            return int(r.stdout.strip() or 0)
        return field("learns_spam"), field("learns_ham")

    def rspamd_log(self):
        with open(os.path.join(self.rspamd.dir, "log", "rspamd.log"), errors="replace") as f:
            return f.read()


class LearningTest(_RspamdClass):
    """IMAP MOVE/COPY into and out of Junk feeds rspamd's controller (the real one)."""

    def start(self, learn=True, url=None, password=CONTROLLER_PASSWORD):
        pw_file = os.path.join(tempfile.gettempdir(), f"rspamd-pw-{os.getpid()}-{id(self)}")
        self.make_stack({"imap": {
            "allow_plaintext_auth": True,
            "learn_spam": learn,
            "learn_url": url or self.rspamd.controller_url,
            "learn_password_file": pw_file,
            "learn_timeout": "3s",
        }})
        with open(pw_file, "w") as f:
            f.write(password + "\n")
        self.addCleanup(os.unlink, pw_file)
        self.stack.start("lmtp-mda")
        self.stack.start("imap-server")

    def deliver(self, n, folder=""):
        before = len(self.stack.messages(ALICE, folder))
        for i in range(n):
            self.lmtp([ALICE], message(f"note {time.time_ns()}", text(time.time_ns() + i)))
        self.wait_messages(ALICE, folder, before + n)

    def imap(self):
        c = self.stack.imap(ALICE, tls=False)
        self.addCleanup(c.logout)
        return c

    def test_move_into_junk_learns_spam_and_out_learns_ham(self):
        self.start()
        self.deliver(2)
        before = self.learns()
        c = self.imap()
        c.select("INBOX")
        t0 = time.monotonic()
        typ, _ = c.uid("MOVE", "1:2", "Junk")
        self.assertEqual(typ, "OK")
        self.assertLess(time.monotonic() - t0, 2, "MOVE waited for rspamd")
        wait_for(lambda: self.learns()[0] == before[0] + 2, timeout=20, what="2 spam learns")
        # Out of Junk into the INBOX: ham. Into Trash: nothing (deleting spam).
        c.select("Junk")
        typ, data = c.uid("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        message_id = data[0][1].decode().split("<", 1)[1].split(">", 1)[0]
        self.assertEqual(c.uid("MOVE", "1", "INBOX")[0], "OK")
        wait_for(lambda: self.learns()[1] == before[1] + 1, timeout=20, what="1 ham learn")
        # rspamd got the very message it had learned as spam. (It also moves it over from spam
        # to ham, so the spam count goes down, when its redis learn cache answers in time; on a
        # loaded machine it sometimes does not, and the count stays: that is rspamd's, not ours.)
        wait_for(lambda: f"learned message as ham: {message_id}" in self.rspamd_log(),
                 what="rspamd's log naming the message learned as ham")
        after_ham = self.learns()
        self.assertIn(after_ham[0], (before[0] + 1, before[0] + 2))
        self.assertEqual(c.uid("MOVE", "2", "Trash")[0], "OK")
        # COPY counts too.
        self.deliver(1)  # a new message, unknown to rspamd
        c.select("INBOX")
        typ, data = c.uid("SEARCH", "ALL")
        newest = data[0].split()[-1].decode()
        self.assertEqual(c.uid("COPY", newest, "Junk")[0], "OK")
        wait_for(lambda: self.learns()[0] == after_ham[0] + 1, timeout=20,
                 what="another spam learn")
        self.assertEqual(self.learns()[1], after_ham[1], "the move to Trash was not ham")
        log = self.stack.log("imap-server")
        self.assertIn("reported to rspamd", log)
        self.assertNotIn(CONTROLLER_PASSWORD, log)

    def test_learning_off_by_default_reports_nothing(self):
        self.start(learn=False)
        self.deliver(1)
        before = self.learns()
        c = self.imap()
        c.select("INBOX")
        self.assertEqual(c.uid("MOVE", "1", "Junk")[0], "OK")
        # Nothing to wait for: give a report more than the time one takes here, then look.
        time.sleep(1.5)
        self.assertEqual(self.learns(), before)
        self.assertNotIn("reported to rspamd", self.stack.log("imap-server"))

    def test_controller_down_or_wrong_password_never_fails_the_command(self):
        dead = free_port()
        self.start(url=f"http://127.0.0.1:{dead}")
        self.deliver(1)
        c = self.imap()
        c.select("INBOX")
        t0 = time.monotonic()
        self.assertEqual(c.uid("MOVE", "1", "Junk")[0], "OK")
        self.assertLess(time.monotonic() - t0, 2)
        wait_for(lambda: "cannot reach rspamd's controller" in self.stack.log("imap-server"),
                 what="the failure logged")
        self.assertEqual(len(self.stack.messages(ALICE, "Junk")), 1)

    def test_wrong_password_is_refused_by_rspamd_and_logged(self):
        self.start(password="not-the-password")
        self.deliver(1)
        before = self.learns()
        c = self.imap()
        c.select("INBOX")
        self.assertEqual(c.uid("MOVE", "1", "Junk")[0], "OK")
        wait_for(lambda: "rspamd refused the report" in self.stack.log("imap-server"),
                 what="the refusal logged")
        self.assertEqual(self.learns(), before)
        self.assertNotIn("not-the-password", self.stack.log("imap-server"))


class SpamAndVirusTest(_RspamdClass):
    """smtp-mta with clamav-milter and rspamd's milter, in that order (docs/filtering.md)."""

    @classmethod
    def more_daemons(cls):
        cls.clamd = cls._up(Clamd(cls.filters_dir))
        cls.clamav_milter = cls._up(ClamavMilter(cls.filters_dir, cls.clamd))

    def start(self, milters=None, **mta):
        milters = milters or [f"inet:127.0.0.1:{self.clamav_milter.port}",
                              f"inet:127.0.0.1:{self.rspamd.milter_port}"]
        self.make_stack({
            "smtp_mta": {"milters": milters, "milter_connect_timeout": "5s",
                         "milter_command_timeout": "20s", "milter_content_timeout": "30s", **mta},
            "lmtp_mda": {"spam_opt_out": [BOB]},
        })
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")

    def send(self, *args, to=ALICE, stdin=None):
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{self.stack.smtp_port}",
                            "--helo", "client.remote.test", "--from", "sender@remote.test",
                            "--to", to, "--timeout", "60", *args],
                           input=stdin, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def final_reply(self, transcript):
        """The server's answer to the message (the last server line)."""
        replies = server_replies(transcript)
        self.assertTrue(replies, transcript)
        # swaks ends with the reply to QUIT (221) after an accepted or refused DATA.
        tail = [r for r in replies if not r.lstrip("<-* ").startswith("221")]
        return tail[-1].lstrip("<-* ").strip()

    def assert_queue_empty(self):
        out = self.stack.mailctl("queue", "list").stdout
        self.assertNotIn("@", out, out)

    def test_gtube_is_rejected_with_rspamds_message(self):
        self.start()
        _, t = self.send("--header", "Subject: gtube", "--body", f"Test.\n{GTUBE}\n")
        reply = self.final_reply(t)
        self.assertRegex(reply, r"^5\d\d ", t)
        self.assertIn("Gtube pattern", reply)
        self.assertEqual(self.stack.messages(ALICE), [])
        self.assert_queue_empty()

    def test_mid_score_goes_to_junk_with_headers_and_to_the_inbox_when_opted_out(self):
        self.start()
        _, t = self.send("--header", f"Subject: {JUNK_SUBJECT} offer", "--body", text(1),
                         to=f"{ALICE},{BOB}")
        self.assertRegex(self.final_reply(t), r"^250 ", t)
        junk = self.wait_messages(ALICE, "Junk")[0].decode()
        for h in ("X-Spam: Yes", "X-Spamd-Result:", "MAILSTACK_TEST_JUNK", "X-Rspamd-Queue-Id:",
                  "X-Spam-Status: Yes", "X-Virus-Scanned:"):
            self.assertIn(h, junk)
        self.assertEqual(self.stack.messages(ALICE), [])
        inbox = self.wait_messages(BOB)[0].decode()
        self.assertIn("X-Spam: Yes", inbox, "opted out: INBOX, still marked")
        self.assertEqual(self.stack.messages(BOB, "Junk"), [])

    def test_eicar_attachment_is_rejected_by_clamav(self):
        self.start()
        _, t = self.send("--header", "Subject: invoice", "--body", text(2), "--attach", "-",
                         stdin=EICAR)
        reply = self.final_reply(t)
        self.assertRegex(reply, r"^5\d\d ", t)
        self.assertIn("Mailstack.Test.EICAR", reply)
        self.assertEqual(self.stack.messages(ALICE), [])
        self.assert_queue_empty()
        with open(os.path.join(self.clamav_milter.dir, "clamav-milter.log"), errors="replace") as f:
            self.assertIn("Mailstack.Test.EICAR", f.read())

    def test_clean_mail_reaches_the_inbox_with_filter_headers(self):
        self.start()
        _, t = self.send("--header", "Subject: minutes", "--body", text(3))
        self.assertRegex(self.final_reply(t), r"^250 ", t)
        msg = self.wait_messages(ALICE)[0].decode()
        for h in ("X-Spamd-Result:", "X-Rspamd-Queue-Id:", "X-Spam-Status: No",
                  "X-Virus-Scanned:", "X-Virus-Status: Clean"):
            self.assertIn(h, msg)
        self.assertNotIn("X-Spam: Yes", msg)
        self.assertEqual(self.stack.messages(ALICE, "Junk"), [])

    def test_forged_spam_verdicts_from_outside_are_removed(self):
        self.start()
        forged = ["--add-header", "X-Spam: Yes", "--add-header", "X-Spam-Flag: YES",
                  "--add-header", "X-Spam-Status: Yes, score=99.0",
                  "--add-header", "X-Spamd-Result: default: True [99.00 / 15.00]"]
        _, t = self.send("--header", "Subject: report", "--body", text(4), *forged)
        self.assertRegex(self.final_reply(t), r"^250 ", t)
        msg = self.wait_messages(ALICE)[0].decode()
        self.assertNotIn("X-Spam: Yes", msg)
        self.assertNotIn("X-Spam-Flag", msg)
        self.assertNotIn("score=99", msg)
        self.assertNotIn("[99.00 / 15.00]", msg)
        self.assertIn("X-Spamd-Result:", msg)
        self.assertEqual(self.stack.messages(ALICE, "Junk"), [])
        # And a forged "X-Spam: No" does not keep likely spam out of Junk.
        _, t = self.send("--header", f"Subject: {JUNK_SUBJECT}", "--body", text(5),
                         "--add-header", "X-Spam: No")
        self.assertRegex(self.final_reply(t), r"^250 ", t)
        junk = self.wait_messages(ALICE, "Junk")[0].decode()
        self.assertNotIn("X-Spam: No", junk)

    def test_rspamd_down_is_a_temporary_failure_by_default(self):
        # A second rspamd of our own, to stop: the class's one serves the other tests.
        own = Rspamd(self.filters_dir + "/down", redis_port=self.redis.port)
        self.addCleanup(own.stop)
        own.start()
        self.start(milters=[f"inet:127.0.0.1:{own.milter_port}"])
        _, t = self.send("--header", "Subject: before", "--body", text(6))
        self.assertRegex(self.final_reply(t), r"^250 ", t)
        own.stop()
        _, t = self.send("--header", "Subject: during", "--body", text(7))
        self.assertRegex(self.final_reply(t), r"^4\d\d ", t)
        self.assertIn("4.7.1", self.final_reply(t))
        self.wait_messages(ALICE)
        self.assert_queue_empty()
        self.assertEqual(len(self.stack.messages(ALICE)), 1)

    def test_rspamd_down_with_default_action_accept_lets_mail_through(self):
        dead = free_port()
        self.start(milters=[f"inet:127.0.0.1:{dead}"], milter_default_action="accept")
        _, t = self.send("--header", "Subject: unscanned", "--body", text(8))
        self.assertRegex(self.final_reply(t), r"^250 ", t)
        msg = self.wait_messages(ALICE)[0].decode()
        self.assertNotIn("X-Spamd-Result", msg)

    def test_clamd_down_makes_clamav_milter_defer(self):
        clamd = Clamd(self.filters_dir + "/clamd-down")
        milter = ClamavMilter(self.filters_dir + "/clamd-down", clamd)
        self.addCleanup(milter.stop)
        self.addCleanup(clamd.stop)
        clamd.start()
        milter.start()
        clamd.stop()
        self.start(milters=[f"inet:127.0.0.1:{milter.port}"])
        _, t = self.send("--header", "Subject: while clamd is down", "--body", text(9))
        self.assertRegex(self.final_reply(t), r"^4\d\d ", t)
        self.assertEqual(self.stack.messages(ALICE), [])


if __name__ == "__main__":
    unittest.main()
