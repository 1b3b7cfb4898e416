"""imap-server end to end with real IMAP clients from Debian: mbsync (isync) keeping a local
Maildir in two-way sync over implicit TLS and over STARTTLS, and mutt driven through tmux
reading, flagging, moving and deleting mail. Every result is checked twice: in the server's
Maildir on disk (file names' `:2,` flags, files in `.Archive/cur`) and in the server's IMAP
answers, not only in the clients' exit codes."""
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

from harness import StackTest, wait_for
from test_lmtp import LmtpClient, message

DOMAIN = "example.com"
ALICE = f"alice@{DOMAIN}"
PASSWORD = "secret-pw"


def require(program, package):
    """Fail (never skip) when a client is missing: scripts/test installs them from Debian."""
    path = shutil.which(program)
    if path is None:
        raise AssertionError(f"`{program}` is missing: install the Debian package `{package}` "
                             f"(scripts/test does)")
    return path


def make_loopback_certificate(stack):
    """The server's self-signed certificate, named for 127.0.0.1: mbsync checks the name
    against the host it connects to, even for a certificate listed in CertificateFile.
    Written before imap-server starts, so the harness does not make its own (CN=mx.test)."""
    tls = os.path.join(stack.dir, "tls")
    os.makedirs(tls, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=DNS:127.0.0.1,IP:127.0.0.1",
                    "-keyout", os.path.join(tls, "key.pem"),
                    "-out", os.path.join(tls, "cert.pem")], check=True, capture_output=True)
    return os.path.join(tls, "cert.pem")


def subject_of(data):
    m = re.search(rb"^Subject: ?(.*?)\r?$", data, re.MULTILINE | re.IGNORECASE)
    return m.group(1).decode() if m else None


def maildir_index(path):
    """{subject: (subdir, file name, flags)} of a Maildir folder (new/ and cur/).
    A file in new/ without an info part has flags None. Read again when a file is renamed
    under our feet (a client may be working on the folder while a test polls it)."""
    for _ in range(50):
        try:
            return _maildir_index(path)
        except FileNotFoundError:
            time.sleep(0.02)
    return _maildir_index(path)


def _maildir_index(path):
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                subject = subject_of(f.read())
            flags = name.split(":2,", 1)[1] if ":2," in name else None
            if subject in out:
                raise AssertionError(f"two files for {subject!r} in {path}: "
                                     f"{out[subject][1]} and {sub}/{name}")
            out[subject] = (sub, name, flags)
    return out


def flags_of(index):
    """{subject: flags} with a file in new/ without info counted as no flags."""
    return {s: (f or "") for s, (_, _, f) in index.items()}


def imap_flags(client, mailbox):
    """{subject: set of flags} as the server answers UID FETCH 1:* for `mailbox`."""
    typ, data = client.select(mailbox)
    if typ != "OK":
        raise AssertionError(f"SELECT {mailbox}: {typ} {data}")
    count = int(data[0])
    if count == 0:
        return {}
    typ, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    if typ != "OK":
        raise AssertionError(f"UID FETCH in {mailbox}: {typ} {data}")
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head, body = item
        m = re.search(rb"FLAGS \(([^)]*)\)", head)
        if m is None:  # FLAGS after the literal: imaplib puts it in the next element
            idx = data.index(item)
            tail = data[idx + 1] if idx + 1 < len(data) else b""
            m = re.search(rb"FLAGS \(([^)]*)\)", tail if isinstance(tail, bytes) else b"")
        if m is None:
            raise AssertionError(f"no FLAGS in {item!r}")
        # \Recent is session state, not the message's: left out.
        out[subject_of(body)] = set(m.group(1).decode().split()) - {r"\Recent"}
    if len(out) != count:
        raise AssertionError(f"{mailbox}: {count} EXISTS but {len(out)} messages fetched: {data}")
    return out


class ClientTest(StackTest):
    """alice with mail delivered by lmtp-mda, imap-server on a certificate for 127.0.0.1."""

    def setUp(self):
        super().setUp()
        s = self.stack
        self.cert = make_loopback_certificate(s)
        s.add_user(ALICE)
        s.start("lmtp-mda")
        s.start("imap-server")

    def deliver(self, subject, body="Hello.\r\n"):
        c = LmtpClient("127.0.0.1", self.stack.lmtp_port)
        try:
            _, res = c.send_lmtp("s@remote.test", [ALICE], message(subject, body))
            self.assertEqual(res[ALICE][0], 250, res)
        finally:
            c.close()

    def server(self, folder=""):
        return maildir_index(self.stack.maildir(ALICE, folder))


# --- mbsync --------------------------------------------------------------------------------------

class MbsyncTests(ClientTest):
    def setUp(self):
        self.mbsync = require("mbsync", "isync")
        super().setUp()
        self.local = os.path.join(self.tmp, "local")
        os.makedirs(self.local)

    def write_rc(self, mode):
        if mode == "imaps":
            port, ssl_type = self.stack.imaps_port, "IMAPS"
        else:
            port, ssl_type = self.stack.imap_port, "STARTTLS"
        rc = os.path.join(self.tmp, "mbsyncrc")
        with open(rc, "w") as f:
            f.write(f"""IMAPAccount server
Host 127.0.0.1
Port {port}
User {ALICE}
Pass {PASSWORD}
SSLType {ssl_type}
CertificateFile {self.cert}
Timeout 120

IMAPStore remote
Account server

MaildirStore local
Path {self.local}/
Inbox {self.local}/INBOX
SubFolders Verbatim

Channel alice
Far :remote:
Near :local:
Patterns INBOX Work Projects
Create Both
Expunge Both
SyncState *
""")
        return rc

    def sync(self, rc):
        r = subprocess.run([self.mbsync, "-V", "-c", rc, "-a"], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "HOME": self.tmp})
        self.assertEqual(r.returncode, 0, f"mbsync failed:\n{r.stdout}\n{r.stderr}\n"
                                          f"--- imap-server.log ---\n"
                                          f"{self.stack.log('imap-server')[-6000:]}")
        return r.stdout + r.stderr

    def local_dir(self, folder):
        return os.path.join(self.local, folder)

    def rename_local(self, folder, subject, flags):
        """What a mail reader does: move the message to cur/ with new `:2,` flags."""
        sub, name, _ = maildir_index(self.local_dir(folder))[subject]
        base = name.split(":2,", 1)[0]
        os.rename(os.path.join(self.local_dir(folder), sub, name),
                  os.path.join(self.local_dir(folder), "cur", f"{base}:2,{flags}"))

    def add_local(self, folder, subject, flags=None):
        d = self.local_dir(folder)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        name = f"{int(time.time())}.M{uuid.uuid4().hex}P{os.getpid()}.localhost"
        path = os.path.join(d, "new", name) if flags is None else \
            os.path.join(d, "cur", f"{name}:2,{flags}")
        with open(path, "wb") as f:
            f.write(message(subject, "Written locally.\r\n"))

    def two_way_sync(self, mode):
        s = self.stack
        for i in range(1, 5):
            self.deliver(f"m{i}")
        c = s.imap(ALICE)
        self.assertEqual(c.create("Work")[0], "OK")
        for w in ("w1", "w2"):
            typ, data = c.append("Work", None, None, message(w))
            self.assertEqual(typ, "OK", data)
        c.logout()
        # A folder that exists only locally: Create Both makes it on the server.
        self.add_local("Projects", "p1", flags="S")

        rc = self.write_rc(mode)
        self.sync(rc)
        self.assertEqual(set(maildir_index(self.local_dir("INBOX"))), {"m1", "m2", "m3", "m4"})
        self.assertEqual(set(maildir_index(self.local_dir("Work"))), {"w1", "w2"})
        self.assertEqual(flags_of(self.server("Projects")), {"p1": "S"})

        # Local changes: m1 seen and flagged, m2 marked deleted (T), w1's file removed, a new
        # message written into the local INBOX.
        self.rename_local("INBOX", "m1", "FS")
        self.rename_local("INBOX", "m2", "ST")
        sub, name, _ = maildir_index(self.local_dir("Work"))["w1"]
        os.remove(os.path.join(self.local_dir("Work"), sub, name))
        self.add_local("INBOX", "local-new")
        # Server changes: flags on m3 and w2, a new message delivered.
        c = s.imap(ALICE)
        c.select("INBOX")
        typ, data = c.search(None, "SUBJECT", "m3")
        self.assertEqual(len(data[0].split()), 1, data)
        self.assertEqual(c.store(data[0], "+FLAGS", r"(\Answered \Flagged)")[0], "OK")
        c.select("Work")
        typ, data = c.search(None, "SUBJECT", "w2")
        self.assertEqual(c.store(data[0], "+FLAGS", r"(\Seen)")[0], "OK")
        c.logout()
        self.deliver("m5")

        self.sync(rc)

        # The server, on disk: m2 and w1 expunged, local-new appended, flags from both sides.
        self.assertEqual(flags_of(self.server()),
                         {"m1": "FS", "m3": "FR", "m4": "", "m5": "", "local-new": ""})
        self.assertEqual(flags_of(self.server("Work")), {"w2": "S"})
        self.assertEqual(flags_of(self.server("Projects")), {"p1": "S"})
        # The server, over IMAP.
        c = s.imap(ALICE)
        self.assertEqual(imap_flags(c, "INBOX"), {
            "m1": {r"\Seen", r"\Flagged"}, "m3": {r"\Answered", r"\Flagged"}, "m4": set(),
            "m5": set(), "local-new": set()})
        self.assertEqual(imap_flags(c, "Work"), {"w2": {r"\Seen"}})
        self.assertEqual(imap_flags(c, "Projects"), {"p1": {r"\Seen"}})
        c.logout()
        # The local side: the same messages with the same flags.
        self.assertEqual(flags_of(maildir_index(self.local_dir("INBOX"))),
                         {"m1": "FS", "m3": "FR", "m4": "", "m5": "", "local-new": ""})
        self.assertEqual(flags_of(maildir_index(self.local_dir("Work"))), {"w2": "S"})
        # mbsync numbered every local file (`,U=`), local-new included once it was APPENDed.
        for subject, (_, name, _) in maildir_index(self.local_dir("INBOX")).items():
            self.assertRegex(name, r",U=\d+(:2,|$)", subject)

        # A third run finds nothing to do: both sides stay as they are.
        before = (self.server(), self.server("Work"), maildir_index(self.local_dir("INBOX")),
                  maildir_index(self.local_dir("Work")))
        self.sync(rc)
        after = (self.server(), self.server("Work"), maildir_index(self.local_dir("INBOX")),
                 maildir_index(self.local_dir("Work")))
        self.assertEqual(before, after)

    def test_mbsync_two_way_sync_over_imaps(self):
        self.two_way_sync("imaps")

    def test_mbsync_two_way_sync_over_starttls(self):
        self.two_way_sync("starttls")


# --- mutt ----------------------------------------------------------------------------------------

class Tmux:
    """A private tmux server (its own socket in its own directory, so parallel tests never
    meet) running one program in a 200x50 pane, read back with capture-pane."""

    def __init__(self, test, command, env):
        self.tmux = require("tmux", "tmux")
        self.name = f"mailstack-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.sockdir = tempfile.mkdtemp(prefix="mailstack-tmux-")
        self.socket = os.path.join(self.sockdir, "tmux.sock")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        self.env.update(env)
        self.test = test
        self.run("new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", command)
        test.addCleanup(self.close)

    def run(self, *args, check=True):
        r = subprocess.run([self.tmux, "-S", self.socket, *args], capture_output=True, text=True,
                           timeout=30, env=self.env)
        if check and r.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {r.stderr}")
        return r

    def alive(self):
        return self.run("has-session", "-t", self.name, check=False).returncode == 0

    def screen(self):
        r = self.run("capture-pane", "-p", "-t", self.name, check=False)
        return r.stdout if r.returncode == 0 else ""

    def keys(self, *keys):
        """Each argument: a literal string, or a tmux key name written as <Enter>."""
        for k in keys:
            if k.startswith("<") and k.endswith(">") and len(k) > 2:
                self.run("send-keys", "-t", self.name, k[1:-1])
            else:
                self.run("send-keys", "-t", self.name, "-l", k)

    def wait(self, predicate, what, timeout=30.0):
        """Poll until `predicate(screen)` (which may look elsewhere too, at the store); fail
        showing the screen and the server's log."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            if not self.alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}\n"
                             f"--- imap-server.log ---\n"
                             f"{self.test.stack.log('imap-server')[-6000:]}")

    def wait_for_text(self, text, timeout=30.0):
        return self.wait(lambda sc: text in sc, repr(text), timeout)

    def close(self):
        if self.alive():
            self.run("kill-session", "-t", self.name, check=False)
        self.run("kill-server", check=False)
        shutil.rmtree(self.sockdir, ignore_errors=True)


class MuttTests(ClientTest):
    SUBJECTS = ("mutt-read", "mutt-flag", "mutt-move", "mutt-delete", "mutt-keep")

    def setUp(self):
        self.mutt = require("mutt", "mutt")
        require("tmux", "tmux")
        super().setUp()

    def muttrc(self):
        # mutt trusts the certificates listed in certificate_file: the server's own.
        certs = os.path.join(self.tmp, "mutt-certificates")
        shutil.copyfile(self.cert, certs)
        rc = os.path.join(self.tmp, "muttrc")
        folder = f"imaps://{ALICE.replace('@', '%40')}@127.0.0.1:{self.stack.imaps_port}/"
        with open(rc, "w") as f:
            f.write(f"""set imap_user = "{ALICE}"
set imap_pass = "{PASSWORD}"
set folder = "{folder}"
set spoolfile = "+INBOX"
set certificate_file = "{certs}"
set ssl_verify_host = no
set imap_check_subscribed = no
set header_cache = ""
set message_cachedir = ""
set move = no
set confirmappend = no
set confirmcreate = no
set delete = yes
set record = ""
set mark_old = no
set arrow_cursor = yes
set sort = subject
set wait_key = no
set quit = yes
set beep = no
set timeout = 1
set mail_check = 1
""")
        return rc

    def cursor_on(self, subject):
        """The index line under the cursor (`->`) shows `subject`."""
        return lambda sc: any(l.lstrip().startswith("->") and subject in l
                              for l in sc.splitlines())

    def select(self, tm, subject):
        tm.keys("/")
        tm.wait_for_text("Search for:")
        tm.keys(f"~s {subject}", "<Enter>")
        tm.wait(self.cursor_on(subject), f"the cursor on {subject}")

    def read(self, tm, subject):
        self.select(tm, subject)
        tm.keys("<Enter>")
        tm.wait_for_text(f"Body of {subject}.")
        tm.keys("q")
        tm.wait(lambda sc: f"Body of {subject}." not in sc and self.cursor_on(subject)(sc),
                "the index after the pager")

    def test_mutt_reads_flags_moves_and_deletes(self):
        for subject in self.SUBJECTS:
            self.deliver(subject, f"Body of {subject}.\r\n")
        tm = Tmux(self, f"{self.mutt} -n -F {self.muttrc()}",
                  {"HOME": self.tmp, "TERM": "xterm", "LC_ALL": "C.UTF-8"})
        tm.wait(lambda sc: all(s in sc for s in self.SUBJECTS) and "->" in sc,
                "the INBOX index with every message", timeout=60)

        # Read mutt-read and mutt-move: Enter opens the pager, q goes back to the index.
        for subject in ("mutt-read", "mutt-move"):
            self.read(tm, subject)
        # Flag mutt-flag.
        self.select(tm, "mutt-flag")
        tm.keys("F")
        tm.wait(lambda sc: any("mutt-flag" in l and "!" in l.split("mutt-flag")[0]
                               for l in sc.splitlines()), "the ! of mutt-flag")
        # Save the read mutt-move to =Archive: mutt stores its \Seen, COPYs it, then marks it
        # deleted here. (Read first so that the copy must land in cur/ with `:2,S`; a copy
        # without flags rightly goes to new/.)
        self.select(tm, "mutt-move")
        tm.keys("s")
        tm.wait_for_text("Save to mailbox")
        tm.keys("<C-u>", "=Archive", "<Enter>")
        tm.wait(lambda sc: "mutt-move" in self.server("Archive"), "the copy in .Archive")
        # Delete mutt-delete.
        self.select(tm, "mutt-delete")
        tm.keys("d")
        # Sync: the deletions are expunged (delete=yes asks nothing).
        tm.keys("$")

        tm.wait(lambda sc: set(self.server()) == {"mutt-read", "mutt-flag", "mutt-keep"},
                "the expunge in the server's INBOX", timeout=60)
        tm.keys("q")
        wait_for(lambda: not tm.alive(), timeout=30, what="mutt to quit")

        # On the server's disk.
        inbox = self.server()
        self.assertEqual(flags_of(inbox),
                         {"mutt-read": "S", "mutt-flag": "F", "mutt-keep": ""})
        self.assertEqual(inbox["mutt-read"][0], "cur")
        self.assertEqual(inbox["mutt-flag"][0], "cur")
        archive = self.server("Archive")
        self.assertEqual(flags_of(archive), {"mutt-move": "S"})
        self.assertEqual(archive["mutt-move"][0], "cur")
        for folder in ("Trash", "Sent", "Drafts", "Junk"):
            self.assertEqual(self.server(folder), {}, folder)
        # In the server's answers.
        c = self.stack.imap(ALICE)
        self.assertEqual(imap_flags(c, "INBOX"), {
            "mutt-read": {r"\Seen"}, "mutt-flag": {r"\Flagged"}, "mutt-keep": set()})
        self.assertEqual(imap_flags(c, "Archive"), {"mutt-move": {r"\Seen"}})
        typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
        self.assertIn(b"Body of mutt-move.", data[0][1])
        c.logout()
