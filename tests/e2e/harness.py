"""Test harness for the end-to-end tests: start the real binaries on free loopback ports with a
config written for the test, talk to them with real clients, and clean up.

Binaries come from $MAILSTACK_BIN (scripts/test sets it to target/debug)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

BIN = os.environ.get("MAILSTACK_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "debug")


def binary(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: build with `cargo build --workspace --bins` first")
    return path


_handed_out = set()


def free_port():
    """A loopback TCP port nobody listens on right now and that this process has not handed
    out before (the kernel may return the same free port to two quick `bind(0)` calls, and a
    stack takes a dozen ports before it starts anything)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for(predicate, timeout=20.0, what="condition"):
    """Poll `predicate` until it is true; no fixed sleeps in tests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(url, timeout=2.0):
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


class Stack:
    """A config, a users file, a store and the services for one test."""

    def __init__(self, workdir, hostname="mx.test", extra=None, store_root=None):
        self.dir = workdir
        self.config = os.path.join(workdir, "mailstack.toml")
        self.users = os.path.join(workdir, "users.toml")
        self.store = store_root or os.path.join(workdir, "mail")
        self.lmtp_port = free_port()
        self.admin_port = free_port()
        self.lmtp_socket = os.path.join(workdir, "lmtp.sock")
        self.smtp_port = free_port()
        self.relay_port = free_port()
        self.mta_admin_port = free_port()
        self.queue = os.path.join(workdir, "queue")
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.imap_admin_port = free_port()
        self.sieve_port = free_port()
        self.submission_port = free_port()
        self.submissions_port = free_port()
        self.submission_admin_port = free_port()
        self.dkim_dir = os.path.join(workdir, "dkim")
        # A DNS "server" that refuses at once (nothing listens): checks end in temperror fast.
        self.dns_port = free_port()
        self.procs = {}
        self.logs = {}
        sections = {
            "server": {"hostname": hostname},
            "directory": {"users_file": self.users},
            "store": {"root": self.store},
            "tls": {"cert_file": os.path.join(workdir, "tls/cert.pem"),
                    "key_file": os.path.join(workdir, "tls/key.pem")},
            "lmtp_mda": {
                "listen": [f"127.0.0.1:{self.lmtp_port}", f"unix:{self.lmtp_socket}"],
                "admin_listen": f"127.0.0.1:{self.admin_port}",
                "max_message_size": "25M",
                "timeout": "30s",
                "shutdown_grace": "10s",
                "sieve_relay_address": f"127.0.0.1:{self.relay_port}",
            },
            "smtp_mta": {
                "listen": [f"127.0.0.1:{self.smtp_port}"],
                "relay_listen": [f"127.0.0.1:{self.relay_port}"],
                "admin_listen": f"127.0.0.1:{self.mta_admin_port}",
                "lmtp_address": f"unix:{self.lmtp_socket}",
                "dns_resolver": f"127.0.0.1:{self.dns_port}",
                "dns_timeout": "300ms",
                "timeout": "30s",
                "shutdown_grace": "10s",
            },
            "queue": {"dir": self.queue, "min_backoff": "1s", "max_backoff": "2s"},
            "imap": {
                "listen": [f"127.0.0.1:{self.imap_port}"],
                "tls_listen": [f"127.0.0.1:{self.imaps_port}"],
                "admin_listen": f"127.0.0.1:{self.imap_admin_port}",
                # Failed logins answer after 200ms, 400ms... (production: 2s steps).
                "auth_failure_delay": "200ms",
                "shutdown_grace": "5s",
            },
            "managesieve": {
                "listen": [f"127.0.0.1:{self.sieve_port}"],
            },
            "submission": {
                "listen": [f"127.0.0.1:{self.submission_port}"],
                "tls_listen": [f"127.0.0.1:{self.submissions_port}"],
                "admin_listen": f"127.0.0.1:{self.submission_admin_port}",
                "relay_address": f"127.0.0.1:{self.relay_port}",
                "auth_failure_delay": "200ms",
                "dkim_dir": self.dkim_dir,
                "shutdown_grace": "5s",
            },
        }
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        with open(self.config, "w") as f:
            for section, values in sections.items():
                f.write(f"[{section}]\n")
                for k, v in values.items():
                    f.write(f"{k} = {toml_value(v)}\n")
                f.write("\n")

    # --- mailctl -----------------------------------------------------------------------------
    def mailctl(self, *args, stdin=None, check=True, env=None):
        cmd = [binary("mailctl"), "--config", self.config, *args]
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60,
                           env={**os.environ, **(env or {})})
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def add_user(self, address, password="secret-pw", quota=None):
        args = ["user", "add", address, "--password-stdin"]
        if quota:
            args += ["--quota", quota]
        self.mailctl(*args, stdin=password + "\n")

    # --- services ------------------------------------------------------------------------------
    def start(self, name="lmtp-mda", wait=True, env=None):
        log = open(os.path.join(self.dir, f"{name}.log"), "ab")
        self.logs[name] = log
        if name in ("smtp-mta", "imap-server", "submission") and not os.path.exists(
                os.path.join(self.dir, "tls", "cert.pem")):
            self.make_certificate()
        p = subprocess.Popen([binary(name), "--config", self.config, "--log-format", "text"],
                             stdout=log, stderr=log, env={**os.environ, "MAILSTACK_LOG": "debug", **(env or {})})
        self.procs[name] = p
        if wait:
            self.wait_ready(name)
        return p

    def admin_url(self, name="lmtp-mda"):
        port = {"smtp-mta": self.mta_admin_port,
                "imap-server": self.imap_admin_port,
                "submission": self.submission_admin_port}.get(name, self.admin_port)
        return f"http://127.0.0.1:{port}"

    # --- IMAP clients --------------------------------------------------------------------------
    def tls_context(self):
        """A client TLS context trusting the test's self-signed certificate."""
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "tls", "cert.pem"))
        ctx.check_hostname = False
        return ctx

    def imap(self, user=None, password="secret-pw", tls=True):
        """An imaplib client on the implicit-TLS port (or STARTTLS on the plain port when
        `tls="starttls"`), logged in as `user` when given."""
        import imaplib
        if tls == "starttls":
            c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
            c.starttls(ssl_context=self.tls_context())
        elif tls:
            c = imaplib.IMAP4_SSL("127.0.0.1", self.imaps_port, ssl_context=self.tls_context(),
                                  timeout=30)
        else:
            c = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        if user:
            c.login(user, password)
        return c

    def submit(self, user=None, password="secret-pw", tls="starttls"):
        """An smtplib client on the submission port with STARTTLS (or implicit TLS when
        `tls=True`, or plain text when `tls=False`), logged in as `user` when given."""
        import smtplib
        if tls is True:
            c = smtplib.SMTP_SSL("127.0.0.1", self.submissions_port, context=self.tls_context(),
                                 timeout=30)
        else:
            c = smtplib.SMTP("127.0.0.1", self.submission_port, timeout=30)
            if tls == "starttls":
                c.starttls(context=self.tls_context())
        c.ehlo("client.test")
        if user:
            c.login(user, password)
        return c

    def wait_ready(self, name="lmtp-mda"):
        p = self.procs[name]

        def ready():
            if p.poll() is not None:
                raise AssertionError(f"{name} exited with {p.returncode}:\n{self.log(name)}")
            return http_get(self.admin_url(name) + "/readyz")[0] == 200
        wait_for(ready, what=f"{name} /readyz")

    def log(self, name="lmtp-mda"):
        path = os.path.join(self.dir, f"{name}.log")
        with open(path, errors="replace") as f:
            return f.read()

    def stop(self, name="lmtp-mda", sig=signal.SIGTERM, timeout=30):
        p = self.procs.get(name)
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(sig)
        return p.wait(timeout=timeout)

    def close(self):
        for name in list(self.procs):
            self.stop(name, signal.SIGKILL)
        for log in self.logs.values():
            log.close()

    def make_certificate(self):
        """A self-signed certificate for the test's TLS listeners (openssl from Debian)."""
        tls = os.path.join(self.dir, "tls")
        os.makedirs(tls, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=mx.test", "-keyout", os.path.join(tls, "key.pem"),
                        "-out", os.path.join(tls, "cert.pem")], check=True, capture_output=True)

    # --- the store -----------------------------------------------------------------------------
    def maildir(self, address, folder=""):
        local, domain = address.split("@")
        base = os.path.join(self.store, domain, local, "Maildir")
        return os.path.join(base, "." + folder) if folder else base

    def messages(self, address, folder=""):
        """Contents of every message file (new/ and cur/) of a folder, sorted by file name."""
        out = []
        md = self.maildir(address, folder)
        for sub in ("new", "cur"):
            d = os.path.join(md, sub)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):
                    with open(os.path.join(d, name), "rb") as f:
                        out.append(f.read())
        return out


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


class StackTest(unittest.TestCase):
    """A TestCase with a fresh Stack in a temporary directory."""

    stack_extra = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mailstack-e2e-")
        self.stack = Stack(self.tmp, extra=self.stack_extra)

    def tearDown(self):
        self.stack.close()
        if os.environ.get("MAILSTACK_KEEP_TMP"):
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
