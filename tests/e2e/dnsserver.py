"""A small authoritative DNS server for the end-to-end tests (dnslib from Debian), on a free
loopback port over UDP and TCP: the services under test point `dns_resolver` at it.

    dns = DnsServer()                       # started
    dns.add("s1._domainkey.example.com", "TXT", "v=DKIM1; k=rsa; p=...")
    dns.add("example.com", "MX", (10, "mx.example.com"))
    ... dns.port ... dns.stop()

Names it does not know are NXDOMAIN; known names without the asked type answer NODATA.
`authenticated` names get the AD bit (as a validating resolver would set it)."""
import threading

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from harness import free_port


def _rdata(rtype, value):
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "MX":
        pref, host = value
        return MX(host, pref)
    if rtype == "CNAME":
        return CNAME(value)
    if rtype == "TXT":
        # Split into 255-octet character-strings (RFC 1035 §3.3.14).
        data = value.encode()
        return TXT([data[i:i + 255] for i in range(0, len(data), 255)] or [b""])
    raise ValueError(f"unsupported record type {rtype}")


class _Zone(BaseResolver):
    def __init__(self):
        self.records = {}
        self.authenticated = set()
        self.lock = threading.Lock()
        self.queries = []

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((name, qtype))
            known = self.records.get(name)
            if known is None:
                reply.header.rcode = RCODE.NXDOMAIN
                return reply
            for rtype, value in known:
                if rtype == qtype or (rtype == "CNAME" and qtype != "CNAME"):
                    reply.add_answer(RR(name, getattr(QTYPE, rtype), rdata=_rdata(rtype, value),
                                        ttl=60))
            if name in self.authenticated:
                reply.header.ad = 1
        return reply


class DnsServer:
    """Serves the records added with `add` until `stop`."""

    def __init__(self):
        self.zone = _Zone()
        self.port = free_port()
        quiet = DNSLogger(log="-recv,-send,-request,-reply,-truncated,-error,-data")
        self.udp = DNSServer(self.zone, port=self.port, address="127.0.0.1", logger=quiet)
        self.tcp = DNSServer(self.zone, port=self.port, address="127.0.0.1", tcp=True,
                             logger=quiet)
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def add(self, name, rtype, value, authenticated=False):
        name = name.rstrip(".").lower()
        with self.zone.lock:
            self.zone.records.setdefault(name, []).append((rtype, value))
            if authenticated:
                self.zone.authenticated.add(name)

    def stop(self):
        self.udp.stop()
        self.tcp.stop()


def query(port, name, rtype):
    """Ask the server directly (for the harness's own checks)."""
    q = DNSRecord.question(name, rtype)
    return DNSRecord.parse(q.send("127.0.0.1", port, timeout=2))
