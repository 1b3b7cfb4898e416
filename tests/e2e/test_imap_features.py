"""imap-server end to end, part 2: a scripted session per feature against the running binary,
results checked in the replies and on disk. imaplib where it speaks the feature, a raw
line client over TLS where it does not (CONDSTORE/QRESYNC, ESEARCH, MULTIAPPEND...)."""
import imaplib
import os
import re
import shutil
import subprocess
import tempfile

from harness import StackTest
from test_imap import ImapStackTest

DOMAIN = "example.com"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"


class ImapFeatureTests(ImapStackTest):
    alice_quota = "10M"

    def raw(self, user=ALICE):
        return self.raw_tls(login=user)

    def ok(self, raw, tag, text):
        lines = raw.cmd(tag, text)
        self.assertTrue(lines[-1].startswith(f"{tag} OK"), lines)
        return lines

    def files(self, folder=""):
        out = {}
        md = self.stack.maildir(ALICE, folder)
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                out[name] = sub
        return out

    def test_first_login_creates_special_use_folders_and_subscriptions(self):
        c = self.stack.imap(ALICE)
        typ, data = c.list()
        listing = b"\n".join(data).decode()
        for name, use in [("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"),
                          ("Junk", "\\Junk"), ("Archive", "\\Archive")]:
            self.assertRegex(listing, rf"\([^)]*\{use}[^)]*\) \"\.\" \"?{name}\"?")
            self.assertTrue(os.path.isdir(self.stack.maildir(ALICE, name)))
        with open(os.path.join(self.stack.maildir(ALICE), "subscriptions")) as f:
            subscribed = f.read()
        for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]:
            self.assertIn(name, subscribed)
        typ, data = c.namespace()
        self.assertEqual(data[0], b'(("" ".")) NIL NIL')
        c.logout()

    def test_two_sessions_see_each_others_changes(self):
        for i in range(3):
            self.deliver(ALICE, f"m{i}")
        a, b = self.raw(), self.raw()
        self.ok(a, "a1", "SELECT INBOX")
        self.ok(b, "b1", "SELECT INBOX")
        self.ok(a, "a2", "STORE 1 +FLAGS (\\Flagged)")
        lines = self.ok(b, "b2", "NOOP")
        self.assertTrue(any(re.match(r"\* 1 FETCH \(.*FLAGS \(.*\\Flagged", l) for l in lines), lines)
        self.ok(a, "a3", "STORE 2 +FLAGS (\\Deleted)")
        self.ok(a, "a4", "EXPUNGE")
        # Never an EXPUNGE while B fetches by sequence number...
        lines = self.ok(b, "b3", "FETCH 1:3 (FLAGS)")
        self.assertFalse(any("EXPUNGE" in l for l in lines), lines)
        self.assertEqual(sum(1 for l in lines if " FETCH (" in l), 3)
        # ...but at the next command that allows it.
        lines = self.ok(b, "b4", "NOOP")
        self.assertIn("* 2 EXPUNGE", lines)
        self.deliver(ALICE, "m3")
        lines = self.ok(b, "b5", "NOOP")
        self.assertIn("* 3 EXISTS", lines)

    def test_condstore_and_qresync_resync_returns_exactly_the_changes(self):
        for i in range(5):
            self.deliver(ALICE, f"m{i}")
        a = self.raw()
        self.ok(a, "a0", "ENABLE QRESYNC")
        lines = self.ok(a, "a1", "SELECT INBOX")
        uidvalidity = re.search(r"UIDVALIDITY (\d+)", "\n".join(lines)).group(1)
        modseq = re.search(r"HIGHESTMODSEQ (\d+)", "\n".join(lines)).group(1)
        a.sock.close()
        # While the client is away: a flag change, an expunge, a new message.
        b = self.raw()
        self.ok(b, "b1", "SELECT INBOX")
        self.ok(b, "b2", "UID STORE 2 +FLAGS (\\Seen)")
        self.ok(b, "b3", "UID STORE 4 +FLAGS (\\Deleted)")
        self.ok(b, "b4", "UID EXPUNGE 4")
        self.deliver(ALICE, "m5")
        a = self.raw()
        self.ok(a, "a0", "ENABLE QRESYNC")
        lines = self.ok(a, "a1", f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))")
        self.assertIn("* VANISHED (EARLIER) 4", lines)
        self.assertIn("* 5 EXISTS", lines)
        fetched = [l for l in lines if " FETCH (" in l]
        uids = sorted(int(re.search(r"UID (\d+)", l).group(1)) for l in fetched)
        # UID 2 changed flags, UID 6 is new; nothing else is reported.
        self.assertEqual(uids, [2, 6], lines)
        self.assertIn("\\Seen", [l for l in fetched if "UID 2" in l][0])
        # STORE UNCHANGEDSINCE refuses a stale change.
        lines = self.ok(a, "a2", f"UID STORE 1 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Answered)")
        b2 = self.raw()
        self.ok(b2, "c1", "SELECT INBOX")
        self.ok(b2, "c2", "UID STORE 3 +FLAGS (\\Flagged)")
        lines = a.cmd("a3", f"UID STORE 3 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Answered)")
        self.assertIn("[MODIFIED 3]", lines[-1])
        names = self.files()
        self.assertTrue(any(n.endswith(":2,F") for n in names), names)

    def test_copy_move_uidplus_on_disk(self):
        for i in range(3):
            self.deliver(ALICE, f"m{i}")
        a = self.raw()
        self.ok(a, "a1", "SELECT INBOX")
        self.ok(a, "a2", "STORE 1 +FLAGS (\\Seen \\Flagged)")
        lines = self.ok(a, "a3", "UID COPY 1 Archive")
        self.assertRegex(lines[-1], r"\[COPYUID \d+ 1 1\]")
        lines = self.ok(a, "a4", "UID MOVE 2 Trash")
        self.assertTrue(any("COPYUID" in l for l in lines[:-1]), lines)
        self.assertIn("* 2 EXPUNGE", lines)
        lines = a.cmd("a5", "COPY 1 Nowhere")
        self.assertIn("[TRYCREATE]", lines[-1])
        archive = self.files("Archive")
        self.assertEqual(len(archive), 1)
        self.assertTrue(list(archive)[0].endswith(":2,FS"), archive)
        self.assertEqual(len(self.files("Trash")), 1)
        self.assertEqual(len(self.files()), 2)
        # COPY hard-links the file: one inode, two names.
        inbox_file = [n for n in self.files() if n.endswith(":2,FS")][0]
        st = os.stat(os.path.join(self.stack.maildir(ALICE), "cur", inbox_file))
        self.assertEqual(st.st_nlink, 2)

    def test_rename_with_children_subscriptions_and_list_extended(self):
        c = self.stack.imap(ALICE)
        for name in ["Projects", "Projects.Alpha", "Projects.Beta.Old"]:
            self.assertEqual(c.create(name)[0], "OK")
        c.subscribe("Projects.Alpha")
        self.assertEqual(c.rename("Projects", "Work")[0], "OK")
        for name in ["Work", "Work.Alpha", "Work.Beta.Old"]:
            self.assertTrue(os.path.isdir(self.stack.maildir(ALICE, name)), name)
        self.assertFalse(os.path.exists(self.stack.maildir(ALICE, "Projects")))
        typ, data = c.lsub()
        subs = b"\n".join(data).decode()
        self.assertIn("Work.Alpha", subs)
        self.assertNotIn("Projects", subs)
        # LIST-EXTENDED with RETURN (CHILDREN STATUS); "Work.Beta" exists only through its child.
        typ, data = c._simple_command("LIST", '""', '"Work*"', "RETURN (CHILDREN STATUS (MESSAGES))")
        typ, data = c._untagged_response(typ, data, "LIST")
        listing = b"\n".join(x for x in data if x).decode()
        self.assertRegex(listing, r'\\HasChildren[^\n]*"Work"')
        self.assertRegex(listing, r'\\NonExistent[^\n]*"?Work\.Beta"?')
        status = c.untagged_responses.pop("STATUS", [])
        self.assertTrue(any(b"MESSAGES 0" in s for s in status), status)
        c.logout()

    def test_utf8_accept_and_modified_utf7_names(self):
        a = self.raw()
        self.ok(a, "a1", 'CREATE "&AMQ-rger"')
        self.assertTrue(os.path.isdir(self.stack.maildir(ALICE, "&AMQ-rger")))
        self.ok(a, "a2", "ENABLE UTF8=ACCEPT")
        lines = self.ok(a, "a3", 'LIST "" "*rger"')
        # UTF-8 on the wire now (quoted or as a literal), no longer modified UTF-7.
        self.assertIn("Ärger", "\n".join(lines))
        self.assertNotIn("&AMQ-", "\n".join(lines))
        self.ok(a, "a4", 'CREATE "Über"')
        self.assertTrue(os.path.isdir(self.stack.maildir(ALICE, "&ANw-ber")))

    def test_status_quota_and_multiappend(self):
        a = self.raw()
        msg1 = b"Subject: one\r\n\r\nfirst\r\n"
        msg2 = b"Subject: two\r\n\r\nsecond\r\n"
        a.send(b"a1 APPEND Drafts (\\Draft) {%d+}\r\n%s {%d+}\r\n%s\r\n"
               % (len(msg1), msg1, len(msg2), msg2))
        lines = a.until_tagged("a1")
        self.assertRegex(lines[-1], r"a1 OK \[APPENDUID \d+ 1:2\]")
        self.assertEqual(len(self.files("Drafts")), 2)
        lines = self.ok(a, "a2", "STATUS Drafts (MESSAGES UIDNEXT SIZE DELETED HIGHESTMODSEQ)")
        self.assertRegex(lines[0], r"MESSAGES 2 .*UIDNEXT 3 .*SIZE \d+ .*DELETED 0")
        lines = self.ok(a, "a3", "GETQUOTAROOT INBOX")
        self.assertTrue(any(re.match(r'\* QUOTAROOT "?INBOX"? ""$', l) for l in lines), lines)
        m = re.search(r'\* QUOTA "" \(STORAGE (\d+) (\d+)', "\n".join(lines))
        self.assertEqual(m.group(2), str(10 * 1024))
        lines = a.cmd("a4", 'SETQUOTA "" (STORAGE 1)')
        self.assertTrue(lines[-1].startswith("a4 NO"), lines)

    def test_search_esearch_sort_thread(self):
        for subject, body in [("banana", "x"), ("apple", "needle here"), ("cherry", "y")]:
            self.deliver(ALICE, subject, body=body + "\r\n")
        a = self.raw()
        self.ok(a, "a1", "SELECT INBOX")
        lines = self.ok(a, "a2", "UID SEARCH BODY needle")
        self.assertIn("* SEARCH 2", lines)
        lines = self.ok(a, "a3", "SEARCH RETURN (MIN MAX COUNT) ALL")
        self.assertIn('* ESEARCH (TAG "a3") MIN 1 MAX 3 COUNT 3', lines)
        lines = self.ok(a, "a4", "SORT (SUBJECT) UTF-8 ALL")
        self.assertIn("* SORT 2 1 3", lines)
        lines = self.ok(a, "a5", "THREAD ORDEREDSUBJECT UTF-8 ALL")
        self.assertTrue(any(l.startswith("* THREAD ") for l in lines), lines)
        self.ok(a, "a6", "SEARCH RETURN (SAVE) SUBJECT apple")
        lines = self.ok(a, "a7", "FETCH $ (UID)")
        self.assertIn("* 2 FETCH (UID 2)", lines)

    def test_fetch_structure_binary_preview(self):
        body = ("--b\r\nContent-Type: text/plain\r\n\r\nPlain part.\r\n"
                "--b\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b--\r\n")
        raw_msg = ("From: Ann <ann@remote.test>\r\nTo: alice@example.com\r\nSubject: parts\r\n"
                   "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
                   'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body).encode()
        c = self.stack.imap(ALICE)
        c.append("INBOX", None, None, raw_msg)
        c.select("INBOX")
        typ, data = c.fetch("1", "(ENVELOPE BODYSTRUCTURE PREVIEW)")
        text = data[0].decode() if isinstance(data[0], bytes) else data[0][0].decode()
        self.assertIn('"parts"', text)
        self.assertIn('(("Ann" NIL "ann" "remote.test"))', text)
        self.assertIn('"mixed"', text.lower().replace('"MIXED"', '"mixed"'))
        self.assertIn('PREVIEW "Plain part."', text)
        typ, data = c.fetch("1", "(BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[1])")
        joined = b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data)
        self.assertIn(b"\x00\x01\x02\x03", joined)
        self.assertIn(b"BINARY.SIZE[2] 4", joined)
        self.assertIn(b"Plain part.", joined)
        c.logout()


class DovecotMaildirTests(StackTest):
    """A Maildir written by Dovecot (doveadm from Debian) and copied under the store root is
    served with the same UIDs, UIDVALIDITY and flags: clients keep their caches."""

    def doveadm(self, home, conf, *args, stdin=None):
        env = {**os.environ, "HOME": home, "USER": "nobody"}
        return subprocess.run(["doveadm", "-c", conf, *args], input=stdin, env=env,
                              capture_output=True, check=True).stdout.decode()

    def test_dovecot_maildir_is_served_with_its_uids(self):
        self.assertIsNotNone(shutil.which("doveadm"), "apt-get install dovecot-core")
        home = tempfile.mkdtemp(prefix="dovecot-")
        self.addCleanup(shutil.rmtree, home, True)
        os.chmod(home, 0o755)
        maildir = os.path.join(home, "Maildir")
        conf = os.path.join(home, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"log_path = /dev/stderr\nmail_location = maildir:{maildir}\n"
                    "namespace inbox {\n  inbox = yes\n  separator = .\n}\n"
                    "mail_uid = nobody\nmail_gid = nogroup\n"
                    "first_valid_uid = 0\nfirst_valid_gid = 0\n")
        subprocess.run(["chown", "-R", "nobody:nogroup", home], check=True)
        for i in range(5):
            self.doveadm(home, conf, "save", stdin=f"Subject: dv{i}\n\nbody {i}\n".encode())
        self.doveadm(home, conf, "flags", "add", "\\Seen $Forwarded", "mailbox", "INBOX", "uid", "2")
        self.doveadm(home, conf, "expunge", "mailbox", "INBOX", "uid", "3")
        status = self.doveadm(home, conf, "mailbox", "status", "uidvalidity uidnext", "INBOX")
        uidvalidity = re.search(r"uidvalidity=(\d+)", status).group(1)
        fetched = self.doveadm(home, conf, "fetch", "uid hdr.subject", "mailbox", "INBOX")
        dovecot_uids = {m.group(2).strip(): m.group(1)
                        for m in re.finditer(r"uid: (\d+)\nhdr.subject: (.*)", fetched)}
        self.assertEqual(len(dovecot_uids), 4, fetched)

        s = self.stack
        s.add_user(ALICE)
        dest = s.maildir(ALICE)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copytree(maildir, dest)
        s.start("imap-server")
        c = s.imap(ALICE)
        typ, data = c.status("INBOX", "(UIDVALIDITY MESSAGES)")
        self.assertIn(f"UIDVALIDITY {uidvalidity}".encode(), data[0])
        self.assertIn(b"MESSAGES 4", data[0])
        c.select("INBOX")
        typ, data = c.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        ours = {}
        for item in data:
            if isinstance(item, tuple):
                uid = re.search(rb"UID (\d+)", item[0]).group(1).decode()
                subject = item[1].decode().split(":", 1)[1].strip()
                ours[subject] = uid
                if subject == "dv1":
                    self.assertIn(b"\\Seen", item[0] + b"".join(
                        x for x in data if isinstance(x, bytes)))
        self.assertEqual(ours, dovecot_uids)
        c.logout()
