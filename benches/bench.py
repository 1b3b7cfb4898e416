#!/usr/bin/python3
"""The mailstack benchmark driver (run it through benches/run, which installs the peers and
builds the binaries first).

Starts both systems itself in one temporary directory, on free loopback ports, with their own
configs:
  - mailstack: smtp-mta -> queue -> LMTP (unix socket) -> lmtp-mda -> Maildir, imap-server;
  - Postfix (a private instance, `postfix -c <dir> start-fg`) -> LMTP (TCP) -> Dovecot lmtp ->
    Maildir, Dovecot imap (`dovecot -F -c <conf>`);
runs the workloads of issue 9 with benches/mailbench, stops everything (also on failure and
Ctrl-C), prints one table and, unless --smoke, writes it into docs/benchmarks.md between the
`bench:begin` / `bench:end` markers.
"""
import argparse
import datetime
import json
import os
import platform
import pwd
import grp
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAIN = "bench.test"
PASSWORD = "bench-secret-pw"
NEEDLE = "needle-4242"
POSTFIX_DAEMONS = "/usr/lib/postfix/sbin"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


_ports = set()


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p not in _ports:
            _ports.add(p)
            return p


def wait_port(port, what, timeout=60, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} does not listen on 127.0.0.1:{port} after {timeout}s")


class Procs:
    """Every process group we started; `stop_all` ends them (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.groups = []  # (name, Popen)
        self.sessions = []  # process groups of daemons that left ours (the Postfix master)

    def start(self, name, argv, log_path, env=None):
        logf = open(log_path, "ab")
        p = subprocess.Popen(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                             env={**os.environ, **(env or {})}, start_new_session=True)
        self.groups.append((name, p))
        return p

    def stop(self, p, timeout=20):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        # The group may outlive its leader (Postfix and Dovecot children): make sure it is gone.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and group_alive(p.pid):
            time.sleep(0.1)
        if group_alive(p.pid):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.groups = [(n, q) for n, q in self.groups if q is not p]

    def stop_sessions(self, timeout=20):
        for pgid in self.sessions:
            kill_group(pgid, timeout)
        self.sessions = []

    def stop_all(self):
        self.stop_sessions()
        for _, p in reversed(list(self.groups)):
            self.stop(p)


def group_alive(pgid):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def kill_group(pgid, timeout):
    """SIGTERM a process group, SIGKILL it when still alive after `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and group_alive(pgid):
            time.sleep(0.1)
        if not group_alive(pgid):
            return


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Bench:
    def __init__(self, args):
        self.a = args
        self.bin = args.bin
        self.procs = Procs()
        self.tmp = tempfile.mkdtemp(prefix="mailbench-")
        os.chmod(self.tmp, 0o755)  # Postfix and Dovecot daemons run as their own users
        self.results = {}
        self.nobody = (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)

    # --- helpers -------------------------------------------------------------------------------
    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def mailbench(self, *args, timeout=1800):
        argv = [os.path.join(self.bin, "mailbench"), *map(str, args)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"mailbench {args[0]} failed ({r.returncode}): {r.stderr.strip()}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    # --- mailstack -----------------------------------------------------------------------------
    def ours_setup(self):
        d = self.path("ours")
        os.makedirs(d)
        self.o = {
            "dir": d, "config": os.path.join(d, "mailstack.toml"),
            "store": os.path.join(d, "mail"), "sock": os.path.join(d, "lmtp.sock"),
            "smtp": free_port(), "imap": free_port(),
        }
        cfg = {
            "server": {"hostname": "mx.bench.test"},
            "directory": {"users_file": os.path.join(d, "users.toml")},
            "store": {"root": self.o["store"], "fsync": True},
            "tls": {"cert_file": os.path.join(d, "tls/cert.pem"),
                    "key_file": os.path.join(d, "tls/key.pem")},
            "lmtp_mda": {"listen": [f"unix:{self.o['sock']}"],
                         "admin_listen": f"127.0.0.1:{free_port()}",
                         "max_connections": 1000},
            "smtp_mta": {"listen": [f"127.0.0.1:{self.o['smtp']}"],
                         "relay_listen": [f"127.0.0.1:{free_port()}"],
                         "admin_listen": f"127.0.0.1:{free_port()}",
                         "lmtp_address": f"unix:{self.o['sock']}",
                         # Postfix checks no SPF/DKIM/DMARC without milters/policy services.
                         "verify": False,
                         "max_connections": 1000, "max_connections_per_ip": 0},
            "queue": {"dir": os.path.join(d, "queue"), "fsync": True},
            "imap": {"listen": [f"127.0.0.1:{self.o['imap']}"],
                     "tls_listen": [f"127.0.0.1:{free_port()}"],
                     "admin_listen": f"127.0.0.1:{free_port()}",
                     "allow_plaintext_auth": True,
                     "max_connections": 25000, "max_connections_per_ip": 0},
        }
        with open(self.o["config"], "w") as f:
            for sec, kv in cfg.items():
                f.write(f"[{sec}]\n")
                for k, v in kv.items():
                    f.write(f"{k} = {json.dumps(v)}\n")
                f.write("\n")
        # One user through mailctl (it writes the domain and an argon2id hash with the default
        # cost), the others with the same hash (hashing is slow in a debug build).
        users = self.users()
        run([os.path.join(self.bin, "mailctl"), "--config", self.o["config"], "user", "add",
             users[0], "--password-stdin"], input=PASSWORD + "\n")
        phc = read_hashes(os.path.join(d, "users.toml"))[users[0]]
        with open(os.path.join(d, "users.toml"), "a") as f:
            for u in users[1:]:
                f.write(f'\n[[user]]\naddress = "{u}"\npassword = "{phc}"\n')
        os.makedirs(os.path.join(d, "tls"))
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-subj", "/CN=mx.bench.test", "-days", "2",
             "-keyout", os.path.join(d, "tls/key.pem"), "-out", os.path.join(d, "tls/cert.pem")])

    def users(self):
        return [f"user{i}@{DOMAIN}" for i in range(self.a.users)] + [f"bench@{DOMAIN}"]

    def ours_start(self, which):
        env = {"MAILSTACK_LOG": "warn"}
        started = {}
        for name in which:
            p = self.procs.start(name, [os.path.join(self.bin, name), "--config", self.o["config"],
                                        "--log-format", "text"],
                                 os.path.join(self.o["dir"], f"{name}.log"), env)
            started[name] = p
        if "lmtp-mda" in started:
            deadline = time.monotonic() + 30
            while not os.path.exists(self.o["sock"]):
                if started["lmtp-mda"].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("lmtp-mda did not start: " + self.tail(self.o["dir"], "lmtp-mda.log"))
                time.sleep(0.05)
        if "smtp-mta" in started:
            wait_port(self.o["smtp"], "smtp-mta", proc=started["smtp-mta"])
        if "imap-server" in started:
            wait_port(self.o["imap"], "imap-server", proc=started["imap-server"])
        return started

    def tail(self, d, name):
        try:
            with open(os.path.join(d, name), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return "(no log)"

    # --- Postfix + Dovecot -----------------------------------------------------------------------
    def peer_setup(self):
        d = self.path("peer")
        os.makedirs(d)
        self.p = {
            "dir": d, "pf": os.path.join(d, "postfix"), "dc": os.path.join(d, "dovecot"),
            "store": os.path.join(d, "mail"), "smtp": free_port(), "lmtp": free_port(),
            "imap": free_port(),
        }
        os.makedirs(self.p["store"])
        os.chown(self.p["store"], *self.nobody)
        self.postfix_config()
        self.dovecot_config()

    def postfix_config(self):
        pf = self.p["pf"]
        os.makedirs(os.path.join(pf, "queue"))
        os.makedirs(os.path.join(pf, "data"))
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(pf, "data"), pw.pw_uid, pw.pw_gid)
        main = {
            # A private instance: its own config, queue and data directories.
            "config_directory": pf,
            "queue_directory": os.path.join(pf, "queue"),
            "data_directory": os.path.join(pf, "data"),
            "daemon_directory": POSTFIX_DAEMONS,
            "command_directory": "/usr/sbin",
            "meta_directory": "/etc/postfix",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": "postfix-bench",
            "maillog_file": os.path.join(pf, "maillog"),
            "compatibility_level": "3.6",
            "myhostname": "mx.peer.bench.test",
            "mydomain": "peer.bench.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            # The domain's mail goes over LMTP to Dovecot, like smtp-mta -> lmtp-mda.
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_maps": "",
            "virtual_transport": f"lmtp:inet:127.0.0.1:{self.p['lmtp']}",
            "lmtp_destination_concurrency_limit": "20",
            "lmtp_destination_recipient_limit": "50",
            "default_process_limit": "200",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "anvil_rate_time_unit": "60s",
            "message_size_limit": "52428800",
            "biff": "no",
            "smtputf8_enable": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtpd_peername_lookup": "no",
            "disable_dns_lookups": "yes",
            "smtp_dns_support_level": "disabled",
            "in_flow_delay": "0s",
            "maillog_file_prefixes": "/tmp",
        }
        with open(os.path.join(pf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write(f"{k} = {v}\n")
        port = self.p["smtp"]
        # master.cf: the services a delivery needs, unchrooted, smtpd on our loopback port.
        master = f"""\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
        with open(os.path.join(pf, "master.cf"), "w") as f:
            f.write(master)

    def dovecot_config(self):
        dc = self.p["dc"]
        for sub in ("run", "state"):
            os.makedirs(os.path.join(dc, sub))
        # The same argon2id hashes our users file holds (mailctl wrote them): equal login cost.
        hashes = read_hashes(os.path.join(self.o["dir"], "users.toml"))
        with open(os.path.join(dc, "passwd"), "w") as f:
            for u in self.users():
                f.write(f"{u}:{{ARGON2ID}}{hashes[u]}\n")
        limit = max(self.a.idle) + 2000
        conf = f"""\
# Generated by benches/bench.py; every setting is explained in docs/benchmarks.md.
base_dir = {dc}/run
state_dir = {dc}/state
log_path = {dc}/dovecot.log
info_log_path = {dc}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = {dc}/passwd
}}
userdb {{
  driver = static
  args = uid={self.nobody[0]} gid={self.nobody[1]} home={self.p['store']}/%d/%n
}}
mail_location = maildir:{self.p['store']}/%d/%n/Maildir
mail_fsync = {self.a.dovecot_fsync}
mail_max_userip_connections = {limit}
lmtp_save_to_detail_mailbox = no
default_process_limit = {limit}
default_client_limit = {limit}
default_vsz_limit = 1G
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.p['imap']}
  }}
  inet_listener imaps {{
    port = 0
  }}
  service_count = 0
  process_min_avail = 2
  client_limit = {limit}
}}
service imap {{
  process_limit = {limit}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.p['lmtp']}
  }}
  process_min_avail = 2
}}
service anvil {{
  client_limit = {3 * limit}
}}
service auth {{
  client_limit = {3 * limit}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
"""
        self.p["conf"] = os.path.join(dc, "dovecot.conf")
        with open(self.p["conf"], "w") as f:
            f.write(conf)

    def peer_start(self, postfix=True):
        dc = self.procs.start("dovecot", ["dovecot", "-F", "-c", self.p["conf"]],
                              os.path.join(self.p["dc"], "stdout.log"))
        self.dovecot = dc
        wait_port(self.p["imap"], "dovecot imap", proc=dc)
        wait_port(self.p["lmtp"], "dovecot lmtp", proc=dc)
        if postfix:
            run(["postfix", "-c", self.p["pf"], "check"])
            pf = self.procs.start("postfix", ["postfix", "-c", self.p["pf"], "start-fg"],
                                  os.path.join(self.p["pf"], "stdout.log"))
            self.postfix = pf
            wait_port(self.p["smtp"], "postfix smtpd", proc=pf)
            # The master makes itself a session leader: stopping our process group does not
            # reach it, so it is stopped through its own process group (see peer_stop).
            with open(os.path.join(self.p["pf"], "queue", "pid", "master.pid")) as f:
                self.procs.sessions.append(int(f.read().strip()))

    def peer_stop(self):
        if getattr(self, "postfix", None) is not None:
            subprocess.run(["postfix", "-c", self.p["pf"], "stop"], capture_output=True)
            self.procs.stop_sessions()
            self.procs.stop(self.postfix)
            self.postfix = None
        if getattr(self, "dovecot", None) is not None:
            self.procs.stop(self.dovecot)
            self.dovecot = None

    # --- workloads -------------------------------------------------------------------------------
    def inbound(self):
        a = self.a
        runs = [("10k", a.messages, a.concurrency),
                ("10k", 2 * a.messages, a.concurrency),
                ("10k", a.messages, 2 * a.concurrency),
                ("2k-2M", a.mix_messages, a.concurrency)]
        started = self.ours_start(["lmtp-mda", "smtp-mta"])
        try:
            for size, n, c in runs:
                key = f"inbound {size} N={n} C={c}"
                log(f"{key}: mailstack")
                r = self.mailbench("smtp", "--addr", f"127.0.0.1:{self.o['smtp']}", "--messages", n,
                                   "--concurrency", c, "--size", size, "--users", a.users,
                                   "--maildir-root", self.o["store"], "--timeout", 900)
                self.check_smtp(r, n, "mailstack")
                self.results.setdefault(key, {})["ours"] = r
        finally:
            for p in started.values():
                self.procs.stop(p)
        self.peer_start(postfix=True)
        try:
            for size, n, c in runs:
                key = f"inbound {size} N={n} C={c}"
                log(f"{key}: Postfix + Dovecot")
                r = self.mailbench("smtp", "--addr", f"127.0.0.1:{self.p['smtp']}", "--messages", n,
                                   "--concurrency", c, "--size", size, "--users", a.users,
                                   "--maildir-root", self.p["store"], "--timeout", 900)
                self.check_smtp(r, n, "Postfix + Dovecot")
                self.results[key]["peer"] = r
        finally:
            self.peer_stop()

    def check_smtp(self, r, n, who):
        if r["accepted"] != n or r["errors"]:
            raise RuntimeError(f"{who}: {r['accepted']} of {n} accepted, {r['errors']} errors: "
                               f"{r.get('first_error')}")
        log(f"  {r['e2e_rate']:.0f} msg/s end to end, accept {r['accept_rate']:.0f}/s, "
            f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms")

    def imap(self):
        for count in self.a.mailbox:
            for who in ("ours", "peer"):
                sysd = self.o if who == "ours" else self.p
                # A fresh user per mailbox size so that the first round indexes it (cold).
                md = os.path.join(sysd["store"], DOMAIN, "bench", "Maildir")
                if os.path.exists(os.path.dirname(md)):
                    shutil.rmtree(os.path.dirname(md))
                owner = [] if who == "ours" else ["--owner", f"{self.nobody[0]}:{self.nobody[1]}"]
                g = self.mailbench("maildir", "--dir", md, "--count", count, "--large",
                                   self.a.large, "--needle", NEEDLE, *owner)
                log(f"mailbox of {count} written for {who} in {g['secs']:.1f}s ({g['bytes'] >> 20} MiB)")
                if who == "ours":
                    started = self.ours_start(["imap-server"])
                    port = self.o["imap"]
                else:
                    self.peer_start(postfix=False)
                    port = self.p["imap"]
                try:
                    r = self.mailbench("imap", "--addr", f"127.0.0.1:{port}", "--user",
                                       f"bench@{DOMAIN}", "--password", PASSWORD, "--rounds",
                                       self.a.imap_rounds, "--value", NEEDLE, "--large",
                                       min(5_000_000, self.a.large_bytes // 2))
                finally:
                    if who == "ours":
                        for p in started.values():
                            self.procs.stop(p)
                    else:
                        self.peer_stop()
                if r["exists"] != count or r["search_hits"] != 1 or r["large_bytes"] < self.a.large_bytes:
                    raise RuntimeError(f"{who}: IMAP results wrong: {r}")
                log(f"  {who} {count}: cold {r['cold']} warm {r['warm']}")
                self.results.setdefault(f"imap {count}", {})[who] = r
                shutil.rmtree(os.path.dirname(md))

    def idle(self):
        # A fresh imap-server per size, as for Dovecot below: memory the previous size's sessions
        # freed stays with the process and would be counted in the next baseline.
        for k in self.a.idle:
            started = self.ours_start(["imap-server"])
            try:
                r = self.idle_run(self.o["imap"], started["imap-server"].pid, k)
                log(f"  mailstack idle {k}: {r['pss_per_conn_kib']:.1f} KiB/conn PSS")
                self.results.setdefault(f"idle {k}", {})["ours"] = r
            finally:
                for p in started.values():
                    self.procs.stop(p)
        for k in self.a.idle:
            if k > self.a.dovecot_idle_max:
                est = self.dovecot_estimate(k)
                self.results.setdefault(f"idle {k}", {})["peer"] = {"skipped": est}
                log(f"  Dovecot idle {k}: skipped ({est})")
                continue
            # A fresh Dovecot per size: idle connections end with their processes.
            self.peer_start(postfix=False)
            try:
                r = self.idle_run(self.p["imap"], self.dovecot.pid, k)
            finally:
                self.peer_stop()
            log(f"  Dovecot idle {k}: {r['pss_per_conn_kib']:.1f} KiB/conn PSS "
                f"({r['after']['processes']} processes)")
            self.results.setdefault(f"idle {k}", {})["peer"] = r

    def dovecot_estimate(self, k):
        known = [(int(key.split()[1]), v["peer"]) for key, v in self.results.items()
                 if key.startswith("idle ") and "peer" in v and "pss_per_conn_kib" in v["peer"]]
        if not known:
            return "above --dovecot-idle-max"
        n, r = max(known)
        gib = r["pss_per_conn_kib"] * k / 1024 / 1024
        return f"above --dovecot-idle-max; {n} connections measured, {k} would need ~{gib:.1f} GiB"

    def idle_run(self, port, pid, k):
        # Warm the server up so that its baseline includes one-time allocations: 8 logins at
        # once, so that every password-hashing worker (mailstack's argon2 threads, Dovecot's
        # auth workers) has allocated its 19 MiB work area before, not during, the measurement.
        self.mailbench("idle", "--addr", f"127.0.0.1:{port}", "--connections", 8, "--parallel", 8,
                       "--users", min(8, self.a.users), "--password", PASSWORD,
                       "--server-pid", pid, "--settle", 0)
        time.sleep(1)
        return self.mailbench("idle", "--addr", f"127.0.0.1:{port}", "--connections", k,
                              "--users", self.a.users, "--password", PASSWORD,
                              "--server-pid", pid, "--settle", self.a.settle,
                              "--parallel", self.a.parallel)

    # --- the whole run ---------------------------------------------------------------------------
    def run(self):
        t0 = time.monotonic()
        self.ours_setup()
        self.peer_setup()
        stages = self.a.stages.split(",")
        if "inbound" in stages:
            self.inbound()
        if "imap" in stages:
            self.imap()
        if "idle" in stages:
            self.idle()
        self.elapsed = time.monotonic() - t0

    def cleanup(self):
        self.procs.stop_all()
        if self.a.keep:
            log(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def read_hashes(users_toml):
    import tomllib
    with open(users_toml, "rb") as f:
        data = tomllib.load(f)
    return {u["address"]: u["password"] for u in data.get("user", [])}


# --- the table -------------------------------------------------------------------------------------
def fmt_ratio(x):
    return f"{x:.2f}×" if x is not None else "–"


def table(results, args):
    rows = ["| Workload | mailstack | Postfix + Dovecot | mailstack ÷ peer | target |",
            "|---|---|---|---|---|"]
    for key, v in results.items():
        o, p = v.get("ours"), v.get("peer")
        if key.startswith("inbound"):
            ratio = o["e2e_rate"] / p["e2e_rate"] if o and p else None
            rows.append(f"| {key}: delivered msg/s (SMTP → Maildir) | {o['e2e_rate']:.0f} | "
                        f"{p['e2e_rate']:.0f} | {fmt_ratio(ratio)} | ≥ 2× |")
            rows.append(f"| {key}: accepted msg/s (SMTP `250`) | {o['accept_rate']:.0f} | "
                        f"{p['accept_rate']:.0f} | {fmt_ratio(o['accept_rate'] / p['accept_rate'])} | |")
            rows.append(f"| {key}: transaction p50 / p99 ms | {o['p50_ms']:.1f} / {o['p99_ms']:.1f} | "
                        f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} | | |")
        elif key.startswith("imap"):
            n = key.split()[1]
            for op, label in (("select_ms", "SELECT"), ("fetch_all_ms", "FETCH 1:* (FLAGS UID RFC822.SIZE)"),
                              ("search_ms", "UID SEARCH HEADER Subject"),
                              ("fetch_large_ms", f"UID FETCH BODY.PEEK[] ({args.large})")):
                for phase in ("cold", "warm"):
                    a, b = o[phase][op], p[phase][op]
                    rows.append(f"| IMAP {n} msgs, {label}, {phase} (ms) | {a:.1f} | {b:.1f} | "
                                f"{fmt_ratio(a / b if b else None)} | ≤ 0.5× |")
        elif key.startswith("idle"):
            k = key.split()[1]
            ov = f"{o['pss_per_conn_kib']:.1f}" if o else "–"
            if p and "pss_per_conn_kib" in p:
                pv = f"{p['pss_per_conn_kib']:.1f} ({p['after']['processes']} processes)"
                ratio = fmt_ratio(o["pss_per_conn_kib"] / p["pss_per_conn_kib"])
            else:
                pv, ratio = f"skipped: {p['skipped']}" if p else "–", "–"
            rows.append(f"| {k} idle IMAP connections: KiB per connection (PSS) | {ov} | {pv} | {ratio} | ≤ 32 KiB |")
            tot_o = f"{o['after']['pss_kib'] / 1024:.0f}" if o else "–"
            tot_p = f"{p['after']['pss_kib'] / 1024:.0f}" if p and "after" in p else "–"
            rows.append(f"| {k} idle IMAP connections: total server PSS MiB | {tot_o} | {tot_p} | | |")
    return "\n".join(rows)


def machine_info():
    cpu = "?"
    cores = os.cpu_count()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    df = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True).stdout.splitlines()
    fs = df[1].split()[1] if len(df) > 1 else "?"
    return {
        "cpu": f"{cpu} ({cores} cores)", "memory": mem, "kernel": platform.release(),
        "filesystem": f"{fs} ({tempfile.gettempdir()})",
        "postfix": ver(["postconf", "-d", "-h", "mail_version"]),
        "dovecot": ver(["dovecot", "--version"]),
        "rustc": ver(["rustc", "--version"]),
        "commit": ver(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
    }


def report(results, args, elapsed, command):
    m = machine_info()
    lines = [f"Generated by `{command}` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
             f"in {elapsed / 60:.1f} min (commit {m['commit']}).", "",
             "| Machine | |", "|---|---|"]
    for k in ("cpu", "memory", "kernel", "filesystem", "postfix", "dovecot", "rustc"):
        lines.append(f"| {k} | {m[k]} |")
    lines += ["", f"Parameters: N={args.messages}, C={args.concurrency}, mix N={args.mix_messages}, "
              f"{args.users} recipients, mailbox sizes {', '.join(map(str, args.mailbox))} "
              f"(+ one {args.large} message), {args.imap_rounds} IMAP rounds (1 cold + median of the rest), "
              f"idle {', '.join(map(str, args.idle))} connections (Dovecot up to {args.dovecot_idle_max}), "
              f"Dovecot mail_fsync={args.dovecot_fsync}.", "", table(results, args)]
    return "\n".join(lines)


def write_docs(path, text):
    with open(path) as f:
        doc = f.read()
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    if begin not in doc or end not in doc:
        raise RuntimeError(f"{path} lacks the {begin} / {end} markers")
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release"))
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes (~1 min): checks that every stage runs and yields numbers")
    ap.add_argument("--messages", type=int, default=2000, help="N of the 10 KB inbound runs")
    ap.add_argument("--concurrency", type=int, default=20, help="C of the inbound runs")
    ap.add_argument("--mix-messages", type=int, default=300, help="N of the 2 KB–2 MB run")
    ap.add_argument("--users", type=int, default=10, help="recipients / logins")
    ap.add_argument("--mailbox", default="50000,100000", help="IMAP mailbox sizes")
    ap.add_argument("--large", default="10M", help="the large message of the IMAP mailbox")
    ap.add_argument("--imap-rounds", type=int, default=5)
    ap.add_argument("--idle", default="1000,2000,10000", help="idle connection counts")
    ap.add_argument("--dovecot-idle-max", type=int, default=2000,
                    help="largest idle count run against Dovecot (a process per connection)")
    ap.add_argument("--parallel", type=int, default=50, help="idle connections set up at once")
    ap.add_argument("--settle", type=int, default=3, help="seconds idle before measuring")
    ap.add_argument("--dovecot-fsync", default="optimized", choices=["optimized", "always"])
    ap.add_argument("--stages", default="inbound,imap,idle")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--no-docs", action="store_true", help="print the table only")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.smoke:
        args.messages, args.concurrency, args.mix_messages = 40, 4, 10
        args.mailbox, args.large, args.imap_rounds = "1000", "1M", 2
        args.idle, args.dovecot_idle_max, args.settle = "10", 10, 1
        args.no_docs = True
    args.bin = os.path.abspath(args.bin)
    args.mailbox = [int(x) for x in str(args.mailbox).split(",")]
    args.idle = [int(x) for x in str(args.idle).split(",")]
    from_size = lambda s: int(s[:-1]) * {"k": 1024, "M": 1 << 20}[s[-1]] if s[-1] in "kM" else int(s)
    args.large_bytes = from_size(args.large)
    if os.geteuid() != 0:
        sys.exit("benches/run must run as root (a private Postfix instance and Dovecot need it)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if max(args.idle) + 1000 > hard:
        sys.exit(f"the open-file hard limit ({hard}) is too low for {max(args.idle)} connections")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    b = Bench(args)
    log(f"working in {b.tmp}")
    ok = False
    try:
        b.run()
        ok = True
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
    except Exception as e:
        log(f"FAILED: {e}")
        for d, name in ((b.path("ours"), "smtp-mta.log"), (b.path("ours"), "lmtp-mda.log"),
                        (b.path("ours"), "imap-server.log"), (b.path("peer", "dovecot"), "dovecot.log"),
                        (b.path("peer", "postfix"), "maillog")):
            if os.path.exists(os.path.join(d, name)):
                log(f"--- {name} (tail)\n{b.tail(d, name)}")
    finally:
        b.cleanup()
    if not ok:
        sys.exit(1)
    command = "benches/run " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "benches/run"
    text = report(b.results, args, b.elapsed, command.strip())
    print(text)
    if args.smoke:
        missing = [k for k, v in b.results.items() if "ours" not in v or "peer" not in v]
        if missing or len(b.results) < 6:
            sys.exit(f"smoke: stages without both systems' numbers: {missing}")
        log("smoke: every stage ran on both systems")
    if not args.no_docs:
        write_docs(args.out, text)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
