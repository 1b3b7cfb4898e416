//! Validation of commands (RFC 5228 §3–§4 and the extensions' actions).

use super::*;

impl Validator<'_> {
    pub(super) fn command(&self, c: &CommandNode, name: &str) -> Result<Cmd, CompileError> {
        self.check_known(name, c.pos, false)?;
        if name == "require" {
            return Err(c.pos.err("require must come before any other command"));
        }
        if name == "if" {
            let t = self.one_test(c)?;
            let body = self.need_block(c)?;
            return Ok(Cmd::If {
                branches: vec![(t, body)],
                otherwise: None,
            });
        }
        if c.block.is_some() {
            return Err(c.pos.err(format!("{name} takes no block")));
        }
        if !c.tests.is_empty() {
            return Err(c.tests[0].pos.err(format!("{name} takes no test")));
        }
        let mut a = self.split(name, c.pos, &c.args)?;
        let cmd = match name {
            "stop" => {
                a.want_positional(0, "no arguments")?;
                Cmd::Stop
            }
            "discard" => {
                a.want_positional(0, "no arguments")?;
                Cmd::Discard
            }
            "keep" => {
                a.want_positional(0, "no positional arguments")?;
                let flags = a.list("flags").map(|l| self.values(&l)).transpose()?;
                Cmd::Keep { flags }
            }
            "fileinto" => {
                a.want_positional(1, "a mailbox name")?;
                let mb = self.pos_str(&a, 0, "mailbox name")?;
                if mb.value.is_empty() {
                    return Err(mb.pos.err("fileinto: empty mailbox name"));
                }
                let flags = a.list("flags").map(|l| self.values(&l)).transpose()?;
                Cmd::FileInto {
                    mailbox: self.value(&mb)?,
                    flags,
                    copy: a.flag("copy").is_some(),
                    create: a.flag("create").is_some(),
                }
            }
            "redirect" => {
                a.want_positional(1, "an address")?;
                let addr = self.pos_str(&a, 0, "address")?;
                let v = self.value(&addr)?;
                if let Some(s) = v.as_lit()
                    && !valid_address(s)
                {
                    return Err(addr
                        .pos
                        .err(format!("redirect: \"{s}\" is not a valid address")));
                }
                Cmd::Redirect {
                    addr: v,
                    copy: a.flag("copy").is_some(),
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                let op = match name {
                    "setflag" => FlagOp::Set,
                    "addflag" => FlagOp::Add,
                    _ => FlagOp::Remove,
                };
                let (var, flags) = match a.positional.len() {
                    1 => (None, self.pos_list(&a, 0, "flag list")?),
                    2 => {
                        let v = self.pos_str(&a, 0, "variable name")?;
                        if !self.has("variables") || !strings::is_identifier(&v.value) {
                            return Err(v.pos.err(format!(
                                "{name}: \"{}\" is not a valid variable name",
                                v.value
                            )));
                        }
                        (
                            Some(v.value.to_ascii_lowercase()),
                            self.pos_list(&a, 1, "flag list")?,
                        )
                    }
                    _ => {
                        a.want_positional(1, "[variable] flag-list")?;
                        unreachable!()
                    }
                };
                Cmd::Flags {
                    op,
                    var,
                    flags: self.values(&flags)?,
                }
            }
            "set" => {
                a.want_positional(2, "a name and a value")?;
                let n = self.pos_str(&a, 0, "variable name")?;
                if !strings::is_identifier(&n.value) {
                    return Err(n
                        .pos
                        .err(format!("set: \"{}\" is not a valid variable name", n.value)));
                }
                if n.value.len() > self.limits.max_variable_name_len {
                    return Err(n.pos.err("set: variable name too long"));
                }
                let v = self.pos_str(&a, 1, "value")?;
                let mut mods = Vec::new();
                for (t, m) in [
                    ("lower", Modifier::Lower),
                    ("upper", Modifier::Upper),
                    ("lowerfirst", Modifier::LowerFirst),
                    ("upperfirst", Modifier::UpperFirst),
                    ("quotewildcard", Modifier::QuoteWildcard),
                    ("quoteregex", Modifier::QuoteRegex),
                    ("length", Modifier::Length),
                ] {
                    if a.flag(t).is_some() {
                        if let Some(o) = mods
                            .iter()
                            .find(|o: &&Modifier| o.precedence() == m.precedence())
                        {
                            return Err(c.pos.err(format!(
                                "set: modifiers {o:?} and {m:?} have the same precedence and cannot be combined"
                            ).to_lowercase()));
                        }
                        mods.push(m);
                    }
                }
                mods.sort_by_key(|m| std::cmp::Reverse(m.precedence()));
                Cmd::Set {
                    name: n.value.to_ascii_lowercase(),
                    mods,
                    value: self.value(&v)?,
                }
            }
            "reject" | "ereject" => {
                a.want_positional(1, "a reason")?;
                let r = self.pos_str(&a, 0, "reason")?;
                Cmd::Reject {
                    reason: self.value(&r)?,
                    ereject: name == "ereject",
                }
            }
            "vacation" => self.vacation(&mut a)?,
            _ => return Err(c.pos.err(format!("unknown command \"{name}\""))),
        };
        Ok(cmd)
    }

    pub(super) fn vacation(&self, a: &mut Args) -> Result<Cmd, CompileError> {
        a.exclusive(&["days", "seconds"])?;
        a.want_positional(1, "a reason")?;
        let reason = self.pos_str(a, 0, "reason")?;
        let period_secs = match (a.num("days"), a.num("seconds")) {
            (Some(d), _) => Some(d.saturating_mul(86400)),
            (_, Some(s)) => Some(s),
            _ => None,
        };
        let from = a.str("from");
        if let Some(f) = &from
            && !self.has("variables")
            && !valid_address(&mailbox_of(&f.value))
        {
            return Err(f.pos.err(format!(
                "vacation: :from \"{}\" is not a valid address",
                f.value
            )));
        }
        let subject = a.str("subject").map(|l| self.value(&l)).transpose()?;
        let handle = a.str("handle").map(|l| self.value(&l)).transpose()?;
        let addresses = a
            .list("addresses")
            .map(|l| self.values(&l))
            .transpose()?
            .unwrap_or_default();
        let mime = a.flag("mime").is_some();
        Ok(Cmd::Vacation(Box::new(VacationCmd {
            period_secs,
            subject,
            from: from.map(|l| self.value(&l)).transpose()?,
            addresses,
            mime,
            handle,
            reason: self.value(&reason)?,
        })))
    }
}
