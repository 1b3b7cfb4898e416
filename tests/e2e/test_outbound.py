"""Outbound delivery end to end: the real smtp-mta takes mail for other domains on its relay
listener and delivers it over SMTP to the recipient domain's MX, found through a small DNS
server of the test (MX and A records pointing at 127.0.0.x). The remote MTA is a real Postfix
from Debian (`postfix -c <tmpdir>`: its own config, queue and virtual mailbox, STARTTLS with a
test certificate) for the happy path, and Postfix's `smtp-sink` (same package, installed by
scripts/test) accepting everything or answering 4xx/5xx to chosen commands. A bounce comes back as a DSN in the local sender's
Maildir (queue → LMTP → lmtp-mda). Loopback only; smtp-mta's outbound port is pointed at the
sink's port with `smtp_mta.outbound_port` (a setting for tests: production is always 25)."""
import os
import shutil
import smtplib
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import StackTest, wait_for

DOMAIN = "example.com"
SMTP_SINK = "/usr/sbin/smtp-sink"


class TinyDns:
    """An authoritative DNS server over UDP on 127.0.0.1 answering A and MX records from a dict
    (NXDOMAIN for unknown names, NODATA for other types). Enough for smtp-mta's MX lookups."""

    def __init__(self):
        self.records = {}  # name -> [(qtype, value)]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def add(self, name, qtype, value):
        self.records.setdefault(name.lower().rstrip("."), []).append((qtype, value))

    def close(self):
        self.running = False
        self.sock.close()

    @staticmethod
    def encode_name(name):
        out = b""
        for label in name.rstrip(".").split("."):
            if label:
                out += bytes([len(label)]) + label.encode()
        return out + b"\x00"

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.sock.sendto(self.answer(data), peer)
            except Exception:  # a malformed query: no answer
                continue

    def answer(self, q):
        qid, flags = struct.unpack("!HH", q[:4])
        pos, labels = 12, []
        while q[pos]:
            n = q[pos]
            labels.append(q[pos + 1:pos + 1 + n].decode())
            pos += 1 + n
        pos += 1
        qtype, _qclass = struct.unpack("!HH", q[pos:pos + 4])
        question = q[12:pos + 4]
        name = ".".join(labels).lower()
        answers = b""
        count = 0
        rcode = 0
        if name not in self.records:
            rcode = 3  # NXDOMAIN
        else:
            for rtype, value in self.records[name]:
                if rtype != qtype:
                    continue
                if rtype == 1:  # A
                    rdata = socket.inet_aton(value)
                elif rtype == 15:  # MX: (preference, host)
                    rdata = struct.pack("!H", value[0]) + self.encode_name(value[1])
                else:
                    continue
                answers += struct.pack("!HHHIH", 0xC00C, rtype, 1, 60, len(rdata)) + rdata
                count += 1
        rd = flags & 0x0100
        header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, count, 0, 0)
        return header + question + answers


def common_port(ips):
    """A TCP port free on every address of `ips`."""
    for _ in range(100):
        socks = []
        try:
            s = socket.socket()
            s.bind((ips[0], 0))
            port = s.getsockname()[1]
            socks.append(s)
            for ip in ips[1:]:
                t = socket.socket()
                t.bind((ip, port))
                socks.append(t)
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no common free port on {ips}")


class SmtpSink:
    """Postfix's smtp-sink on ip:port, one dump file per message in a directory."""

    def __init__(self, ip, port, *options):
        self.dir = tempfile.mkdtemp(prefix="mailstack-sink-")
        os.chmod(self.dir, 0o777)
        cmd = [SMTP_SINK]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += ["-h", "sink.remote.test", "-d", os.path.join(self.dir, "%H%M%S."), *options,
                f"{ip}:{port}", "64"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.listening(ip, port), what=f"smtp-sink on {ip}:{port}")

    @staticmethod
    def listening(ip, port):
        try:
            socket.create_connection((ip, port), timeout=1).close()
            return True
        except OSError:
            return False

    def messages(self):
        """The dump files written so far (a refused transaction leaves an empty one)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), "rb") as f:
                out.append(f.read())
        return out

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class PostfixPeer:
    """A private Postfix instance (its own config directory, queue and data directory) whose
    smtpd listens on ip:port only and delivers `domain` into one virtual Maildir. Needs root
    (Postfix drops to its `postfix` user); the system's Postfix is neither configured nor
    started by this."""

    def __init__(self, ip, port, domain):
        self.dir = tempfile.mkdtemp(prefix="mailstack-postfix-")
        os.chmod(self.dir, 0o755)
        self.conf = os.path.join(self.dir, "conf")
        self.vmail = os.path.join(self.dir, "vmail")
        self.maillog = os.path.join(self.dir, "maillog")
        os.makedirs(self.conf)
        os.makedirs(self.vmail)
        os.chmod(self.vmail, 0o777)
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        os.makedirs(os.path.join(self.dir, "queue"))  # postfix creates the rest
        shutil.chown(data, "postfix")
        key, cert = os.path.join(self.conf, "key.pem"), os.path.join(self.conf, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=mx.remote.test", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        main = f"""compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.{domain}
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {self.vmail}
virtual_mailbox_maps = static:mailbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_received_header = yes
maillog_file_prefixes = {self.dir}
maillog_file = {self.maillog}
biff = no
"""
        services = [
            f"{ip}:{port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush", "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
            "error unix - - n - - error", "retry unix - - n - - error",
            "discard unix - - n - - discard", "local unix - n n - - local",
            "virtual unix - n n - - virtual", "lmtp unix - - n - - lmtp",
            "anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache",
            "tlsmgr unix - - n 1000? 1 tlsmgr", "postlog unix-dgram n - n - 1 postlogd",
        ]
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(main)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write("\n".join(services) + "\n")
        r = subprocess.run(["postfix", "-c", self.conf, "start"], capture_output=True, text=True)
        if r.returncode != 0:
            # postfix(1) reports to syslog unless stderr is a terminal: show the reason.
            why = subprocess.run(["script", "-qc", f"postfix -c {self.conf} check", "/dev/null"],
                                 capture_output=True, text=True).stdout
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError(f"postfix did not start: {r.stderr} {why}")
        wait_for(lambda: SmtpSink.listening(ip, port), what=f"postfix smtpd on {ip}:{port}")

    def messages(self):
        new = os.path.join(self.vmail, "mailbox", "new")
        out = []
        if os.path.isdir(new):
            for name in sorted(os.listdir(new)):
                with open(os.path.join(new, name), "rb") as f:
                    out.append(f.read())
        return out

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(os.path.exists(SMTP_SINK), "smtp-sink (Debian postfix) is not installed")
class OutboundTests(StackTest):
    def setUp(self):
        self.dns = TinyDns()
        self.ips = ["127.0.0.2", "127.0.0.3"]
        self.port = common_port(self.ips)
        self.dns.add("remote.test", 15, (10, "mx.remote.test"))
        self.dns.add("mx.remote.test", 1, self.ips[0])
        self.dns.add("bounce.test", 15, (10, "mx.bounce.test"))
        self.dns.add("mx.bounce.test", 1, self.ips[1])
        self.stack_extra = {"smtp_mta": {
            "dns_resolver": f"127.0.0.1:{self.dns.port}",
            "dns_timeout": "2s",
            "outbound_port": self.port,
            "outbound_connect_timeout": "5s",
            "outbound_timeout": "20s",
        }}
        super().setUp()
        self.sinks = []
        self.stack.add_user(f"alice@{DOMAIN}")
        self.stack.start("lmtp-mda")
        self.stack.start("smtp-mta")

    def tearDown(self):
        for s in self.sinks:
            s.close()
        self.dns.close()
        super().tearDown()

    def sink(self, ip, *options):
        s = SmtpSink(ip, self.port, *options)
        self.sinks.append(s)
        return s

    def send(self, rcpt, subject):
        c = smtplib.SMTP("127.0.0.1", self.stack.relay_port, timeout=30)
        c.ehlo("submission.example.com")
        c.sendmail(f"alice@{DOMAIN}", [rcpt],
                   f"From: alice@{DOMAIN}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{subject}@{DOMAIN}>\r\n\r\nHello from mailstack.\r\n")
        c.quit()

    def queue_count(self):
        last = self.stack.mailctl("queue", "list").stdout.strip().splitlines()[-1]
        return int(last.split()[1])

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("postfix"),
                         "a private Postfix instance needs root and the postfix package")
    def test_mail_for_a_remote_domain_arrives_at_a_real_postfix_over_tls(self):
        peer = PostfixPeer(self.ips[0], self.port, "remote.test")
        self.addCleanup(peer.close)
        self.send("bob@remote.test", "outbound-postfix")
        got = wait_for(lambda: peer.messages(), timeout=30, what="the message in Postfix's Maildir")
        self.assertIn(b"Subject: outbound-postfix", got[0])
        self.assertIn(b"Delivered-To: bob@remote.test", got[0])
        # Postfix records the TLS session of our STARTTLS in its Received header.
        self.assertIn(b"(using TLSv1", got[0])
        wait_for(lambda: self.queue_count() == 0, what="an empty queue")
        wait_for(lambda: "status=sent (delivered to maildir)" in peer.log(),
                 what="Postfix's delivery log line")

    def test_mail_for_a_remote_domain_arrives_at_its_mx(self):
        sink = self.sink(self.ips[0])
        self.send("bob@remote.test", "outbound-happy")
        got = wait_for(lambda: [m for m in sink.messages() if m], timeout=30,
                       what="the message at the sink")
        self.assertIn(b"Subject: outbound-happy", got[0])
        self.assertIn(b"bob@remote.test", got[0])
        wait_for(lambda: self.queue_count() == 0, what="an empty queue")
        self.assertIn("status=sent", self.stack.log("smtp-mta").replace('"', ""))

    def test_the_public_mx_listener_still_refuses_relaying(self):
        self.sink(self.ips[0])
        c = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        c.ehlo("client.remote.test")
        c.mail("alice@example.com")
        code, resp = c.rcpt("bob@remote.test")
        c.quit()
        self.assertEqual(code, 554)
        self.assertIn(b"5.7.1", resp)

    def test_a_4xx_peer_is_retried_until_it_accepts(self):
        first = self.sink(self.ips[0], "-r", "RCPT")
        self.send("bob@remote.test", "outbound-retry")
        wait_for(lambda: "450 4.3.0" in self.stack.mailctl("queue", "list").stdout,
                 timeout=30, what="a deferred message with the peer's 450")
        first.close()
        self.sinks.remove(first)
        sink = self.sink(self.ips[0])
        self.stack.mailctl("queue", "flush")
        got = wait_for(lambda: [m for m in sink.messages() if m], timeout=30,
                       what="the retried message")
        self.assertIn(b"Subject: outbound-retry", got[0])
        wait_for(lambda: self.queue_count() == 0, what="an empty queue")

    def test_a_5xx_peer_bounces_into_the_senders_maildir(self):
        sink = self.sink(self.ips[1], "-f", "RCPT")
        self.send("carol@bounce.test", "outbound-bounce")
        dsn = wait_for(lambda: self.stack.messages(f"alice@{DOMAIN}"), timeout=30,
                       what="a DSN in alice's Maildir")[0]
        self.assertIn(b"Return-Path: <>", dsn)
        self.assertIn(b"multipart/report", dsn)
        self.assertIn(b"Final-Recipient: rfc822;carol@bounce.test", dsn.replace(b"; ", b";"))
        self.assertIn(b"Status: 5.3.0", dsn)
        self.assertIn(b"Subject: outbound-bounce", dsn)
        # smtp-sink leaves an empty dump file for a refused transaction: no message content.
        self.assertFalse(any(b"Subject:" in m for m in sink.messages()))
        wait_for(lambda: self.queue_count() == 0, what="an empty queue")
