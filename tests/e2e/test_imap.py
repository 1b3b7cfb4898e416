"""imap-server end to end, part 1: the transport and the session around the commands.
STARTTLS and implicit TLS, logins (LOGIN, AUTHENTICATE PLAIN/LOGIN, the throttle), mail
delivered by lmtp-mda showing up in IDLE, COMPRESS=DEFLATE, shutdown, and hostile input.
Python's imaplib (and raw sockets where imaplib cannot) against the running binaries."""
import base64
import imaplib
import os
import socket
import ssl
import threading
import time
import zlib

from harness import StackTest, http_get, wait_for
from test_lmtp import LmtpClient, message

DOMAIN = "example.com"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class RawImap:
    """A line-level IMAP client for what imaplib cannot say (COMPRESS, garbage)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.inflate = None
        self.deflate = None

    def send(self, data):
        if self.deflate:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += self.inflate.decompress(chunk) if self.inflate else chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def until_tagged(self, tag):
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + " "):
                return lines

    def cmd(self, tag, text):
        self.send(f"{tag} {text}\r\n".encode())
        return self.until_tagged(tag)


class ImapStackTest(StackTest):
    """alice and bob, lmtp-mda and imap-server running; delivery over LMTP; raw sessions."""

    alice_quota = None

    def setUp(self):
        super().setUp()
        s = self.stack
        s.add_user(ALICE, quota=self.alice_quota)
        s.add_user(BOB)
        s.start("lmtp-mda")
        s.start("imap-server")

    def deliver(self, rcpt, subject, body="Hello.\r\n"):
        c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        try:
            _, res = c.send_lmtp("s@remote.test", [rcpt], message(subject, body))
            self.assertEqual(res[rcpt][0], 250, res)
        finally:
            c.close()

    def raw_tls(self, login=None):
        """A raw session on the implicit-TLS port, greeted, logged in as `login` if given."""
        ctx = self.stack.tls_context()
        sock = socket.create_connection(("127.0.0.1", self.stack.imaps_port), timeout=30)
        raw = RawImap(ctx.wrap_socket(sock))
        self.assertTrue(raw.line().startswith("* OK"))
        if login:
            self.assertTrue(raw.cmd("l", f"LOGIN {login} secret-pw")[-1].startswith("l OK"))
        return raw


class ImapTransportTests(ImapStackTest):
    def test_starttls_port_refuses_passwords_in_clear(self):
        c = self.stack.imap(tls=False)
        caps = c.capabilities
        self.assertIn("STARTTLS", caps)
        self.assertIn("LOGINDISABLED", caps)
        self.assertNotIn("AUTH=PLAIN", caps)
        with self.assertRaises(imaplib.IMAP4.error) as e:
            c.login(ALICE, "secret-pw")
        self.assertIn("PRIVACYREQUIRED", str(e.exception))
        c.starttls(ssl_context=self.stack.tls_context())
        typ, caps = c.capability()
        caps = caps[0].decode().split()
        self.assertNotIn("STARTTLS", caps)
        self.assertNotIn("LOGINDISABLED", caps)
        self.assertIn("AUTH=PLAIN", caps)
        self.assertEqual(c.login(ALICE, "secret-pw")[0], "OK")
        c.logout()

    def test_commands_pipelined_behind_starttls_are_dropped(self):
        sock = socket.create_connection(("127.0.0.1", self.stack.imap_port), timeout=30)
        raw = RawImap(sock)
        raw.line()
        # The injected LOGIN travels in clear with STARTTLS; it must never run under TLS.
        sock.sendall(b"a1 STARTTLS\r\na2 LOGIN alice@example.com secret-pw\r\n")
        self.assertTrue(raw.until_tagged("a1")[-1].startswith("a1 OK"))
        tls = self.stack.tls_context().wrap_socket(sock)
        raw = RawImap(tls)
        lines = raw.cmd("a3", "NOOP")
        self.assertFalse(any(l.startswith("a2 ") for l in lines), lines)
        lines = raw.cmd("a4", "SELECT INBOX")
        self.assertTrue(lines[-1].startswith("a4 BAD"), lines)

    def test_implicit_tls_login_and_read_delivered_mail(self):
        self.deliver(ALICE, "first")
        c = self.stack.imap(ALICE)
        typ, data = c.select("INBOX")
        self.assertEqual(data, [b"1"])
        typ, data = c.fetch("1", "(BODY.PEEK[HEADER])")
        self.assertIn(b"Subject: first", data[0][1])
        c.logout()

    def test_authenticate_plain_and_login(self):
        c = self.stack.imap()
        typ, _ = c.authenticate("PLAIN", lambda _: f"\0{ALICE}\0secret-pw".encode())
        self.assertEqual(typ, "OK")
        c.logout()
        c = self.stack.imap()
        answers = iter([ALICE.encode(), b"secret-pw"])
        typ, _ = c.authenticate("LOGIN", lambda _: next(answers))
        self.assertEqual(typ, "OK")
        c.logout()

    def test_failed_logins_are_slowed_across_connections_then_cut(self):
        # 200ms steps per client address and login name: at least 0.2, 0.4, 0.6 s. Only lower
        # bounds are asserted: the password check itself takes a varying time on a busy machine.
        for n in range(3):
            c = self.stack.imap()
            start = time.monotonic()
            with self.assertRaises(imaplib.IMAP4.error) as e:
                c.login(ALICE, "wrong")
            self.assertGreaterEqual(time.monotonic() - start, 0.2 * (n + 1) - 0.02, n)
            self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
            c.logout()
        # Three failures on one connection end it.
        raw = self.raw_tls()
        for i in range(3):
            lines = raw.cmd(f"b{i}", f"LOGIN {BOB} wrong")
            self.assertIn("NO [AUTHENTICATIONFAILED]", lines[-1])
        self.assertTrue(raw.line().startswith("* BYE"))
        with self.assertRaises((EOFError, ConnectionError, ssl.SSLError)):
            raw.line()
        # The right password still works (and clears the counters).
        c = self.stack.imap(BOB)
        c.logout()
        self.assertNotIn("wrong", self.stack.log("imap-server"))

    def test_idle_announces_lmtp_delivery_within_a_second(self):
        c = self.stack.imap(ALICE)
        c.select("INBOX")
        tag = c._new_tag().decode()
        c.send(f"{tag} IDLE\r\n".encode())
        self.assertTrue(c.readline().startswith(b"+"))
        start = time.monotonic()
        delivery = threading.Thread(target=self.deliver, args=(ALICE, "during idle"))
        delivery.start()
        line = c.readline()
        elapsed = time.monotonic() - start
        # The client sees the file before lmtp-mda's 250 reaches the LMTP client: let it finish
        # before tearDown stops lmtp-mda.
        delivery.join(timeout=30)
        self.assertEqual(line.strip(), b"* 1 EXISTS")
        self.assertLess(elapsed, 1.0)
        c.send(b"DONE\r\n")
        while not c.readline().startswith(tag.encode()):
            pass
        c.logout()

    def test_compress_deflate(self):
        for i in range(3):
            self.deliver(ALICE, f"compressed {i}", body="Hello again and again.\r\n" * 50)
        raw = self.raw_tls()
        raw.cmd("a1", f"LOGIN {ALICE} secret-pw")
        caps = " ".join(raw.cmd("a2", "CAPABILITY"))
        self.assertIn("COMPRESS=DEFLATE", caps)
        self.assertTrue(raw.cmd("a3", "COMPRESS DEFLATE")[-1].startswith("a3 OK"))
        raw.inflate = zlib.decompressobj(-15)
        raw.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        lines = raw.cmd("a4", "SELECT INBOX")
        self.assertIn("* 3 EXISTS", lines)
        lines = raw.cmd("a5", "FETCH 1:3 (BODY.PEEK[TEXT])")
        self.assertEqual(sum(1 for l in lines if l.startswith("* ") and " FETCH " in l), 3)
        self.assertIn("Hello again and again.", "\n".join(lines))
        lines = raw.cmd("a6", "COMPRESS DEFLATE")
        self.assertIn("COMPRESSIONACTIVE", lines[-1])
        self.assertTrue(raw.cmd("a7", "LOGOUT")[-1].startswith("a7 OK"))

    def test_sigterm_says_bye_and_exits(self):
        c = self.stack.imap(ALICE)
        c.select("INBOX")
        self.assertEqual(http_get(self.stack.admin_url("imap-server") + "/readyz")[0], 200)
        self.assertEqual(self.stack.stop("imap-server"), 0)
        self.assertIn(b"BYE", c.readline())
        # The index connections kept open for the next SELECT were closed on the way out:
        # closing checkpoints the write-ahead log into the index and removes it.
        index = os.path.join(self.stack.maildir(ALICE), "mailstack-index.sqlite")
        self.assertTrue(os.path.exists(index))
        self.assertFalse(os.path.exists(index + "-wal"), "the index's WAL was left behind")


class ImapHostileInputTests(StackTest):
    """Each attack is answered or disconnected, memory stays bounded, others keep working."""

    def setUp(self):
        super().setUp()
        self.stack.add_user(ALICE)
        self.stack.start("imap-server")
        self.pid = self.stack.procs["imap-server"].pid

    def raw(self, login=True):
        ctx = self.stack.tls_context()
        sock = socket.create_connection(("127.0.0.1", self.stack.imaps_port), timeout=30)
        raw = RawImap(ctx.wrap_socket(sock))
        raw.line()
        if login:
            self.assertTrue(raw.cmd("l", f"LOGIN {ALICE} secret-pw")[-1].startswith("l OK"))
        return raw

    def assert_still_serving(self):
        c = self.stack.imap(ALICE)
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()

    def test_huge_literal_announcements(self):
        raw = self.raw()
        # A synchronizing 4 GB literal is refused before a byte of it is sent.
        lines = raw.cmd("a1", "APPEND INBOX {4294967296}")
        self.assertTrue(lines[-1].startswith("a1 NO") or lines[-1].startswith("a1 BAD"), lines)
        self.assertIn("TOOBIG", lines[-1])
        # A non-synchronizing one (LITERAL+) cannot be refused before it arrives: the server
        # answers and closes rather than reading 4 GB.
        try:
            raw.send(b"a2 APPEND INBOX {4294967296+}\r\n" + b"x" * 65536)
            lines = raw.until_tagged("a2")
            self.assertTrue(lines[-1].startswith(("a2 NO", "a2 BAD")), lines)
        except (EOFError, ConnectionError, ssl.SSLError):
            pass
        self.assertLess(rss_kib(self.pid), 200 * 1024)
        self.assert_still_serving()

    def test_deep_nesting_and_long_lines(self):
        raw = self.raw()
        lines = raw.cmd("a1", "SEARCH " + "(" * 10000 + "ALL" + ")" * 10000)
        self.assertTrue(lines[-1].startswith("a1 BAD"), lines[-1][:200])
        raw.send(b"a2 NOOP " + b"x" * (200 * 1024) + b"\r\n")
        lines = raw.until_tagged("a2")
        self.assertTrue(lines[-1].startswith("a2 BAD"), lines[-1][:200])
        self.assertTrue(raw.cmd("a3", "NOOP")[-1].startswith("a3 OK"))
        self.assert_still_serving()

    def test_mailbox_names_that_escape_the_maildir(self):
        c = self.stack.imap(ALICE)
        for name in ["../bob", "../../etc", "a/../../b", "/etc/passwd", ".."]:
            typ, data = c.create(f'"{name}"')
            self.assertEqual(typ, "NO", name)
            typ, data = c.select(f'"{name}"')
            self.assertEqual(typ, "NO", name)
        c.logout()
        root = self.stack.store
        for dirpath, dirnames, _ in os.walk(root):
            for d in dirnames:
                self.assertNotIn("..", d.replace("...", ""), os.path.join(dirpath, d))
        self.assertFalse(os.path.exists(os.path.join(root, "etc")))

    def test_command_flood(self):
        raw = self.raw()
        raw.send(b"".join(f"f{i} NOOP\r\n".encode() for i in range(20000)))
        lines = raw.until_tagged("f19999")
        self.assertEqual(sum(1 for l in lines if " OK " in l and l.startswith("f")), 20000)
        self.assert_still_serving()

    def test_client_that_never_reads(self):
        # Fill the server's send path: many FETCHes of a large message, never reading.
        c = self.stack.imap(ALICE)
        msg = b"Subject: big\r\n\r\n" + b"y" * (1024 * 1024) + b"\r\n"
        c.append("INBOX", None, None, msg)
        c.logout()
        before = rss_kib(self.pid)
        raw = self.raw()
        raw.cmd("s", "SELECT INBOX")
        raw.sock.setblocking(False)
        sent = 0
        try:
            for i in range(400):
                raw.sock.send(f"r{i} FETCH 1 BODY.PEEK[]\r\n".encode())
                sent += 1
        except (BlockingIOError, ssl.SSLWantWriteError):
            pass
        time.sleep(1.0)
        # The server stops reading that client; its memory does not grow by the 400 MB asked.
        self.assertLess(rss_kib(self.pid) - before, 64 * 1024)
        self.assert_still_serving()
        raw.sock.close()


class ConnectionLimitTests(ImapStackTest):
    """Over `max_connections_per_ip`, imap-server answers with the protocol's refusal, a whole
    CRLF-terminated line, and closes: IMAP on the STARTTLS and implicit-TLS ports, ManageSieve
    on its own listener."""

    stack_extra = {"imap": {"max_connections_per_ip": 1},
                   "managesieve": {"max_connections_per_ip": 1}}

    def refusal(self, connect):
        first = connect()
        try:
            greeting = first.recv(4096)
            self.assertTrue(greeting, "the first connection is served")
            second = connect()
            try:
                data = b""
                while True:
                    chunk = second.recv(4096)
                    if not chunk:
                        return data
                    data += chunk
            finally:
                second.close()
        finally:
            first.close()

    def test_over_the_limit_is_refused_with_a_crlf_line(self):
        s = self.stack
        plain = lambda: socket.create_connection(("127.0.0.1", s.imap_port), timeout=30)  # noqa: E731
        self.assertEqual(self.refusal(plain),
                         b"* BYE [UNAVAILABLE] Too many connections, try later\r\n")
        ctx = s.tls_context()

        def tls():
            sock = socket.create_connection(("127.0.0.1", s.imaps_port), timeout=30)
            return ctx.wrap_socket(sock)
        self.assertEqual(self.refusal(tls),
                         b"* BYE [UNAVAILABLE] Too many connections, try later\r\n")
        sieve = lambda: socket.create_connection(("127.0.0.1", s.sieve_port), timeout=30)  # noqa: E731
        self.assertEqual(self.refusal(sieve),
                         b'BYE (TRYLATER) "Too many connections, try later"\r\n')
