"""kill -9 of lmtp-mda during many concurrent deliveries: every acknowledged message is on disk,
complete, in new/ or cur/; the index rebuilds from the Maildir."""
import glob
import os
import signal
import smtplib
import threading
import time

from harness import StackTest, wait_for
from test_lmtp import LmtpClient, DOMAIN

PAYLOAD_LINES = 300  # ~24 KB per message: a torn write would show


def body_for(marker):
    lines = "".join(f"{marker} line {i:04d} " + "p" * 60 + "\r\n" for i in range(PAYLOAD_LINES))
    return (f"Subject: {marker}\r\nMessage-ID: <{marker}@crash.test>\r\n\r\n{lines}END {marker}\r\n").encode()


class CrashTests(StackTest):
    def test_sigkill_under_load_loses_no_acknowledged_message(self):
        s = self.stack
        s.add_user(f"alice@{DOMAIN}")
        s.add_user(f"bob@{DOMAIN}")
        s.start()
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()

        def worker(n):
            i = 0
            while not stop.is_set():
                try:
                    c = LmtpClient("127.0.0.1", s.lmtp_port)
                    c.ehlo_or_helo_if_needed()
                    while not stop.is_set():
                        marker = f"m{n}x{i}"
                        i += 1
                        rcpts = [f"alice@{DOMAIN}", f"bob@{DOMAIN}"]
                        _, res = c.send_lmtp("s@remote.test", rcpts, body_for(marker))
                        with lock:
                            for r in rcpts:
                                if res.get(r, (0,))[0] == 250:
                                    acked.add((r, marker))
                except (OSError, smtplib.SMTPException, AssertionError):
                    if stop.is_set():
                        return
                    time.sleep(0.01)

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(8)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 150, timeout=60, what="150 acknowledged deliveries")
        s.procs["lmtp-mda"].send_signal(signal.SIGKILL)
        s.procs["lmtp-mda"].wait()
        stop.set()
        for t in threads:
            t.join(timeout=10)
        self.assertGreaterEqual(len(acked), 150)

        for rcpt in (f"alice@{DOMAIN}", f"bob@{DOMAIN}"):
            md = s.maildir(rcpt)
            found = {}
            for path in glob.glob(os.path.join(md, "new", "*")) + glob.glob(os.path.join(md, "cur", "*")):
                data = open(path, "rb").read()
                marker = data.split(b"Message-ID: <", 1)[1].split(b"@", 1)[0].decode()
                # Complete: exactly the bytes sent, behind our trace headers.
                self.assertTrue(data.endswith(body_for(marker)), f"truncated or corrupt: {path}")
                self.assertIn(f",S={len(data)}", os.path.basename(path))
                found[marker] = found.get(marker, 0) + 1
            for r, marker in acked:
                if r == rcpt:
                    self.assertIn(marker, found, f"acknowledged message {marker} for {rcpt} is lost")

        # Restart: delivery works again, and the index (picked up or rebuilt) agrees with the disk.
        s.start()
        c = LmtpClient("127.0.0.1", s.lmtp_port)
        _, res = c.send_lmtp("s@remote.test", [f"alice@{DOMAIN}"], body_for("after-restart"))
        self.assertEqual(res[f"alice@{DOMAIN}"][0], 250)
        c.quit()
        md = s.maildir(f"alice@{DOMAIN}")
        files = len(os.listdir(os.path.join(md, "new"))) + len(os.listdir(os.path.join(md, "cur")))
        uids = self.uids(f"alice@{DOMAIN}")
        self.assertEqual(len(uids), files)
        self.assertEqual(len(set(uids)), files, "duplicate UIDs")

        # Throw the index away (and corrupt a copy): it is rebuilt from the Maildir alone,
        # keeping the UIDs (from dovecot-uidlist).
        index = os.path.join(md, "mailstack-index.sqlite")
        self.assertTrue(os.path.exists(index))
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(index + suffix):
                os.unlink(index + suffix)
        with open(index, "wb") as f:
            f.write(b"this is not a database" * 100)
        self.assertEqual(sorted(self.uids(f"alice@{DOMAIN}")), sorted(uids))

    def uids(self, address):
        out = self.stack.mailctl("mailbox", "messages", address).stdout
        return [int(line.split()[0]) for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
