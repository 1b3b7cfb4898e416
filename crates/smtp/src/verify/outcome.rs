//! The typed results of a verification, owned (no borrow of the message), with the RFC 8601
//! result keywords as their text form. Converted once from mail-auth's types here.

use std::fmt;

use mail_auth::dmarc::Policy;
use mail_auth::{DkimOutput, DkimResult, DmarcOutput, DmarcResult, SpfResult};

/// SPF result (RFC 7208 section 2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfOutcome {
    /// The client is authorized to send for the domain.
    Pass,
    /// The client is explicitly not authorized (`-all`).
    Fail,
    /// Probably not authorized (`~all`).
    SoftFail,
    /// The domain makes no assertion (`?all`).
    Neutral,
    /// The domain publishes no SPF record (or the identity is not a domain).
    None,
    /// A transient (DNS) error; retrying later may give a definite answer.
    TempError,
    /// The record is broken (syntax, too many lookups).
    PermError,
}

/// DKIM or ARC verification result (RFC 8601 sections 2.7.1 and RFC 8617 section 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimStatus {
    /// The signature verified.
    Pass,
    /// The signature did not verify (body changed, wrong key).
    Fail,
    /// The signature could not be processed in a way that counts as fail (e.g. malformed).
    Neutral,
    /// No signature.
    None,
    /// A transient (DNS) error fetching the key.
    TempError,
    /// A permanent error: missing or unusable key record, unsupported algorithm.
    PermError,
}

/// One DKIM-Signature and its result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DkimOutcome {
    /// The signing domain (`d=`); empty if the signature header could not be parsed.
    pub domain: String,
    /// The selector (`s=`); empty if the signature header could not be parsed.
    pub selector: String,
    /// The verification result.
    pub result: DkimStatus,
}

/// ARC chain validation result (RFC 8617 section 5.2); same keywords as DKIM.
pub type ArcOutcome = DkimStatus;

/// DMARC result (RFC 7489 section 11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcStatus {
    /// An aligned SPF or DKIM pass.
    Pass,
    /// The domain has a DMARC record and nothing aligned passed.
    Fail,
    /// No DMARC record, or DMARC does not apply (no or several From: domains).
    None,
    /// A transient (DNS) error.
    TempError,
    /// A permanent error (unusable record).
    PermError,
}

/// The policy the From: domain requests for mail failing DMARC (`p=`, or `sp=`/`np=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcPolicy {
    /// Monitoring only; also used when there is no record.
    None,
    /// Treat as suspicious (junk folder).
    Quarantine,
    /// Reject during the SMTP transaction.
    Reject,
}

/// DMARC result, policy and the domain they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DmarcOutcome {
    /// The DMARC result.
    pub result: DmarcStatus,
    /// The policy the domain requests for failing mail (`None` without a record).
    pub policy: DmarcPolicy,
    /// The RFC 5322 From: domain evaluated; empty when DMARC did not apply.
    pub domain: String,
}

impl SpfOutcome {
    /// The RFC 8601 keyword (`pass`, `softfail`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SpfOutcome::Pass => "pass",
            SpfOutcome::Fail => "fail",
            SpfOutcome::SoftFail => "softfail",
            SpfOutcome::Neutral => "neutral",
            SpfOutcome::None => "none",
            SpfOutcome::TempError => "temperror",
            SpfOutcome::PermError => "permerror",
        }
    }
}

impl DkimStatus {
    /// The RFC 8601 keyword (`pass`, `fail`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DkimStatus::Pass => "pass",
            DkimStatus::Fail => "fail",
            DkimStatus::Neutral => "neutral",
            DkimStatus::None => "none",
            DkimStatus::TempError => "temperror",
            DkimStatus::PermError => "permerror",
        }
    }
}

impl DmarcStatus {
    /// The RFC 8601 keyword (`pass`, `fail`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcStatus::Pass => "pass",
            DmarcStatus::Fail => "fail",
            DmarcStatus::None => "none",
            DmarcStatus::TempError => "temperror",
            DmarcStatus::PermError => "permerror",
        }
    }
}

impl DmarcPolicy {
    /// The DMARC record keyword (`none`, `quarantine`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcPolicy::None => "none",
            DmarcPolicy::Quarantine => "quarantine",
            DmarcPolicy::Reject => "reject",
        }
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(SpfOutcome, DkimStatus, DmarcStatus, DmarcPolicy);

impl From<SpfResult> for SpfOutcome {
    fn from(result: SpfResult) -> Self {
        match result {
            SpfResult::Pass => SpfOutcome::Pass,
            SpfResult::Fail => SpfOutcome::Fail,
            SpfResult::SoftFail => SpfOutcome::SoftFail,
            SpfResult::Neutral => SpfOutcome::Neutral,
            SpfResult::TempError => SpfOutcome::TempError,
            SpfResult::PermError => SpfOutcome::PermError,
            SpfResult::None => SpfOutcome::None,
        }
    }
}

impl From<&DkimResult> for DkimStatus {
    fn from(result: &DkimResult) -> Self {
        match result {
            DkimResult::Pass => DkimStatus::Pass,
            DkimResult::Neutral(_) => DkimStatus::Neutral,
            DkimResult::Fail(_) => DkimStatus::Fail,
            DkimResult::PermError(_) => DkimStatus::PermError,
            DkimResult::TempError(_) => DkimStatus::TempError,
            DkimResult::None => DkimStatus::None,
        }
    }
}

impl From<&DkimOutput<'_>> for DkimOutcome {
    fn from(output: &DkimOutput<'_>) -> Self {
        let (domain, selector) = output
            .signature()
            .map_or((String::new(), String::new()), |s| {
                (s.d.clone(), s.s.clone())
            });
        DkimOutcome {
            domain,
            selector,
            result: DkimStatus::from(output.result()),
        }
    }
}

impl From<&DmarcResult> for DmarcStatus {
    fn from(result: &DmarcResult) -> Self {
        match result {
            DmarcResult::Pass => DmarcStatus::Pass,
            DmarcResult::Fail(_) => DmarcStatus::Fail,
            DmarcResult::TempError(_) => DmarcStatus::TempError,
            DmarcResult::PermError(_) => DmarcStatus::PermError,
            DmarcResult::None => DmarcStatus::None,
        }
    }
}

impl From<Policy> for DmarcPolicy {
    fn from(policy: Policy) -> Self {
        match policy {
            Policy::Quarantine => DmarcPolicy::Quarantine,
            Policy::Reject => DmarcPolicy::Reject,
            Policy::None | Policy::Unspecified => DmarcPolicy::None,
        }
    }
}

impl From<&DmarcOutput> for DmarcOutcome {
    fn from(output: &DmarcOutput) -> Self {
        let result = DmarcStatus::from(&output.result());
        DmarcOutcome {
            result,
            // Without a record there is no policy to report.
            policy: if output.dmarc_record().is_some() {
                DmarcPolicy::from(output.policy())
            } else {
                DmarcPolicy::None
            },
            domain: output.domain().to_string(),
        }
    }
}
