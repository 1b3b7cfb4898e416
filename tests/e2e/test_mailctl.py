"""mailctl: users, aliases, groups and passwords edited safely; `mailctl up` runs the stack."""
import imaplib
import os
import ssl
import signal
import smtplib
import subprocess
import tempfile
import shutil

from harness import StackTest, binary, free_port, http_get, wait_for
from test_lmtp import deliver_when_known, message


class MailctlUserTests(StackTest):
    def test_user_lifecycle_and_password_never_in_argv(self):
        s = self.stack
        s.add_user("alice@example.com", password="first-pw")
        users = s.mailctl("user", "list").stdout
        self.assertIn("alice@example.com", users)
        # The file holds an argon2id hash, not the password.
        text = open(s.users).read()
        self.assertIn("$argon2id$", text)
        self.assertNotIn("first-pw", text)
        self.assertEqual(os.stat(s.users).st_mode & 0o777, 0o600)
        # Login check (like `doveadm auth test`).
        self.assertEqual(s.mailctl("auth", "test", "alice@example.com", "--password-stdin", stdin="first-pw\n").returncode, 0)
        r = s.mailctl("auth", "test", "alice@example.com", "--password-stdin", stdin="wrong\n", check=False)
        self.assertNotEqual(r.returncode, 0)
        s.mailctl("user", "passwd", "alice@example.com", "--password-stdin", stdin="second-pw\n")
        self.assertEqual(s.mailctl("auth", "test", "alice@example.com", "--password-stdin", stdin="second-pw\n").returncode, 0)
        # Duplicates and bad addresses are refused with a message.
        r = s.mailctl("user", "add", "alice@example.com", "--password-stdin", stdin="x\n", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("alice@example.com", r.stderr)
        r = s.mailctl("user", "add", "../etc@example.com", "--password-stdin", stdin="x\n", check=False)
        self.assertNotEqual(r.returncode, 0)
        # There is no way to pass a password on the command line.
        r = s.mailctl("user", "add", "bob@example.com", "--password", "pw", check=False)
        self.assertNotEqual(r.returncode, 0)
        s.mailctl("user", "del", "alice@example.com")
        self.assertNotIn("alice@example.com", s.mailctl("user", "list").stdout)

    def test_alias_and_group_commands(self):
        s = self.stack
        s.add_user("alice@example.com")
        s.mailctl("alias", "add", "info@example.com", "alice@example.com", "ext@other.test")
        out = s.mailctl("alias", "list").stdout
        self.assertIn("info@example.com", out)
        self.assertIn("ext@other.test", out)
        s.mailctl("alias", "del", "info@example.com")
        self.assertNotIn("info@example.com", s.mailctl("alias", "list").stdout)
        s.mailctl("group", "add", "all@example.com", "alice@example.com")
        self.assertIn("all@example.com", s.mailctl("group", "list").stdout)

    def test_concurrent_edits_all_survive(self):
        s = self.stack
        procs = [subprocess.Popen([binary("mailctl"), "--config", s.config, "user", "add",
                                   f"u{i}@example.com", "--password-stdin"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for i in range(8)]
        for p in procs:
            p.communicate(b"pw\n", timeout=60)
            self.assertEqual(p.returncode, 0)
        listed = s.mailctl("user", "list").stdout
        for i in range(8):
            self.assertIn(f"u{i}@example.com", listed)


class MailctlUpTests(StackTest):
    def test_up_runs_lmtp_with_a_user_added_by_mailctl(self):
        work = tempfile.mkdtemp(prefix="mailstack-up-")
        self.addCleanup(shutil.rmtree, work, True)
        lmtp, admin, smtp, relay, mta_admin = (free_port() for _ in range(5))
        imap, imaps, imap_admin = (free_port() for _ in range(3))
        sub, subs, sub_admin = (free_port() for _ in range(3))
        env = {**os.environ,
               "MAILSTACK_LMTP_MDA__LISTEN": f"127.0.0.1:{lmtp}",
               "MAILSTACK_LMTP_MDA__ADMIN_LISTEN": f"127.0.0.1:{admin}",
               "MAILSTACK_SMTP_MTA__LISTEN": f"127.0.0.1:{smtp}",
               "MAILSTACK_SMTP_MTA__RELAY_LISTEN": f"127.0.0.1:{relay}",
               "MAILSTACK_SMTP_MTA__ADMIN_LISTEN": f"127.0.0.1:{mta_admin}",
               "MAILSTACK_SMTP_MTA__LMTP_ADDRESS": f"127.0.0.1:{lmtp}",
               "MAILSTACK_IMAP__LISTEN": f"127.0.0.1:{imap}",
               "MAILSTACK_IMAP__TLS_LISTEN": f"127.0.0.1:{imaps}",
               "MAILSTACK_IMAP__ADMIN_LISTEN": f"127.0.0.1:{imap_admin}",
               "MAILSTACK_MANAGESIEVE__LISTEN": f"127.0.0.1:{free_port()}",
               "MAILSTACK_SUBMISSION__LISTEN": f"127.0.0.1:{sub}",
               "MAILSTACK_SUBMISSION__TLS_LISTEN": f"127.0.0.1:{subs}",
               "MAILSTACK_SUBMISSION__ADMIN_LISTEN": f"127.0.0.1:{sub_admin}",
               "MAILSTACK_SUBMISSION__RELAY_ADDRESS": f"127.0.0.1:{relay}",
               "MAILSTACK_WEB__LISTEN": f"127.0.0.1:{free_port()}",
               # No DNS here: SPF/DKIM/DMARC end in temperror at once.
               "MAILSTACK_SMTP_MTA__DNS_RESOLVER": f"127.0.0.1:{free_port()}"}
        log = open(os.path.join(work, "up.log"), "wb")
        p = subprocess.Popen([binary("mailctl"), "up"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), log.close()))
        wait_for(lambda: http_get(f"http://127.0.0.1:{admin}/readyz")[0] == 200, what="mailctl up readiness")
        wait_for(lambda: http_get(f"http://127.0.0.1:{mta_admin}/readyz")[0] == 200, what="smtp-mta readiness")
        wait_for(lambda: http_get(f"http://127.0.0.1:{imap_admin}/readyz")[0] == 200, what="imap-server readiness")
        wait_for(lambda: http_get(f"http://127.0.0.1:{sub_admin}/readyz")[0] == 200, what="submission readiness")
        out = open(os.path.join(work, "up.log")).read()
        self.assertIn(f"127.0.0.1:{lmtp}", out)
        self.assertIn("mailctl user add", out)
        self.assertTrue(os.path.exists(os.path.join(work, "var", "mailstack.toml")))
        self.assertTrue(os.path.exists(os.path.join(work, "var", "tls", "cert.pem")))
        # `mailctl user add` from the same directory finds var/mailstack.toml by itself.
        r = subprocess.run([binary("mailctl"), "user", "add", "first@example.com", "--password-stdin"],
                           cwd=work, input="pw\n", text=True, capture_output=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        deliver_when_known(lmtp, "first@example.com", message("hello"))
        md = os.path.join(work, "var", "mail", "example.com", "first", "Maildir", "new")
        self.assertEqual(len(os.listdir(md)), 1)
        # The whole loop of `mailctl up`: SMTP in, queue, LMTP, Maildir.
        c = smtplib.SMTP("127.0.0.1", smtp, timeout=30)
        c.sendmail("someone@remote.test", ["first@example.com"], message("over smtp").decode())
        c.quit()
        wait_for(lambda: len(os.listdir(md)) == 2, what="the SMTP message in the Maildir")
        # ...read over IMAP on the TLS port, with the certificate `up` generated...
        ctx = ssl.create_default_context(cafile=os.path.join(work, "var", "tls", "cert.pem"))
        ctx.check_hostname = False
        # ...sent as a user through submission (465, the same certificate)...
        with smtplib.SMTP_SSL("127.0.0.1", subs, context=ctx, timeout=30) as c:
            c.login("first@example.com", "pw")
            c.sendmail("first@example.com", ["first@example.com"],
                       "From: first@example.com\r\nSubject: to myself\r\n\r\nnote\r\n")
        wait_for(lambda: len(os.listdir(md)) == 3, what="the submitted message in the Maildir")
        c = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=ctx, timeout=30)
        c.login("first@example.com", "pw")
        self.assertEqual(c.select("INBOX"), ("OK", [b"3"]))
        c.logout()
        self.assertTrue(os.path.isdir(os.path.join(work, "var", "queue", "messages")))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0)


class MailctlUpErrorTests(StackTest):
    def test_unreadable_certificate_stops_start_up_with_the_file_named(self):
        work = tempfile.mkdtemp(prefix="mailstack-up-")
        self.addCleanup(shutil.rmtree, work, True)
        cfg = os.path.join(work, "custom.toml")
        with open(cfg, "w") as f:
            f.write(f'[tls]\ncert_file = "{work}/missing.pem"\nkey_file = "{work}/missing.key"\n'
                    f'[directory]\nusers_file = "{work}/users.toml"\n[store]\nroot = "{work}/mail"\n'
                    f'[lmtp_mda]\nlisten = ["127.0.0.1:{free_port()}"]\nadmin_listen = "127.0.0.1:{free_port()}"\n')
        r = subprocess.run([binary("mailctl"), "--config", cfg, "up"], cwd=work, capture_output=True,
                           text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"{work}/missing.pem", r.stderr)
