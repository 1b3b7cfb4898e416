#!/usr/bin/env python3
"""Record Dovecot's FETCH answers for the *.eml files here into *.dovecot (the reference the
mime unit tests compare against).

Usage: gen-dovecot-refs.py IMAP_CMD...   e.g.  gen-dovecot-refs.py /tmp/dovecot-ref/run.sh

IMAP_CMD runs a pre-authenticated Dovecot `imap` over stdin/stdout whose INBOX is the Maildir
named by $MAILDIR (it is emptied and filled with the .eml files, one message each, in name
order, owned by $MAIL_OWNER, default nobody:nogroup). The references here were made with
Dovecot 2.3.19 (Debian 12's dovecot-core and dovecot-imapd, unpacked with `dpkg-deb -x`,
LD_LIBRARY_PATH pointing at its usr/lib/dovecot) run as
`USER=root doveconf -c dovecot.conf -e .../usr/lib/dovecot/imap` with a dovecot.conf of:

    mail_location = maildir:$MAILDIR
    base_dir, log_path = somewhere writable
    ssl = no
    mail_uid = nobody
    mail_gid = nogroup
    first_valid_uid = 0
    first_valid_gid = 0
    default_login_user = root
    default_internal_user = root

Each *.dovecot file holds records `=== ITEM LEN\\n<LEN octets>\\n` (or `=== ITEM NO\\n` when
Dovecot refused the item): for BODYSTRUCTURE, BODY, ENVELOPE and BINARY.SIZE the wire form
of the value; for BODY[...] / BINARY[...] the octets of the string.
"""
import os, re, subprocess, sys, glob, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE = ["BODYSTRUCTURE", "BODY", "ENVELOPE"]
SECTIONS = ["HEADER", "TEXT", "1", "1.MIME", "1.HEADER", "1.TEXT", "1.1", "2", "2.MIME",
            "2.HEADER", "2.TEXT", "2.1", "2.2", "2.2.MIME", "2.1.1", "3", "3.MIME",
            "HEADER.FIELDS (From Subject)", "HEADER.FIELDS.NOT (From Subject)",
            "2.HEADER.FIELDS (subject)", "1.1.HEADER", "1.1.1"]
BINARY = ["1", "2", "3", "2.1", "2.2", "1.1"]


def items():
    out = [(w, w) for w in WIRE]
    out += [("BODY[%s]" % s, "BODY.PEEK[%s]" % s) for s in SECTIONS]
    out += [("BINARY[%s]" % b, "BINARY.PEEK[%s]" % b) for b in BINARY]
    out += [("BINARY.SIZE[%s]" % b, "BINARY.SIZE[%s]" % b) for b in BINARY]
    return out


def value(data, pos, wire):
    """The value at data[pos:] up to the FETCH's closing paren."""
    if wire:
        end = data.rindex(b")\r\n")
        return data[pos:end]
    m = re.match(rb"~?\{(\d+)\}\r\n", data[pos:])
    if m:
        start = pos + m.end()
        return data[start:start + int(m.group(1))]
    if data[pos:pos + 3] == b"NIL":
        return b""
    assert data[pos:pos + 1] == b'"', data[pos:pos + 40]
    out, i = bytearray(), pos + 1
    while data[i:i + 1] != b'"':
        if data[i:i + 1] == b"\\":
            i += 1
        out += data[i:i + 1]
        i += 1
    return bytes(out)


def main():
    cmd = sys.argv[1:]
    maildir = os.environ["MAILDIR"]
    emls = sorted(glob.glob(os.path.join(HERE, "*.eml")))
    shutil.rmtree(maildir, ignore_errors=True)
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, d))
    for i, path in enumerate(emls, 1):
        shutil.copy(path, os.path.join(maildir, "cur", "%d.M%dP1.ref:2," % (1000000000 + i, i)))
    subprocess.run(["chown", "-R", os.environ.get("MAIL_OWNER", "nobody:nogroup"), maildir], check=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    buf = bytearray()

    def command(tag, line):
        """Send one command; return (its untagged data, its tagged line)."""
        proc.stdin.write(("%s %s\r\n" % (tag, line)).encode())
        proc.stdin.flush()
        marker = ("%s " % tag).encode()
        while True:
            at = 0 if buf.startswith(marker) else buf.find(b"\r\n" + marker)
            if at > 0:
                at += 2
            eol = buf.find(b"\r\n", at) if at >= 0 else -1
            if eol >= 0:
                untagged, tagged = bytes(buf[:at]), bytes(buf[at:eol])
                del buf[:eol + 2]
                return untagged, tagged
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise SystemExit("imap ended")
            buf.extend(chunk)

    command("s", "EXAMINE INBOX")
    records = {i: b"" for i in range(1, len(emls) + 1)}
    for i, _ in enumerate(emls, 1):
        for n, (name, req) in enumerate(items()):
            chunk, tagged = command("m%dx%d" % (i, n), "FETCH %d (%s)" % (i, req))
            if not tagged.split(b" ")[1] == b"OK":
                records[i] += b"=== %s NO\n" % name.encode()
                continue
            head = b"* %d FETCH (" % i
            if head not in chunk:
                raise SystemExit("no FETCH data for %s: %r" % (name, tagged))
            start = chunk.index(head) + len(head)
            fetch = chunk[start:]
            if name.startswith(("BODY[", "BINARY[")):
                depth, j = 0, 0
                while True:
                    c = fetch[j:j + 1]
                    depth += c == b"["
                    depth -= c == b"]"
                    j += 1
                    if depth == 0 and c == b"]":
                        break
                if fetch[j:j + 1] == b"<":
                    j = fetch.index(b">", j) + 1
                pos = j + 1
            else:
                pos = fetch.index(b" ") + 1
            v = value(fetch, pos, not name.startswith(("BODY[", "BINARY[")))
            records[i] += b"=== %s %d\n" % (name.encode(), len(v)) + v + b"\n"
    command("z", "LOGOUT")
    for i, path in enumerate(emls, 1):
        with open(path[:-4] + ".dovecot", "wb") as f:
            f.write(records[i])


main()
