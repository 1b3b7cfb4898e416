//! `mailctl dns DOMAIN`: every DNS record a mail domain served by mailstack needs, in
//! zone-file form with a comment per group, ready to paste into a zone or to copy field by field
//! into a DNS provider's form.
//!
//! Records: MX (RFC 5321), SPF (RFC 7208), DKIM (RFC 6376, every key in `[submission]
//! dkim_dir`), DMARC (RFC 7489), MTA-STS (RFC 8461) with the policy file to serve, TLS-RPT
//! (RFC 8460), client service records (RFC 6186, RFC 8314: implicit TLS preferred, POP3 marked
//! as not offered) and the `autoconfig`/`autodiscover` names mail clients probe. Nothing is
//! looked up or changed: the output depends on the config, the key files and the arguments.
//!
//! Also here: the DNS check of `mailctl dkim activate` (is each key's record published?).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{
    NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::hickory_resolver::system_conf::read_system_conf;
use mailstack_smtp::dkim::{self, KeyFile};

use crate::cli::DnsArgs;
use crate::dkim_cmd::{describe, dkim_name, domain_arg};

/// Longest character-string in a TXT record (RFC 1035 section 3.3).
const TXT_STRING_MAX: usize = 255;
/// How long one DNS query of `dkim activate` may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn run(config: &Path, args: DnsArgs) -> anyhow::Result<ExitCode> {
    let cfg = crate::config_cmd::load(config)?;
    let domain = domain_arg(&args.domain)?;
    let host = args.mx.unwrap_or_else(|| cfg.hostname());
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if !dkim::is_valid_domain(&host) {
        bail!("{host:?} is not a host name (set [server] hostname or pass --mx HOST)");
    }
    if !host.contains('.') {
        eprintln!(
            "mailctl: warning: the mail host {host:?} is not a public name; set [server] \
             hostname or pass --mx HOST"
        );
    }
    // The policy `mailctl web` serves ([web]), with the MX named here.
    let policy = mailstack_web::MtaStsPolicy {
        mode: cfg.web.mta_sts_mode.clone(),
        mx: if cfg.web.mta_sts_mx.is_empty() {
            vec![host.clone()]
        } else {
            cfg.web.mta_sts_mx.clone()
        },
        max_age: cfg.web.mta_sts_max_age.get().as_secs(),
    };
    print!(
        "{}",
        records(
            &domain,
            &host,
            &policy,
            &PathBuf::from(&cfg.submission.dkim_dir)
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// The whole output for `domain` served by mail host `host`.
fn records(
    domain: &str,
    host: &str,
    policy: &mailstack_web::MtaStsPolicy,
    dkim_dir: &Path,
) -> String {
    let d = format!("{domain}.");
    let h = format!("{host}.");
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };

    line(&format!(
        "; DNS records for the mail domain {domain}, served by {host}."
    ));
    line(&format!(
        "; {host} itself needs A/AAAA records, and each of its addresses a PTR record naming \
         {host}."
    ));
    line("");
    line("; MX: mail for the domain is delivered to this host.");
    line(&format!("{d} IN MX 10 {h}"));
    line("");
    line("; SPF (RFC 7208): only the domain's MX hosts send its mail; everything else fails.");
    line(txt_record(&d, "v=spf1 mx -all").trim_end());
    line("");
    line(dkim_section(domain, dkim_dir).trim_end());
    line("");
    line("; DMARC (RFC 7489): mail failing SPF and DKIM alignment goes to spam; aggregate");
    line(&format!(
        "; reports go to postmaster@{domain}. Move to p=reject once the reports are clean."
    ));
    line(
        txt_record(
            &format!("_dmarc.{d}"),
            &format!("v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"),
        )
        .trim_end(),
    );
    line("");
    let policy = policy.text();
    line("; MTA-STS (RFC 8461): senders must use TLS with a valid certificate for the MX.");
    line("; The id changes whenever the policy below changes (it is derived from its text).");
    line(
        txt_record(
            &format!("_mta-sts.{d}"),
            &format!("v=STSv1; id={}", mailstack_web::mta_sts_id(&policy)),
        )
        .trim_end(),
    );
    line(&format!(
        "; The policy is fetched from https://mta-sts.{domain}/.well-known/mta-sts.txt: point"
    ));
    line(&format!(
        "; mta-sts.{domain} at the web server serving it (with a certificate for that name),"
    ));
    line("; e.g. the mail host behind Traefik. The file holds exactly these lines:");
    for policy_line in policy.lines() {
        line(&format!(";     {policy_line}"));
    }
    line(&format!("mta-sts.{d} IN CNAME {h}"));
    line("");
    line(&format!(
        "; TLS-RPT (RFC 8460): daily reports of TLS failures sent to tlsrpt@{domain}."
    ));
    line(
        txt_record(
            &format!("_smtp._tls.{d}"),
            &format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}"),
        )
        .trim_end(),
    );
    line("");
    line("; Mail client setup (RFC 6186, RFC 8314): implicit TLS preferred, no POP3.");
    for (service, priority, port) in [
        ("_submissions", 0, 465),
        ("_submission", 10, 587),
        ("_imaps", 0, 993),
        ("_imap", 10, 143),
    ] {
        line(&format!(
            "{service}._tcp.{d} IN SRV {priority} 1 {port} {h}"
        ));
    }
    line(&format!("_pop3._tcp.{d} IN SRV 0 0 0 ."));
    line(&format!("_pop3s._tcp.{d} IN SRV 0 0 0 ."));
    line("; Names Thunderbird (autoconfig) and Outlook (autodiscover) probe.");
    line(&format!("autoconfig.{d} IN CNAME {h}"));
    line(&format!("autodiscover.{d} IN CNAME {h}"));
    out
}

/// The keys among `keys` (selector, key) whose record DNS does not show, each with what it
/// shows instead. Asks `resolver` (IP or IP:PORT) or the servers of /etc/resolv.conf.
pub(crate) fn unpublished(
    domain: &str,
    keys: &[(String, KeyFile)],
    resolver: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let (config, mut opts) = match resolver {
        Some(addr) => {
            let addr: SocketAddr = match addr.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, 53),
                Err(_) => addr
                    .parse()
                    .with_context(|| format!("--resolver {addr:?}: not an IP or IP:PORT"))?,
            };
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            let mut opts = ResolverOpts::default();
            opts.use_hosts_file = ResolveHosts::Never;
            (ResolverConfig::from_name_servers(vec![server]), opts)
        }
        None => read_system_conf().context("cannot read the resolver configuration")?,
    };
    opts.timeout = DNS_TIMEOUT;
    opts.cache_size = 0;
    let auth = MessageAuthenticator::new(config, opts)
        .map_err(|e| anyhow::anyhow!("cannot set up the DNS resolver: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut problems = Vec::new();
    for (selector, key) in keys {
        let name = dkim_name(selector, domain);
        let found = runtime.block_on(async {
            tokio::time::timeout(DNS_TIMEOUT * 2, auth.txt_raw_lookup(name.as_str())).await
        });
        match found {
            Ok(Ok(txt)) => {
                let txt = String::from_utf8_lossy(&txt);
                if !key.matches_record(&txt) {
                    problems.push(format!("{name} holds another key: {txt}"));
                }
            }
            Ok(Err(e)) => problems.push(format!("{name}: no TXT record ({e})")),
            Err(_) => problems.push(format!("{name}: DNS did not answer")),
        }
    }
    Ok(problems)
}

/// The DKIM group: a record per key file, the active one marked.
fn dkim_section(domain: &str, dir: &Path) -> String {
    let mut out = String::from(
        "; DKIM (RFC 6376): the public keys of the domain; the active ones sign outgoing mail.\n",
    );
    let selectors = match dkim::list_selectors(dir, domain) {
        Ok(selectors) => selectors,
        Err(e) => {
            out.push_str(&format!("; cannot list the DKIM keys: {e}\n"));
            return out;
        }
    };
    if selectors.is_empty() {
        out.push_str(&format!(
            "; no key in {} yet: run `mailctl dkim keygen {domain}`\n",
            dir.join(domain).display()
        ));
        return out;
    }
    let active = dkim::active_selectors(dir, domain);
    if let Err(e) = &active {
        out.push_str(&format!("; {e}\n"));
    }
    let active = active.unwrap_or_default();
    for selector in selectors {
        match KeyFile::read(&dkim::key_path(dir, domain, &selector)) {
            Ok(key) => {
                let state = if active.contains(&selector) {
                    "active (signs)"
                } else {
                    "not active"
                };
                out.push_str(&format!(
                    "; selector {selector}: {}, {state}\n",
                    describe(&key)
                ));
                out.push_str(&txt_record(
                    &dkim_name(&selector, domain),
                    &key.dns_record(),
                ));
            }
            Err(e) => out.push_str(&format!("; selector {selector}: unusable key: {e}\n")),
        }
    }
    out
}

/// `name IN TXT "text"`, or for text longer than one character-string
/// `name IN TXT ( "first 255 octets" "next ..." )` with one string per line.
pub(crate) fn txt_record(name: &str, text: &str) -> String {
    let strings: Vec<String> = text
        .as_bytes()
        .chunks(TXT_STRING_MAX)
        .map(|chunk| {
            let chunk = String::from_utf8_lossy(chunk);
            format!("\"{}\"", chunk.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect();
    match strings.as_slice() {
        [one] => format!("{name} IN TXT {one}\n"),
        many => format!("{name} IN TXT ( {} )\n", many.join("\n\t")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_txt_records_are_split_at_255_octets() {
        assert_eq!(
            txt_record("example.org.", "v=spf1 mx -all"),
            "example.org. IN TXT \"v=spf1 mx -all\"\n"
        );
        let text = "x".repeat(300);
        let record = txt_record("s._domainkey.example.org.", &text);
        assert_eq!(
            record,
            format!(
                "s._domainkey.example.org. IN TXT ( \"{}\"\n\t\"{}\" )\n",
                "x".repeat(255),
                "x".repeat(45)
            )
        );
        assert_eq!(txt_record("a.", "q\"b\\"), "a. IN TXT \"q\\\"b\\\\\"\n");
    }
}
