//! The documents the web service serves: the Thunderbird autoconfig file, the Outlook
//! autodiscover answer and the MTA-STS policy with its id (also printed by `mailctl dns`).

/// Ports clients are told to use: the standard ones (RFC 8314 order: implicit TLS first).
pub const IMAPS_PORT: u16 = 993;
/// IMAP with STARTTLS.
pub const IMAP_PORT: u16 = 143;
/// Submission over implicit TLS.
pub const SUBMISSIONS_PORT: u16 = 465;
/// Submission with STARTTLS.
pub const SUBMISSION_PORT: u16 = 587;

/// An MTA-STS policy (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtaStsPolicy {
    /// `enforce`, `testing` or `none`.
    pub mode: String,
    /// MX host names or `*.` wildcards.
    pub mx: Vec<String>,
    /// Seconds senders may cache the policy.
    pub max_age: u64,
}

impl MtaStsPolicy {
    /// The policy file, CRLF line ends.
    pub fn text(&self) -> String {
        let mut out = format!("version: STSv1\r\nmode: {}\r\n", self.mode);
        for mx in &self.mx {
            out.push_str(&format!("mx: {mx}\r\n"));
        }
        out.push_str(&format!("max_age: {}\r\n", self.max_age));
        out
    }
}

/// The policy id for the `_mta-sts` TXT record: the first 80 bits of the policy text's SHA-256
/// in hex, so it changes exactly when the policy does.
pub fn mta_sts_id(policy_text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, policy_text.as_bytes());
    digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Escape text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A plausible mail address (`local@domain`, RFC 5322 atext and dots, a domain of letters,
/// digits, `-` and dots): anything else is not echoed.
pub fn plausible_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    !local.is_empty() && local.len() <= 64 && local.chars().all(atext) && plausible_domain(domain)
}

/// A host or domain name of letters, digits, `-` and dots, at most 253 characters.
pub fn plausible_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && !d.starts_with('.')
        && !d.contains("..")
        && d.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The Thunderbird autoconfig file (clientConfig 1.1) for mail `domain` on `host`.
pub fn autoconfig(domain: &str, host: &str) -> String {
    let (d, h) = (xml_escape(domain), xml_escape(host));
    let server = |kind: &str, proto: &str, port: u16, socket: &str| {
        format!(
            "    <{kind} type=\"{proto}\">\n      <hostname>{h}</hostname>\n      <port>{port}</port>\n      <socketType>{socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILADDRESS%</username>\n    </{kind}>\n"
        )
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  <emailProvider id=\"{d}\">\n    <domain>{d}</domain>\n    <displayName>{d} mail</displayName>\n    <displayShortName>{d}</displayShortName>\n"
    );
    out.push_str(&server("incomingServer", "imap", IMAPS_PORT, "SSL"));
    out.push_str(&server("incomingServer", "imap", IMAP_PORT, "STARTTLS"));
    out.push_str(&server("outgoingServer", "smtp", SUBMISSIONS_PORT, "SSL"));
    out.push_str(&server(
        "outgoingServer",
        "smtp",
        SUBMISSION_PORT,
        "STARTTLS",
    ));
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

/// The `EMailAddress` of an Outlook autodiscover request body, if plausible.
pub fn autodiscover_address(request: &str) -> Option<String> {
    let start = request.find("<EMailAddress>")? + "<EMailAddress>".len();
    let end = start + request[start..].find("</EMailAddress>")?;
    let a = request[start..end].trim();
    plausible_address(a).then(|| a.to_string())
}

/// The Outlook (POX) autodiscover answer: IMAP on 993 and SMTP on 465, login = `address`.
pub fn autodiscover(address: &str, host: &str) -> String {
    let (a, h) = (xml_escape(address), xml_escape(host));
    let protocol = |kind: &str, port: u16| {
        format!(
            "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{h}</Server>\n        <Port>{port}</Port>\n        <DomainRequired>off</DomainRequired>\n        <LoginName>{a}</LoginName>\n        <SPA>off</SPA>\n        <SSL>on</SSL>\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n{}{}    </Account>\n  </Response>\n</Autodiscover>\n",
        protocol("IMAP", IMAPS_PORT),
        protocol("SMTP", SUBMISSIONS_PORT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_text_and_id() {
        let p = MtaStsPolicy {
            mode: "enforce".into(),
            mx: vec!["mail.example.com".into(), "*.backup.example.com".into()],
            max_age: 604_800,
        };
        assert_eq!(
            p.text(),
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.backup.example.com\r\nmax_age: 604800\r\n"
        );
        let id = mta_sts_id(&p.text());
        assert_eq!(id.len(), 20);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let other = MtaStsPolicy {
            mode: "testing".into(),
            ..p
        };
        assert_ne!(mta_sts_id(&other.text()), id);
    }

    #[test]
    fn addresses_are_checked_before_they_are_echoed() {
        assert_eq!(
            autodiscover_address(
                "<Request><EMailAddress> alice@example.com </EMailAddress></Request>"
            ),
            Some("alice@example.com".into())
        );
        for bad in [
            "<EMailAddress>a<b@example.com</EMailAddress>",
            "<EMailAddress>alice</EMailAddress>",
            "<EMailAddress>a@exa mple.com</EMailAddress>",
            "no address",
        ] {
            assert_eq!(autodiscover_address(bad), None, "{bad}");
        }
        assert_eq!(xml_escape("a&b<'\">"), "a&amp;b&lt;&apos;&quot;&gt;");
    }

    #[test]
    fn autoconfig_lists_implicit_tls_first() {
        let x = autoconfig("example.com", "mail.example.com");
        let ssl = x.find("<port>993</port>").unwrap();
        let starttls = x.find("<port>143</port>").unwrap();
        assert!(ssl < starttls);
        assert!(x.contains("<emailProvider id=\"example.com\">"));
        assert!(x.contains("<username>%EMAILADDRESS%</username>"));
    }
}
