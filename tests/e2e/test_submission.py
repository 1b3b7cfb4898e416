"""submission end to end: real clients (swaks, smtplib) log in over STARTTLS and implicit TLS
and send; the message goes through smtp-mta's relay listener and lmtp-mda into the
recipient's Maildir, DKIM-signed. Refusals: no AUTH, AUTH before TLS, wrong passwords (slowed
down, then disconnected), someone else's envelope sender or From:, rate limits."""
import base64
import re
import smtplib
import subprocess
import time

from dnsserver import DnsServer
from harness import StackTest, wait_for

ALICE = "alice@example.com"
BOB = "bob@example.com"


def message(sender=ALICE, to=BOB, subject="hello", extra=""):
    return (f"From: Alice <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n{extra}"
            f"\r\nHi Bob,\r\nthis went through submission.\r\n")


class SubmissionTest(StackTest):
    def setUp(self):
        super().setUp()
        s = self.stack
        s.add_user(ALICE)
        s.add_user(BOB)
        s.mailctl("alias", "add", "sales@example.com", ALICE)
        self.prepare()
        for name in ("lmtp-mda", "smtp-mta", "submission"):
            s.start(name)

    def prepare(self):
        """More users file edits, made before the services start."""

    def inbox(self, user=BOB, n=1):
        return wait_for(lambda: len(self.stack.messages(user)) >= n and self.stack.messages(user),
                        what=f"{n} message(s) for {user}")

    def arrived(self, earlier, user=BOB):
        """The one message in the user's INBOX that is not among `earlier` (file names sort by
        time only roughly: the microseconds in them are not zero-padded)."""
        def new():
            fresh = [m for m in self.stack.messages(user) if m not in earlier]
            return fresh[0] if len(fresh) == 1 else None
        return wait_for(new, what=f"a new message for {user}")

    def swaks(self, *args, check=True):
        s = self.stack
        cmd = ["swaks", "--server", f"127.0.0.1:{s.submission_port}", "--helo", "client.test",
               "--timeout", "30", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"swaks failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r


class SendingTests(SubmissionTest):
    def test_swaks_with_starttls_and_auth_plain_delivers(self):
        r = self.swaks("--tls", "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password",
                       "secret-pw", "--from", ALICE, "--to", BOB,
                       "--header", "Subject: via swaks")
        self.assertIn("235 2.7.0", r.stdout)
        self.assertRegex(r.stdout, r"250 2\.0\.0 Ok: queued as \S+")
        msg = self.inbox()[0].decode()
        self.assertIn("Subject: via swaks", msg)
        self.assertRegex(msg, r"Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test "
                              r"\(mailstack\) with ESMTPSA id ")

    def test_swaks_auth_login(self):
        r = self.swaks("--tls", "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password",
                       "secret-pw", "--from", ALICE, "--to", BOB)
        self.assertIn("235 2.7.0", r.stdout)
        self.inbox()

    def test_smtplib_over_implicit_tls_fills_in_message_id_and_date(self):
        with self.stack.submit(ALICE, tls=True) as c:
            refused = c.sendmail(ALICE, [BOB, ALICE], "Subject: bare\r\n\r\nno From, no Date\r\n")
            self.assertEqual(refused, {})
        for user in (BOB, ALICE):
            msg = self.inbox(user)[0].decode()
            self.assertRegex(msg, r"\nMessage-ID: <[^@>]+@mx\.test>\r\n")
            self.assertRegex(msg, r"\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n")
            self.assertIn(f"\nFrom: <{ALICE}>\r\n", msg)

    def test_existing_message_id_and_date_are_kept(self):
        extra = "Message-ID: <mine@client.test>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n"
        with self.stack.submit(ALICE) as c:
            c.sendmail(ALICE, [BOB], message(extra=extra))
        msg = self.inbox()[0].decode()
        self.assertEqual(msg.count("Message-ID:"), 1)
        self.assertIn("Message-ID: <mine@client.test>", msg)
        self.assertIn("Date: Mon, 2 Nov 2026 10:00:00 +0100", msg)

    def test_alias_and_subaddress_senders_are_the_users_own(self):
        with self.stack.submit(ALICE) as c:
            c.sendmail("sales@example.com", [BOB], message(sender="sales@example.com"))
            c.sendmail("alice+lists@example.com", [BOB],
                       message(sender="alice+lists@example.com"))
        self.inbox(n=2)

    def test_dsn_parameters_are_passed_to_smtp_mta(self):
        with self.stack.submit(ALICE) as c:
            c.sendmail(ALICE, [BOB], message(), mail_options=["RET=HDRS", "ENVID=env-42"],
                       rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;bob@example.com"])
        self.inbox()
        # NOTIFY=SUCCESS: smtp-mta reports the delivery to Alice (RFC 3461).
        report = self.inbox(ALICE)[0].decode()
        self.assertIn("env-42", report)
        self.assertRegex(report, r"(?i)Action: delivered")


class RefusalTests(SubmissionTest):
    def test_no_auth_before_tls_and_mail_needs_auth(self):
        s = self.stack
        c = smtplib.SMTP("127.0.0.1", s.submission_port, timeout=30)
        c.ehlo("client.test")
        self.assertFalse(c.has_extn("auth"), "AUTH must not be offered before STARTTLS")
        self.assertTrue(c.has_extn("starttls"))
        code, text = c.docmd("AUTH", "PLAIN " + "AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldC1wdw==")
        self.assertEqual((code, text[:6]), (538, b"5.7.11"))
        code, text = c.docmd("MAIL", f"FROM:<{ALICE}>")
        self.assertEqual((code, text[:5]), (530, b"5.7.0"))
        c.starttls(context=s.tls_context())
        c.ehlo("client.test")
        self.assertIn("PLAIN", c.esmtp_features["auth"].upper())
        code, text = c.docmd("MAIL", f"FROM:<{ALICE}>")
        self.assertEqual((code, text[:5]), (530, b"5.7.0"), "STARTTLS is not a login")
        c.quit()
        self.assertEqual(s.messages(BOB), [])

    def test_wrong_password_is_refused_slowed_and_disconnected(self):
        s = self.stack
        c = s.submit()
        wrong = "AUTH PLAIN " + base64.b64encode(f"\0{ALICE}\0wrong".encode()).decode()
        times = []
        for _ in range(2):
            t = time.monotonic()
            code, text = c.docmd(wrong)
            times.append(time.monotonic() - t)
            self.assertEqual((code, text[:5]), (535, b"5.7.8"))
        # The delay grows with the failures of this address and login (200ms, 400ms, ...).
        self.assertGreaterEqual(times[0], 0.19)
        self.assertGreaterEqual(times[1], 0.39)
        # The third failure (max_auth_failures = 3) ends the connection with 421.
        code, _ = c.docmd(wrong)
        self.assertEqual(code, 535)
        code, text = c.getreply()
        self.assertEqual((code, text[:5]), (421, b"4.7.0"))
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            c.docmd("NOOP")
        # A new connection starts slowed down already (per address and login), and unknown
        # users are answered exactly like wrong passwords.
        with s.submit() as c2:
            t = time.monotonic()
            code, _ = c2.docmd(wrong)
            self.assertEqual(code, 535)
            self.assertGreaterEqual(time.monotonic() - t, 0.79)
            nobody = base64.b64encode(b"\0nobody@example.com\0secret-pw").decode()
            code, _ = c2.docmd("AUTH PLAIN " + nobody)
            self.assertEqual(code, 535)

    def test_spoofed_envelope_sender_is_refused(self):
        with self.stack.submit(ALICE) as c:
            for spoof in (BOB, "ceo@other.test", "bob+x@example.com"):
                code, text = c.mail(spoof)
                self.assertEqual(code, 553, spoof)
                self.assertTrue(text.startswith(b"5.7.1"), text)
                c.rset()
            code, text = c.mail("")
            self.assertEqual(code, 553)

    def test_spoofed_from_header_is_refused(self):
        with self.stack.submit(ALICE) as c:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                c.sendmail(ALICE, [BOB], message(sender="ceo@example.com"))
            self.assertEqual(e.exception.smtp_code, 553)
            self.assertTrue(e.exception.smtp_error.startswith(b"5.7.1"))
            with self.assertRaises(smtplib.SMTPDataError):
                c.sendmail(ALICE, [BOB], message(extra=f"Sender: {BOB}\r\n"))
        time.sleep(0.5)
        self.assertEqual(self.stack.messages(BOB), [])

    def test_smtp_mta_down_is_a_temporary_failure(self):
        self.stack.stop("smtp-mta")
        with self.stack.submit(ALICE) as c:
            with self.assertRaises(smtplib.SMTPDataError) as e:
                c.sendmail(ALICE, [BOB], message())
            self.assertEqual(e.exception.smtp_code, 451)
            self.assertTrue(e.exception.smtp_error.startswith(b"4.4.1"), e.exception.smtp_error)
            self.assertNotIn(str(self.stack.relay_port).encode(), e.exception.smtp_error)

    def test_unknown_local_recipient_is_refused_at_rcpt(self):
        with self.stack.submit(ALICE) as c:
            c.mail(ALICE)
            code, text = c.rcpt("nobody@example.com")
            self.assertEqual(code, 550)
            self.assertTrue(text.startswith(b"5.1.1"))

    def test_authenticate_twice_and_unknown_mechanism(self):
        with self.stack.submit(ALICE) as c:
            code, _ = c.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldC1wdw==")
            self.assertEqual(code, 503)
        with self.stack.submit() as c:
            code, text = c.docmd("AUTH", "CRAM-MD5")
            self.assertEqual((code, text[:5]), (504, b"5.5.4"))
            code, text = c.docmd("AUTH", "PLAIN")
            self.assertEqual(code, 334)
            code, text = c.docmd("*")
            self.assertEqual((code, text[:5]), (501, b"5.0.0"))
            code, text = c.docmd("AUTH", "PLAIN !!notbase64")
            self.assertEqual((code, text[:5]), (501, b"5.5.2"))


class GroupSetup(SubmissionTest):
    def prepare(self):
        self.stack.mailctl("group", "add", "team@example.com", ALICE, BOB)
        self.stack.mailctl("group", "add", "board@example.com", BOB)


class GroupSenderTests(GroupSetup):
    def test_group_addresses_are_refused_by_default(self):
        with self.stack.submit(ALICE) as c:
            code, text = c.mail("team@example.com")
            self.assertEqual((code, text[:5]), (553, b"5.7.1"))


class GroupSenderAllowedTests(GroupSetup):
    stack_extra = {"submission": {"allow_send_as_group": True}}

    def test_members_may_send_as_their_group_only(self):
        with self.stack.submit(ALICE) as c:
            c.sendmail("team@example.com", [BOB], message(sender="team@example.com"))
            code, _ = c.mail("board@example.com")
            self.assertEqual(code, 553, "Alice is not a member of board@")
        self.inbox()


class HiddenClientTests(SubmissionTest):
    stack_extra = {"submission": {"hide_client_ip": True}}

    def test_the_client_address_is_left_out_of_received(self):
        with self.stack.submit(ALICE) as c:
            c.sendmail(ALICE, [BOB], message())
        msg = self.inbox()[0].decode()
        ours = [f for f in re.split(r"\r\n(?=\S)", msg) if "with ESMTPSA" in f]
        self.assertEqual(len(ours), 1, msg)
        self.assertRegex(ours[0], r"^Received: by mx\.test \(mailstack\) with ESMTPSA id \w+; ")
        self.assertNotIn("client.test", ours[0])
        self.assertNotIn("127.0.0.1", ours[0])


class RateLimitTests(SubmissionTest):
    stack_extra = {"submission": {"max_messages_per_window": 2,
                                  "max_recipients_per_window": 3, "rate_window": "1h"}}

    def test_messages_and_recipients_per_user_are_limited(self):
        with self.stack.submit(ALICE) as c:
            c.sendmail(ALICE, [BOB], message(subject="1"))
            c.sendmail(ALICE, [BOB, ALICE], message(subject="2"))
            code, text = c.mail(ALICE)
            self.assertEqual((code, text[:5]), (450, b"4.7.1"), "third message in the window")
        # The recipient limit (3) was reached by the two messages above: Bob's own limit is
        # separate.
        with self.stack.submit(BOB) as c:
            c.mail(BOB)
            for i in range(3):
                self.assertEqual(c.rcpt(ALICE)[0], 250)
            code, text = c.rcpt(ALICE)
            self.assertEqual((code, text[:5]), (450, b"4.7.1"))


class DkimTests(SubmissionTest):
    def setUp(self):
        self.dns = DnsServer()
        self.stack_extra = {"smtp_mta": {"dns_resolver": self.dns.address}}
        super().setUp()

    def tearDown(self):
        super().tearDown()
        self.dns.stop()

    def test_signature_verifies_against_the_printed_record(self):
        s = self.stack
        # First an RSA key, then an Ed25519 one next to it (both selectors sign, RFC 8463).
        for n, (algo, selector) in enumerate((("rsa", "s1"), ("ed25519", "s2")), start=1):
            out = s.mailctl("dkim", "keygen", "example.com", "--selector", selector,
                            "--algo", algo, "--activate").stdout
            record = dkim_record(out, selector, "example.com")
            self.assertIn("p=", record)
            self.dns.add(f"{selector}._domainkey.example.com", "TXT", record)
            # A running submission notices key changes within 10 s; a restart at once.
            s.stop("submission")
            s.start("submission")
            earlier = s.messages(BOB)
            with s.submit(ALICE) as c:
                c.sendmail(ALICE, [BOB], message(subject=f"signed {algo}"))
            signed = self.arrived(earlier).decode()
            signatures = [re.sub(r"\s+", "", f.split("\r\n")[0] + "".join(
                l for l in f.split("\r\n")[1:] if l[:1] in (" ", "\t")))
                for f in signed.split("DKIM-Signature:")[1:]]
            self.assertEqual(len(signatures), n, signed)
            self.assertTrue(any(f"s={selector};" in sig for sig in signatures), signatures)
            # Re-inject the delivered message into smtp-mta's MX listener: its mail-auth
            # verifier looks the keys up in our DNS server and must find every signature valid.
            original = signed[signed.index("DKIM-Signature:"):]
            with smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=30) as mx:
                mx.sendmail(ALICE, [BOB], original.encode())
            verified = self.arrived(earlier + [signed.encode()]).decode()
            field = re.search(r"Authentication-Results:(.*?)\r\n(?=\S)", verified, re.S)
            results = re.sub(r"\s+", " ", field.group(1))
            self.assertEqual(results.count("dkim=pass"), n, results)
            self.assertNotIn("dkim=fail", results)

    def test_no_key_means_unsigned_not_refused(self):
        with self.stack.submit(ALICE) as c:
            c.sendmail(ALICE, [BOB], message())
        self.assertNotIn(b"DKIM-Signature:", self.inbox()[0])


def dkim_record(output, selector, domain):
    """The TXT value `mailctl dkim keygen` printed for selector._domainkey.domain (its quoted
    character-strings joined)."""
    start = output.index(f"{selector}._domainkey.{domain}")
    rest = output[start:]
    end = rest.find(")") if "(" in rest.split("\n")[0] else rest.find("\n")
    return "".join(re.findall(r'"([^"]*)"', rest[:end if end >= 0 else None]))
