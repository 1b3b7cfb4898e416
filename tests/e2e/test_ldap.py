"""The stack with its users in a real OpenLDAP slapd: mail to a user, an alias and a group
arrives over SMTP → queue → LMTP; IMAP and submission logins by address and uid; an injection
attempt matches nobody; slapd down means 4xx
and queued mail, delivered once slapd is back, nothing bounced; failover to a second slapd."""
import imaplib
import os
import smtplib
import subprocess

from harness import StackTest, wait_for
from slapd import SERVICE_PASSWORD, Slapd


class LdapStackTest(StackTest):
    servers = 1

    def setUp(self):
        super().setUp()
        self.slapds = [Slapd(os.path.join(self.tmp, f"slapd{i}")) for i in range(self.servers)]
        for s in self.slapds:
            s.start()
            self.addCleanup(s.stop)
        pwfile = os.path.join(self.tmp, "ldap-password")
        with open(pwfile, "w") as f:
            f.write(SERVICE_PASSWORD + "\n")
        urls = ", ".join(f'"{s.url}"' for s in self.slapds)
        cfg = open(self.stack.config).read().replace(
            "[directory]\n",
            "[directory]\nbackend = \"ldap\"\n"
            f"ldap_urls = [{urls}]\n"
            'ldap_bind_dn = "cn=mailstack,ou=services,dc=example,dc=com"\n'
            f'ldap_bind_password_file = "{pwfile}"\n'
            'ldap_base_dn = "dc=example,dc=com"\n'
            'ldap_timeout = "2s"\n'
            'ldap_cache_ttl = "1s"\n'
            'ldap_negative_cache_ttl = "1s"\n')
        with open(self.stack.config, "w") as f:
            f.write(cfg)
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")

    def send(self, rcpts, subject):
        c = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        try:
            return c.sendmail("someone@remote.test", rcpts, f"Subject: {subject}\r\n\r\nbody\r\n")
        finally:
            c.quit()

    def inbox(self, address):
        return self.stack.messages(address)


class LdapDeliveryTests(LdapStackTest):
    def test_user_alias_and_group_delivery(self):
        self.send(["alice@example.com"], "to alice")
        self.send(["a.smith@example.com"], "to alice by alternate address")
        self.send(["postmaster@example.com"], "to the postmaster alias")
        self.send(["team@example.com"], "to the team group")
        wait_for(lambda: len(self.inbox("alice@example.com")) == 4, what="alice's four messages")
        wait_for(lambda: len(self.inbox("bob@example.com")) == 1, what="bob's group message")
        # A member whose name holds filter metacharacters (`*()\`) gets it too.
        wait_for(lambda: any(b"to the team group" in m for m in self.inbox("weird*name@example.com")),
                 what="the group message for weird*name")

    def test_unknown_and_injection_match_nobody(self):
        c = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        c.ehlo("client.test")
        c.mail("x@remote.test")
        for rcpt in ["nobody@example.com", "*)(uid=*@example.com", "*@example.com", "weird*@example.com"]:
            code, resp = c.rcpt(rcpt)
            self.assertIn(code, (550, 501), f"{rcpt}: {code} {resp}")
        c.quit()

    def test_directory_test_command(self):
        r = self.stack.mailctl("directory", "test", "team@example.com")
        self.assertIn("group", r.stdout)
        self.assertIn("delivers to alice@example.com", r.stdout)
        self.assertIn(f"answered by {self.slapds[0].url}", r.stdout)
        r = self.stack.mailctl("directory", "test", "nobody@example.com", check=False)
        self.assertEqual(r.returncode, 1)
        r = self.stack.mailctl("auth", "test", "alice@example.com", "--password-stdin", stdin="alice-pw\n")
        self.assertIn("accepted", r.stdout)
        r = self.stack.mailctl("auth", "test", "alice", "--password-stdin", stdin="alice-pw\n")
        self.assertIn("accepted", r.stdout)
        for login, pw in [("alice@example.com", "wrong"), ("carol@example.com", "carol-pw"), ("*", "alice-pw")]:
            r = self.stack.mailctl("auth", "test", login, "--password-stdin", stdin=pw + "\n", check=False)
            self.assertEqual(r.returncode, 1, f"{login}: {r.stdout}{r.stderr}")

    def test_slapd_down_is_temporary_and_nothing_bounces(self):
        self.send(["alice@example.com"], "before")  # warms the cache for alice only
        wait_for(lambda: len(self.inbox("alice@example.com")) == 1, what="first message")
        self.slapds[0].stop()
        c = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        c.ehlo("client.test")
        c.mail("x@remote.test")
        wait_for(lambda: True)
        code, resp = c.rcpt("bob@example.com")
        self.assertEqual(code, 451, resp)
        self.assertIn(b"4.3.0", resp)
        c.quit()
        r = self.stack.mailctl("directory", "test", "bob@example.com", check=False)
        self.assertEqual(r.returncode, 2)
        # Mail already queued for a cached address waits while lmtp-mda cannot resolve it.
        wait_for(lambda: self._cached_gone(), timeout=10, what="cache expiry")
        self.slapds[0].start()
        self.send(["bob@example.com"], "after restart")
        wait_for(lambda: len(self.inbox("bob@example.com")) == 1, what="delivery after slapd is back")

    def _cached_gone(self):
        r = self.stack.mailctl("directory", "test", "alice@example.com", check=False)
        return r.returncode == 2


class LdapImapLoginTests(LdapStackTest):
    """IMAP logins against slapd: by address and by uid (bind as the user's DN); wrong
    passwords, locked and expired accounts and injection attempts fail; slapd down is
    `NO [UNAVAILABLE]`, never a wrong password."""

    def setUp(self):
        super().setUp()
        self.stack.start("imap-server")

    def login(self, user, password):
        c = self.stack.imap()
        # imaplib sends the user name as it is: quote it (IMAP quoted string).
        quoted = '"' + user.replace("\\", "\\\\").replace('"', '\\"') + '"'
        try:
            return c.login(quoted, password)[0]
        except imaplib.IMAP4.error as e:
            return str(e)
        finally:
            try:
                c.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def test_logins_by_address_and_uid(self):
        self.send(["alice@example.com"], "for imap")
        wait_for(lambda: len(self.inbox("alice@example.com")) == 1, what="delivery")
        for login in ["alice@example.com", "a.smith@example.com", "alice"]:
            c = self.stack.imap(login, "alice-pw")
            typ, data = c.select("INBOX")
            # Every login name opens the same mailbox.
            self.assertEqual((typ, data), ("OK", [b"1"]), login)
            c.logout()
        self.assertEqual(self.login("we*ird(1)\\", "weird-pw"), "OK")

    def test_wrong_passwords_disabled_accounts_and_injection_fail(self):
        for user, password in [("alice@example.com", "wrong"), ("carol@example.com", "carol-pw"),
                               ("dave@example.com", "dave-pw"), ("*)(uid=*", "alice-pw"),
                               ("weird*name@example.com", "decoy-pw"), ("nobody@example.com", "x")]:
            self.assertIn("AUTHENTICATIONFAILED", self.login(user, password), user)

    def test_slapd_down_is_unavailable_not_a_wrong_password(self):
        self.slapds[0].stop()
        self.assertIn("UNAVAILABLE", self.login("alice@example.com", "alice-pw"))
        self.slapds[0].start()
        wait_for(lambda: self.login("alice@example.com", "alice-pw") == "OK", timeout=15,
                 what="login after slapd is back")


class LdapSubmissionLoginTests(LdapStackTest):
    """submission logins against slapd: by address and by uid; the user may send as their
    alternate address; wrong passwords, locked/expired accounts and injection attempts are
    `535 5.7.8`; slapd down is `454 4.7.0`, never a wrong password."""

    def setUp(self):
        super().setUp()
        self.stack.start("submission")

    def login(self, user, password):
        c = self.stack.submit()
        try:
            code, text = c.login(user, password)
            return code
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code
        except smtplib.SMTPServerDisconnected:
            return "disconnected"
        finally:
            try:
                c.quit()
            except smtplib.SMTPException:
                pass

    def test_logins_by_address_and_uid_and_sending(self):
        for login in ["alice@example.com", "a.smith@example.com", "alice"]:
            self.assertEqual(self.login(login, "alice-pw"), 235, login)
        self.assertEqual(self.login("we*ird(1)\\", "weird-pw"), 235)
        with self.stack.submit("alice", "alice-pw") as c:
            # Her alternate address is hers; Bob's is not.
            c.sendmail("a.smith@example.com", ["bob@example.com"],
                       "From: a.smith@example.com\r\nSubject: from ldap\r\n\r\nhi\r\n")
            code, _ = c.mail("bob@example.com")
            self.assertEqual(code, 553)
        wait_for(lambda: len(self.inbox("bob@example.com")) == 1, what="bob's message")

    def test_wrong_passwords_disabled_accounts_and_injection_fail(self):
        for user, password in [("alice@example.com", "wrong"), ("carol@example.com", "carol-pw"),
                               ("dave@example.com", "dave-pw"), ("*)(uid=*", "alice-pw"),
                               ("weird*name@example.com", "decoy-pw")]:
            self.assertEqual(self.login(user, password), 535, user)

    def test_slapd_down_is_temporary(self):
        self.slapds[0].stop()
        self.assertEqual(self.login("alice@example.com", "alice-pw"), 454)
        self.slapds[0].start()
        wait_for(lambda: self.login("alice@example.com", "alice-pw") == 235, timeout=15,
                 what="login after slapd is back")


class LdapQueueTests(LdapStackTest):
    def test_queued_mail_waits_for_slapd_then_is_delivered(self):
        # smtp-mta accepts (slapd up), then slapd goes down before lmtp-mda delivers.
        self.stack.stop("lmtp-mda")
        self.send(["bob@example.com"], "queued during outage")
        self.slapds[0].stop()
        self.stack.start("lmtp-mda")
        self.stack.mailctl("queue", "flush")
        wait_for(lambda: "451" in self.stack.mailctl("queue", "list").stdout, timeout=20,
                 what="a 451 from lmtp-mda in the queue")
        self.assertEqual(self.inbox("bob@example.com"), [])
        self.slapds[0].start()
        self.stack.mailctl("queue", "flush")
        wait_for(lambda: len(self.inbox("bob@example.com")) == 1, timeout=30, what="delivery after slapd is back")
        wait_for(lambda: "-- 0 message(s)" in self.stack.mailctl("queue", "list").stdout, what="an empty queue")
        self.assertEqual(self.inbox("someone@remote.test"), [], "nothing bounced")


class LdapFailoverTests(LdapStackTest):
    servers = 2

    def test_second_server_takes_over(self):
        self.slapds[0].stop()
        self.send(["alice@example.com"], "via the second server")
        wait_for(lambda: len(self.inbox("alice@example.com")) == 1, what="delivery via failover")
        r = self.stack.mailctl("directory", "test", "bob@example.com")
        self.assertIn(f"answered by {self.slapds[1].url}", r.stdout)
