"""Sieve end to end: scripts uploaded over ManageSieve with a real client (Debian's
sieve-connect) to imap-server, then mail delivered over LMTP to lmtp-mda, whose filters file,
flag, reject, redirect and answer (vacation) through smtp-mta's relay listener. Results are
checked in the Maildirs on disk."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import Stack, wait_for
from test_lmtp import LmtpClient

DOMAIN = "example.com"
PASSWORD = "secret-pw"


def msg(subject, to="alice@example.com", frm="carol@example.com", extra=""):
    return (f"From: {frm}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}.{time.time_ns()}@test>\r\n{extra}\r\n"
            "Body.\r\n").encode()


class ManageSieve:
    """A small RFC 5804 client for what sieve-connect cannot show: the raw NO responses."""

    def __init__(self, stack):
        self.sock = socket.create_connection(("127.0.0.1", stack.sieve_port), timeout=10)
        self.f = self.sock.makefile("rb")
        self.greeting = self.response()
        self.sock.sendall(b"STARTTLS\r\n")
        assert self.response().startswith(b"OK"), "STARTTLS refused"
        self.f.close()
        self.sock = stack.tls_context().wrap_socket(self.sock, server_hostname="mx.test")
        self.f = self.sock.makefile("rb")
        self.capabilities = self.response()

    def response(self):
        out = b""
        while True:
            line = self.f.readline()
            if not line:
                return out
            out += line
            m = re.search(rb"\{(\d+)\+?\}\r\n$", line)
            if m:
                out += self.f.read(int(m.group(1)))
                continue
            if re.match(rb"(OK|NO|BYE)( |\r\n)", line):
                return out

    def cmd(self, line):
        self.sock.sendall(line if isinstance(line, bytes) else line.encode())
        return self.response()

    def login(self, user, password=PASSWORD):
        import base64
        ir = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd(f'AUTHENTICATE "PLAIN" "{ir}"\r\n')

    def close(self):
        self.sock.close()


class SieveTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mailstack-e2e-sieve-")
        self.before = os.path.join(self.tmp, "before.d")
        os.makedirs(self.before)
        with open(os.path.join(self.before, "10-spam.sieve"), "w") as f:
            f.write('require "fileinto";\n'
                    'if header :is "X-Spam-Flag" "YES" { fileinto "Junk"; stop; }\n')
        self.stack = Stack(self.tmp, extra={"lmtp_mda": {"sieve_before": [self.before]}})
        for u in ("alice", "bob", "carol", "dave", "erin", "frank"):
            self.stack.add_user(f"{u}@{DOMAIN}", PASSWORD)
        self.stack.make_certificate()
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")
        self.stack.start("imap-server")

    def tearDown(self):
        self.stack.close()
        if os.environ.get("MAILSTACK_KEEP_TMP"):
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------
    def sieve_connect(self, user, *args, check=True):
        cmd = ["sieve-connect", "--nosrv", "--server", "127.0.0.1",
               "--port", str(self.stack.sieve_port), "--user", user, "--passwordfd", "0",
               "--tlscafile", os.path.join(self.tmp, "tls", "cert.pem"),
               "--tlshostname", "mx.test", "--authmech", "PLAIN", *args]
        r = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True,
                           timeout=60, cwd=self.tmp)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
                                 f"\n{self.stack.log('imap-server')[-3000:]}")
        return r

    def upload(self, user, name, script, activate=True):
        path = os.path.join(self.tmp, f"{name}.sieve")
        with open(path, "w") as f:
            f.write(script)
        self.sieve_connect(user, "--localsieve", path, "--remotesieve", name, "--upload")
        if activate:
            self.sieve_connect(user, "--remotesieve", name, "--activate")

    def lmtp(self, sender, rcpts, message):
        c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        try:
            return c.send_lmtp(sender, rcpts, message)
        finally:
            c.close()

    def deliver(self, rcpt, message, sender="carol@example.com"):
        refused, res = self.lmtp(sender, [rcpt], message)
        self.assertEqual(refused, {})
        return res[rcpt]

    def files(self, address, folder=""):
        """(file name, content) of every message of a folder."""
        md = self.stack.maildir(address, folder)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            if os.path.isdir(d):
                for n in sorted(os.listdir(d)):
                    with open(os.path.join(d, n), "rb") as f:
                        out.append((n, f.read()))
        return out

    # --- ManageSieve -------------------------------------------------------------------------
    def test_sieve_connect_uploads_lists_and_activates_in_dovecot_layout(self):
        self.upload("alice@example.com", "rules", 'require "fileinto";\nkeep;\n')
        self.upload("alice@example.com", "other", "discard;\n", activate=False)
        home = os.path.join(self.stack.store, DOMAIN, "alice")
        self.assertEqual(os.readlink(os.path.join(home, ".dovecot.sieve")), "sieve/rules.sieve")
        with open(os.path.join(home, "sieve", "rules.sieve")) as f:
            self.assertEqual(f.read(), 'require "fileinto";\nkeep;\n')
        r = self.sieve_connect("alice@example.com", "--list")
        lines = sorted(l.strip() for l in r.stdout.splitlines() if l.strip())
        # sieve-connect prints LISTSCRIPTS as the server sent it.
        self.assertEqual(lines, ['"other"', '"rules" ACTIVE'], r.stdout)
        # Download what was stored.
        out = os.path.join(self.tmp, "got.sieve")
        self.sieve_connect("alice@example.com", "--remotesieve", "rules", "--localsieve", out,
                           "--download")
        with open(out) as f:
            self.assertEqual(f.read(), 'require "fileinto";\nkeep;\n')
        # Deactivate and delete.
        self.sieve_connect("alice@example.com", "--deactivate")
        self.assertFalse(os.path.lexists(os.path.join(home, ".dovecot.sieve")))
        self.sieve_connect("alice@example.com", "--remotesieve", "other", "--delete")
        self.assertFalse(os.path.exists(os.path.join(home, "sieve", "other.sieve")))
        # A wrong password: refused.
        r = subprocess.run(["sieve-connect", "--nosrv", "--server", "127.0.0.1", "--port",
                            str(self.stack.sieve_port), "--user", "alice@example.com",
                            "--passwordfd", "0", "--notlsverify", "--authmech", "PLAIN", "--list"],
                           input="wrong\n", capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)

    def test_a_syntax_error_is_refused_with_its_position(self):
        path = os.path.join(self.tmp, "bad.sieve")
        with open(path, "w") as f:
            f.write('require "fileinto";\nif true {\n  filein "x";\n}\n')
        r = self.sieve_connect("alice@example.com", "--localsieve", path, "--upload", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("line 3, column 3", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(
            os.path.join(self.stack.store, DOMAIN, "alice", "sieve", "bad.sieve")))
        c = ManageSieve(self.stack)
        try:
            self.assertIn(b'"SASL" "PLAIN LOGIN"', c.capabilities)
            self.assertIn(b'"SASL" ""', c.greeting, "no passwords before TLS")
            self.assertTrue(c.login("alice@example.com").startswith(b"OK"))
            script = b'if true {\r\n  filein "x";\r\n}\r\n'
            r = c.cmd(b'PUTSCRIPT "bad" {%d+}\r\n%s\r\n' % (len(script), script))
            self.assertTrue(r.startswith(b'NO "line 2, column 3: '), r)
            r = c.cmd(b'CHECKSCRIPT "keep;"\r\n')
            self.assertTrue(r.startswith(b"OK"), r)
        finally:
            c.close()

    # --- delivery ----------------------------------------------------------------------------
    def test_fileinto_flags_and_missing_folders(self):
        self.upload("alice@example.com", "filters", """require ["fileinto", "imap4flags", "mailbox"];
if header :contains "subject" "work" { fileinto :create "Work"; }
elsif header :contains "subject" "important" { addflag "\\\\Flagged"; keep; }
elsif header :contains "subject" "read" { fileinto :flags ["\\\\Seen", "$Label1"] "Archive"; }
elsif header :contains "subject" "nofolder" { fileinto "Missing"; }
elsif header :contains "subject" "drop" { discard; }
""")
        for s in ("work item", "important news", "read later", "nofolder here", "drop me",
                  "plain"):
            code, resp = self.deliver("alice@example.com", msg(s))
            self.assertEqual(code, 250, resp)
        work = self.files("alice@example.com", "Work")
        self.assertEqual(len(work), 1)
        self.assertIn(b"Subject: work item", work[0][1])
        archive = self.files("alice@example.com", "Archive")
        self.assertEqual(len(archive), 1)
        # \Seen in the file name, $Label1 as a dovecot-keywords letter.
        self.assertRegex(archive[0][0], r":2,S[a-z]*$")
        self.assertRegex(archive[0][0], r":2,[A-Z]*[a-z]*a")
        with open(os.path.join(self.stack.maildir("alice@example.com", "Archive"),
                               "dovecot-keywords")) as f:
            self.assertIn("0 $Label1", f.read())
        inbox = self.files("alice@example.com")
        subjects = sorted(re.search(rb"Subject: ([^\r]*)", c).group(1).decode() for _, c in inbox)
        self.assertEqual(subjects, ["important news", "nofolder here", "plain"])
        flagged = [n for n, c in inbox if b"important news" in c]
        self.assertTrue(flagged[0].endswith(":2,F"), flagged)
        self.assertFalse(os.path.isdir(self.stack.maildir("alice@example.com", "Missing")))

    def test_reject_is_550_for_that_recipient(self):
        self.upload("bob@example.com", "r", 'require "reject";\n'
                    'if header :contains "subject" "offer" { reject "No offers, thanks."; }\n')
        refused, res = self.lmtp("carol@example.com", ["bob@example.com", "dave@example.com"],
                                 msg("great offer", to="bob@example.com, dave@example.com"))
        self.assertEqual(refused, {})
        code, text = res["bob@example.com"]
        self.assertEqual(code, 550, text)
        self.assertIn("5.7.1", text)
        self.assertIn("No offers, thanks.", text)
        self.assertEqual(res["dave@example.com"][0], 250)
        self.assertEqual(self.files("bob@example.com"), [])
        self.assertEqual(len(self.files("dave@example.com")), 1)

    def test_vacation_once_per_sender_never_to_lists_or_automatic_mail(self):
        self.upload("alice@example.com", "away", 'require "vacation";\n'
                    'vacation :days 1 :subject "Out of office" "I am away until Monday.";\n')
        self.deliver("alice@example.com", msg("first"), sender="carol@example.com")
        wait_for(lambda: self.files("carol@example.com"), timeout=30, what="carol's reply")
        # Second mail from carol: no second reply. Mail from a list, from <>, and an
        # auto-submitted one: no reply either. Then dave writes: he gets one.
        self.deliver("alice@example.com", msg("second"), sender="carol@example.com")
        self.deliver("alice@example.com", msg("list post", frm="bob@example.com",
                                              extra="List-Id: <team.example.com>\r\n"),
                     sender="bob@example.com")
        self.deliver("alice@example.com", msg("bounce", frm="mailer-daemon@example.com"),
                     sender="")
        self.deliver("alice@example.com", msg("auto", frm="frank@example.com",
                                              extra="Auto-Submitted: auto-generated\r\n"),
                     sender="frank@example.com")
        self.deliver("alice@example.com", msg("hello", frm="dave@example.com"),
                     sender="dave@example.com")
        # Replies are handed to smtp-mta before lmtp-mda answers the LMTP DATA: by now every
        # reply there will be has been sent, and the log says how many.
        self.assertEqual(self.stack.log("lmtp-mda").count("vacation reply sent"), 2)
        wait_for(lambda: self.files("dave@example.com"), timeout=30, what="dave's reply")
        self.assertEqual(len(self.files("carol@example.com")), 1)
        self.assertEqual(self.files("bob@example.com"), [])
        self.assertEqual(self.files("frank@example.com"), [])
        self.assertEqual(len(self.files("alice@example.com")), 6, "every message kept")
        _, reply = self.files("carol@example.com")[0]
        self.assertIn(b"Return-Path: <>", reply)
        self.assertIn(b"Auto-Submitted: auto-replied", reply)
        self.assertIn(b"Subject: Out of office", reply)
        self.assertIn(b"In-Reply-To: <first.", reply)
        self.assertIn(b"I am away until Monday.", reply)
        self.assertIn(b"To: <carol@example.com>", reply.replace(b"To: carol", b"To: <carol"))

    def test_redirect_to_a_local_user_and_a_loop_is_stopped(self):
        self.upload("bob@example.com", "fwd", 'redirect "carol@example.com";\n')
        self.deliver("bob@example.com", msg("for bob", to="bob@example.com"),
                     sender="someone@remote.test")
        wait_for(lambda: self.files("carol@example.com"), timeout=30, what="the redirect")
        _, copy = self.files("carol@example.com")[0]
        self.assertIn(b"X-Sieve-Redirected-From: <bob@example.com>", copy)
        self.assertIn(b"Return-Path: <someone@remote.test>", copy, "envelope sender kept")
        self.assertEqual(self.files("bob@example.com"), [])
        # dave and erin redirect to each other: the message ends in one INBOX, once.
        self.upload("dave@example.com", "fwd", 'redirect "erin@example.com";\n')
        self.upload("erin@example.com", "fwd", 'redirect "dave@example.com";\n')
        self.deliver("dave@example.com", msg("ping pong", to="dave@example.com"),
                     sender="someone@remote.test")
        # The chain ends when the message comes back to dave, who keeps it.
        wait_for(lambda: self.files("dave@example.com"), timeout=30, what="the loop to end")
        self.assertEqual(len(self.files("dave@example.com")), 1)
        self.assertEqual(self.files("erin@example.com"), [])
        _, kept = self.files("dave@example.com")[0]
        self.assertIn(b"X-Sieve-Redirected-From: <erin@example.com>", kept)
        self.assertIn("sieve redirect loop", self.stack.log("lmtp-mda"))

    def test_global_before_script_files_spam_into_junk(self):
        # frank has no script of his own; alice's own script still runs for ham.
        self.upload("alice@example.com", "mine", 'require "fileinto";\nfileinto :copy "Archive";\n'
                    .replace('require "fileinto"', 'require ["fileinto", "copy"]'))
        code, _ = self.deliver("frank@example.com", msg("buy now", to="frank@example.com",
                                                        extra="X-Spam-Flag: YES\r\n"))
        self.assertEqual(code, 250)
        self.assertEqual(len(self.files("frank@example.com", "Junk")), 1)
        self.assertEqual(self.files("frank@example.com"), [])
        self.deliver("alice@example.com", msg("spam", extra="X-Spam-Flag: YES\r\n"))
        self.deliver("alice@example.com", msg("ham"))
        self.assertEqual(len(self.files("alice@example.com", "Junk")), 1)
        self.assertEqual(len(self.files("alice@example.com", "Archive")), 1)
        self.assertEqual(len(self.files("alice@example.com")), 1)


if __name__ == "__main__":
    unittest.main()
