//! The interpreter: runs compiled scripts over a message and collects actions.
//!
//! Several scripts run as one sequence (Dovecot Pigeonhole's `sieve_before` / user script /
//! `sieve_after`): see [`run`] for the rules.

use std::collections::HashMap;
use std::time::Duration;

use crate::date::{self, DateTime};
use crate::error::RuntimeError;
use crate::ir::*;
use crate::matching;
use crate::message::{self, Message};
use crate::vacation::{self, VacationAction};
use crate::{Limits, Script};

mod eval;

/// The SMTP envelope of the delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `MAIL FROM` address; `""` for the null reverse-path `<>`.
    pub from: String,
    /// The original recipient (`RCPT TO`) this delivery is for.
    pub to: String,
    /// The authenticated sender (`AUTH=` parameter), if any.
    pub auth: Option<String>,
}

/// What the interpreter needs from its host. All calls are synchronous and should be cheap
/// (the host pre-loads what it can).
pub trait Environment {
    /// Whether the user's mailbox `name` exists (the `mailboxexists` test, RFC 5490).
    fn mailbox_exists(&self, name: &str) -> bool;
    /// The `duplicate` test (RFC 7352): returns true when `key` was recorded within the last
    /// `period`, and records it now (the host persists it per user). `key` already combines
    /// the `:handle` and the unique id.
    fn duplicate_check(&mut self, key: &str, period: Duration) -> bool;
    /// Like [`duplicate_check`](Self::duplicate_check) for `duplicate :last`: the period counts
    /// from the *last* sighting, so the host must refresh the entry's time on every check. The
    /// default forwards to `duplicate_check` (period from the first sighting); hosts that keep
    /// a timestamp per key should override it.
    fn duplicate_check_last(&mut self, key: &str, period: Duration) -> bool {
        self.duplicate_check(key, period)
    }
    /// The current time, in the zone that `date`/`currentdate` without `:zone` use.
    fn now(&self) -> DateTime;
    /// The user's own addresses (vacation's implicit `:addresses`, RFC 5230 §4.5).
    fn user_addresses(&self) -> Vec<String>;
}

/// One action for the host to perform, in script order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Store into INBOX with these flags (explicit `keep`).
    Keep {
        /// IMAP flags/keywords (imap4flags), e.g. `\Seen`, `$Label1`.
        flags: Vec<String>,
    },
    /// Store into `mailbox` (UTF-8 name, hierarchy separator as the user wrote it).
    FileInto {
        /// Target mailbox.
        mailbox: String,
        /// Flags to set on the stored copy.
        flags: Vec<String>,
        /// `:create` (RFC 5490): create the mailbox if it does not exist. Without it, a missing
        /// mailbox means the host files into INBOX instead (Pigeonhole behaviour).
        create: bool,
        /// `:copy` (RFC 3894): did not cancel the implicit keep.
        copy: bool,
    },
    /// Resend the message unchanged to `address` (envelope sender: see RFC 5228 §4.2).
    Redirect {
        /// Destination address.
        address: String,
        /// `:copy`: did not cancel the implicit keep.
        copy: bool,
    },
    /// Refuse the message (RFC 5429 `reject`: the host answers 550 at LMTP time or sends an
    /// MDN-like reply).
    Reject {
        /// Text for the sender.
        reason: String,
    },
    /// Refuse the message at protocol level (RFC 5429 `ereject`).
    Ereject {
        /// Text for the sender.
        reason: String,
    },
    /// The message is dropped (it only cancels the implicit keep; listed for logging).
    Discard,
    /// Send an automatic reply (RFC 5230); the RFC 3834 checks already passed.
    Vacation(VacationAction),
}

/// The result of [`run`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Actions to perform, in order, duplicates removed (RFC 5228 §2.10.3).
    pub actions: Vec<Action>,
    /// Whether the implicit keep is still in force: the host files into INBOX as well.
    pub implicit_keep: bool,
    /// Flags for the implicit keep (the imap4flags internal variable at the end).
    pub implicit_keep_flags: Vec<String>,
    /// Things the user may want to know (vacation suppressed and why, a bad run-time regex…).
    pub warnings: Vec<String>,
}

/// Runs `scripts` in sequence on one message (Pigeonhole multiscript semantics):
///
/// - Each script starts with fresh variables and an empty imap4flags internal variable.
/// - Actions accumulate across scripts.
/// - `stop` ends the current script only.
/// - The next script runs only if the current one kept the message: its implicit keep is
///   still in force or it executed `keep`. A non-final script's explicit `keep` is not
///   performed; it only lets the sequence continue (the final script decides). So a
///   `sieve_before` script that files spam into Junk (cancelling the keep) ends the sequence:
///   the user's script does not run.
/// - `discard` in a script cancels that script's implicit keep (and so ends the sequence);
///   it does not undo actions of earlier scripts.
/// - The implicit keep of the outcome is that of the last script that ran.
///
/// Any [`RuntimeError`] voids the whole run: the host keeps the message in INBOX.
pub fn run(
    scripts: &[&Script],
    message: &Message<'_>,
    envelope: &Envelope,
    env: &mut dyn Environment,
    limits: &Limits,
) -> Result<Outcome, RuntimeError> {
    let mut r = Runner {
        msg: message,
        envelope,
        env,
        limits,
        steps: 0,
        actions: Vec::new(),
        warnings: Vec::new(),
        redirects: 0,
        vacation_done: false,
        s: ScriptState::default(),
    };
    let mut implicit_keep = true;
    let mut flags = Vec::new();
    for (i, script) in scripts.iter().enumerate() {
        let last = i + 1 == scripts.len();
        r.s = ScriptState {
            implicit_keep: true,
            ..Default::default()
        };
        let mark = r.actions.len();
        r.block(&script.cmds)?;
        implicit_keep = r.s.implicit_keep;
        flags = split_flags(&r.s.internal_flags);
        if !last {
            let kept = r.s.explicit_keep;
            // a non-final script's explicit keep only means "continue"
            let mut k = mark;
            while k < r.actions.len() {
                if matches!(r.actions[k], Action::Keep { .. }) {
                    r.actions.remove(k);
                } else {
                    k += 1;
                }
            }
            if !(implicit_keep || kept) {
                break;
            }
            implicit_keep = true;
        }
    }
    check_conflicts(&r.actions)?;
    if r.actions
        .iter()
        .any(|a| matches!(a, Action::Reject { .. } | Action::Ereject { .. }))
    {
        implicit_keep = false;
    }
    Ok(Outcome {
        actions: r.actions,
        implicit_keep,
        implicit_keep_flags: if implicit_keep { flags } else { Vec::new() },
        warnings: r.warnings,
    })
}

/// RFC 5429 §2.1/§2.2: reject and ereject exclude keep, fileinto, redirect (also with `:copy`,
/// as Pigeonhole), vacation and each other.
fn check_conflicts(actions: &[Action]) -> Result<(), RuntimeError> {
    let rejects = actions
        .iter()
        .filter(|a| matches!(a, Action::Reject { .. } | Action::Ereject { .. }))
        .count();
    if rejects == 0 {
        return Ok(());
    }
    if rejects > 1 {
        return Err(RuntimeError::IncompatibleActions(
            "more than one reject/ereject".into(),
        ));
    }
    for a in actions {
        let name = match a {
            Action::Keep { .. } => "keep",
            Action::FileInto { .. } => "fileinto",
            Action::Redirect { .. } => "redirect",
            Action::Vacation(_) => "vacation",
            _ => continue,
        };
        return Err(RuntimeError::IncompatibleActions(format!(
            "reject cannot be combined with {name}"
        )));
    }
    Ok(())
}

#[derive(Default)]
struct ScriptState {
    vars: HashMap<String, String>,
    match_vars: Vec<String>,
    internal_flags: String,
    implicit_keep: bool,
    explicit_keep: bool,
}

enum Flow {
    Next,
    Stop,
}

struct Runner<'r, 'm> {
    msg: &'r Message<'m>,
    envelope: &'r Envelope,
    env: &'r mut dyn Environment,
    limits: &'r Limits,
    steps: u64,
    actions: Vec<Action>,
    warnings: Vec<String>,
    redirects: usize,
    vacation_done: bool,
    s: ScriptState,
}

/// Splits a flag list string into flags, dropping case-insensitive duplicates.
pub(crate) fn split_flags(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in s.split_whitespace() {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_string());
        }
    }
    out
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl Runner<'_, '_> {
    fn step(&mut self, n: u64) -> Result<(), RuntimeError> {
        self.steps += n;
        if self.steps > self.limits.max_steps {
            return Err(RuntimeError::TooManySteps(self.limits.max_steps));
        }
        Ok(())
    }

    fn expand(&self, v: &Value) -> String {
        match v {
            Value::Lit(s) => s.clone(),
            Value::Tpl(pieces) => {
                let mut out = String::new();
                for p in pieces {
                    match p {
                        Piece::Lit(s) => out.push_str(s),
                        Piece::Var(n) => {
                            if let Some(v) = self.s.vars.get(n) {
                                out.push_str(v);
                            }
                        }
                        Piece::Match(i) => {
                            if let Some(v) = self.s.match_vars.get(*i) {
                                out.push_str(v);
                            }
                        }
                    }
                }
                out
            }
        }
    }

    fn expand_all(&self, v: &[Value]) -> Vec<String> {
        v.iter().map(|v| self.expand(v)).collect()
    }

    fn push(&mut self, a: Action) -> Result<(), RuntimeError> {
        // RFC 5228 §2.10.3: identical actions are performed once
        let dup = self.actions.iter().position(|x| match (x, &a) {
            (Action::Keep { .. }, Action::Keep { .. }) => true,
            (Action::FileInto { mailbox: m1, .. }, Action::FileInto { mailbox: m2, .. }) => {
                m1 == m2
            }
            (Action::Redirect { address: a1, .. }, Action::Redirect { address: a2, .. }) => {
                a1.eq_ignore_ascii_case(a2)
            }
            (Action::Discard, Action::Discard) => true,
            _ => false,
        });
        if let Some(i) = dup {
            // the later one's flags win; :copy only if both were copies
            match (&mut self.actions[i], a) {
                (Action::Keep { flags }, Action::Keep { flags: f }) => *flags = f,
                (
                    Action::FileInto {
                        flags,
                        copy,
                        create,
                        ..
                    },
                    Action::FileInto {
                        flags: f,
                        copy: c,
                        create: cr,
                        ..
                    },
                ) => {
                    *flags = f;
                    *copy = *copy && c;
                    *create = *create || cr;
                }
                (Action::Redirect { copy, .. }, Action::Redirect { copy: c, .. }) => {
                    *copy = *copy && c
                }
                _ => {}
            }
            return Ok(());
        }
        if self.actions.len() >= self.limits.max_actions {
            return Err(RuntimeError::TooManyActions(self.limits.max_actions));
        }
        self.actions.push(a);
        Ok(())
    }

    fn block(&mut self, cmds: &[Cmd]) -> Result<Flow, RuntimeError> {
        for c in cmds {
            if let Flow::Stop = self.command(c)? {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Next)
    }

    fn flags_of(&self, explicit: &Option<Vec<Value>>) -> Vec<String> {
        match explicit {
            Some(v) => split_flags(&self.expand_all(v).join(" ")),
            None => split_flags(&self.s.internal_flags),
        }
    }

    fn command(&mut self, c: &Cmd) -> Result<Flow, RuntimeError> {
        self.step(1)?;
        match c {
            Cmd::If {
                branches,
                otherwise,
            } => {
                for (t, body) in branches {
                    if self.test(t)? {
                        return self.block(body);
                    }
                }
                if let Some(b) = otherwise {
                    return self.block(b);
                }
            }
            Cmd::Stop => return Ok(Flow::Stop),
            Cmd::Keep { flags } => {
                let flags = self.flags_of(flags);
                self.s.implicit_keep = false;
                self.s.explicit_keep = true;
                self.push(Action::Keep { flags })?;
            }
            Cmd::Discard => {
                self.s.implicit_keep = false;
                self.push(Action::Discard)?;
            }
            Cmd::FileInto {
                mailbox,
                flags,
                copy,
                create,
            } => {
                let mailbox = self.expand(mailbox);
                if mailbox.is_empty() {
                    return Err(RuntimeError::InvalidValue(
                        "fileinto: empty mailbox name".into(),
                    ));
                }
                let flags = self.flags_of(flags);
                if !copy {
                    self.s.implicit_keep = false;
                }
                self.push(Action::FileInto {
                    mailbox,
                    flags,
                    create: *create,
                    copy: *copy,
                })?;
            }
            Cmd::Redirect { addr, copy } => {
                let raw = self.expand(addr);
                let address = crate::validate::mailbox_of(&raw);
                if !crate::validate::valid_address(&address) {
                    return Err(RuntimeError::InvalidValue(format!(
                        "redirect: \"{raw}\" is not a valid address"
                    )));
                }
                let known = self.actions.iter().any(|a| matches!(a, Action::Redirect { address: x, .. } if x.eq_ignore_ascii_case(&address)));
                if !known {
                    self.redirects += 1;
                    if self.redirects > self.limits.max_redirects {
                        return Err(RuntimeError::TooManyRedirects(self.limits.max_redirects));
                    }
                }
                if !copy {
                    self.s.implicit_keep = false;
                }
                self.push(Action::Redirect {
                    address,
                    copy: *copy,
                })?;
            }
            Cmd::Flags { op, var, flags } => {
                let new = split_flags(&self.expand_all(flags).join(" "));
                let cur = match var {
                    Some(v) => self.s.vars.get(v).cloned().unwrap_or_default(),
                    None => self.s.internal_flags.clone(),
                };
                let mut list = split_flags(&cur);
                match op {
                    FlagOp::Set => list = new,
                    FlagOp::Add => {
                        for f in new {
                            if !list.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
                                list.push(f);
                            }
                        }
                    }
                    FlagOp::Remove => {
                        list.retain(|o| !new.iter().any(|f| f.eq_ignore_ascii_case(o)))
                    }
                }
                let joined = truncate(list.join(" "), self.limits.max_variable_len);
                match var {
                    Some(v) => self.set_var(v, joined)?,
                    None => self.s.internal_flags = joined,
                }
            }
            Cmd::Set { name, mods, value } => {
                let mut v = self.expand(value);
                for m in mods {
                    v = apply_modifier(*m, v);
                }
                self.set_var(name, v)?;
            }
            Cmd::Reject { reason, ereject } => {
                let reason = self.expand(reason);
                self.s.implicit_keep = false;
                self.push(if *ereject {
                    Action::Ereject { reason }
                } else {
                    Action::Reject { reason }
                })?;
            }
            Cmd::Vacation(v) => self.vacation(v)?,
        }
        Ok(Flow::Next)
    }

    fn set_var(&mut self, name: &str, v: String) -> Result<(), RuntimeError> {
        if !self.s.vars.contains_key(name) && self.s.vars.len() >= self.limits.max_variables {
            return Err(RuntimeError::InvalidValue(format!(
                "too many variables (limit {})",
                self.limits.max_variables
            )));
        }
        let v = truncate(v, self.limits.max_variable_len);
        self.s.vars.insert(name.to_string(), v);
        Ok(())
    }

    fn vacation(&mut self, v: &VacationCmd) -> Result<(), RuntimeError> {
        if self.vacation_done {
            return Err(RuntimeError::IncompatibleActions(
                "more than one vacation action".into(),
            ));
        }
        self.vacation_done = true;
        let args = vacation::Args {
            period_secs: v.period_secs,
            subject: v.subject.as_ref().map(|s| self.expand(s)),
            from: v.from.as_ref().map(|s| self.expand(s)),
            addresses: self.expand_all(&v.addresses),
            mime: v.mime,
            handle: v.handle.as_ref().map(|s| self.expand(s)),
            reason: self.expand(&v.reason),
        };
        let user = self.env.user_addresses();
        match vacation::decide(args, self.msg, self.envelope, &user, self.limits) {
            Ok(action) => self.push(Action::Vacation(action))?,
            Err(why) => self
                .warnings
                .push(format!("vacation: no reply sent: {why}")),
        }
        Ok(())
    }
}

fn apply_modifier(m: Modifier, v: String) -> String {
    match m {
        Modifier::Lower => v.to_lowercase(),
        Modifier::Upper => v.to_uppercase(),
        Modifier::LowerFirst | Modifier::UpperFirst => {
            let mut c = v.chars();
            match c.next() {
                None => v,
                Some(f) => {
                    let f: String = if m == Modifier::UpperFirst {
                        f.to_uppercase().collect()
                    } else {
                        f.to_lowercase().collect()
                    };
                    f + c.as_str()
                }
            }
        }
        Modifier::QuoteWildcard => matching::quote_wildcard(&v),
        Modifier::QuoteRegex => regex::escape(&v),
        Modifier::Length => v.chars().count().to_string(),
    }
}
