//! Validation of tests (RFC 5228 §5 and the extensions' tests).

use super::*;

impl Validator<'_> {
    pub(super) fn test(&self, t: &TestNode) -> Result<Test, CompileError> {
        let name = t.name.to_ascii_lowercase();
        self.check_known(&name, t.pos, true)?;
        match name.as_str() {
            "allof" | "anyof" => {
                if let Some(a) = t.args.first() {
                    return Err(a.pos().err(format!("{name} takes no arguments")));
                }
                if !t.test_list || t.tests.is_empty() {
                    return Err(t.pos.err(format!("{name} expects a test list ( … )")));
                }
                let ts = t
                    .tests
                    .iter()
                    .map(|x| self.test(x))
                    .collect::<Result<_, _>>()?;
                return Ok(if name == "allof" {
                    Test::AllOf(ts)
                } else {
                    Test::AnyOf(ts)
                });
            }
            "not" => {
                if let Some(a) = t.args.first() {
                    return Err(a.pos().err("not takes no arguments"));
                }
                if t.tests.len() != 1 || t.test_list {
                    return Err(t.pos.err("not expects exactly one test"));
                }
                return Ok(Test::Not(Box::new(self.test(&t.tests[0])?)));
            }
            _ => {}
        }
        if !t.tests.is_empty() {
            return Err(t.tests[0].pos.err(format!("{name} takes no nested test")));
        }
        let mut a = self.split(&name, t.pos, &t.args)?;
        let test = match name.as_str() {
            "true" | "false" => {
                a.want_positional(0, "no arguments")?;
                if name == "true" {
                    Test::True
                } else {
                    Test::False
                }
            }
            "address" | "envelope" | "header" => {
                a.want_positional(2, "a header list and a key list")?;
                let hdrs = self.pos_list(&a, 0, "header list")?;
                let keys = self.pos_list(&a, 1, "key list")?;
                let m = self.matcher(&mut a, keys)?;
                match name.as_str() {
                    "address" => Test::Address {
                        part: self.addr_part(&mut a)?,
                        index: self.index(&mut a)?,
                        headers: self.header_names(&hdrs)?,
                        m,
                    },
                    "header" => Test::Header {
                        index: self.index(&mut a)?,
                        headers: self.header_names(&hdrs)?,
                        m,
                    },
                    _ => {
                        for f in &hdrs {
                            let known = ["from", "to", "auth"];
                            if !f.value.contains("${")
                                && !known.contains(&f.value.to_ascii_lowercase().as_str())
                            {
                                return Err(f.pos.err(format!(
                                    "envelope: unsupported envelope part \"{}\" (from, to, auth)",
                                    f.value
                                )));
                            }
                        }
                        Test::Envelope {
                            part: self.addr_part(&mut a)?,
                            fields: self.values(&hdrs)?,
                            m,
                        }
                    }
                }
            }
            "exists" => {
                a.want_positional(1, "a header list")?;
                let h = self.pos_list(&a, 0, "header list")?;
                Test::Exists(self.header_names(&h)?)
            }
            "size" => {
                a.exclusive(&["over", "under"])?;
                let over = a.flag("over").is_some();
                let under = a.flag("under").is_some();
                if !over && !under {
                    return Err(t.pos.err("size needs :over or :under"));
                }
                a.want_positional(1, "a number")?;
                let Arg::Number(limit, _) = a.positional[0] else {
                    return Err(a.positional[0].pos().err("size: limit must be a number"));
                };
                Test::Size { over, limit }
            }
            "string" => {
                a.want_positional(2, "a source list and a key list")?;
                let src = self.pos_list(&a, 0, "source list")?;
                let keys = self.pos_list(&a, 1, "key list")?;
                Test::Str {
                    m: self.matcher(&mut a, keys)?,
                    sources: self.values(&src)?,
                }
            }
            "hasflag" => {
                let (vars, keys) = match a.positional.len() {
                    1 => (Vec::new(), self.pos_list(&a, 0, "flag list")?),
                    2 => {
                        let vs = self.pos_list(&a, 0, "variable list")?;
                        for v in &vs {
                            if !self.has("variables") || !strings::is_identifier(&v.value) {
                                return Err(v.pos.err(format!(
                                    "hasflag: \"{}\" is not a valid variable name",
                                    v.value
                                )));
                            }
                        }
                        (
                            vs.iter().map(|v| v.value.to_ascii_lowercase()).collect(),
                            self.pos_list(&a, 1, "flag list")?,
                        )
                    }
                    _ => {
                        a.want_positional(1, "[variable-list] flag-list")?;
                        unreachable!()
                    }
                };
                Test::HasFlag {
                    m: self.matcher(&mut a, keys)?,
                    vars,
                }
            }
            "body" => {
                a.exclusive(&["raw", "content", "text"])?;
                a.want_positional(1, "a key list")?;
                let keys = self.pos_list(&a, 0, "key list")?;
                let transform = if a.flag("raw").is_some() {
                    BodyTransform::Raw
                } else if let Some(l) = a.list("content") {
                    BodyTransform::Content(self.values(&l)?)
                } else {
                    a.flag("text");
                    BodyTransform::Text
                };
                Test::Body {
                    m: self.matcher(&mut a, keys)?,
                    transform,
                }
            }
            "date" | "currentdate" => {
                a.exclusive(&["zone", "originalzone"])?;
                let is_date = name == "date";
                let n = if is_date { 3 } else { 2 };
                a.want_positional(n, "its arguments")?;
                let mut i = 0;
                let header = if is_date {
                    i = 1;
                    let h = self.pos_str(&a, 0, "header name")?;
                    Some(self.header_names(std::slice::from_ref(&h))?.remove(0))
                } else {
                    None
                };
                let part = self.pos_str(&a, i, "date part")?;
                if !part.value.contains("${") && !crate::date::is_date_part(&part.value) {
                    return Err(part
                        .pos
                        .err(format!("unknown date part \"{}\"", part.value)));
                }
                let keys = self.pos_list(&a, i + 1, "key list")?;
                let zone = if a.flag("originalzone").is_some() {
                    Zone::Original
                } else if let Some(z) = a.str("zone") {
                    if !z.value.contains("${") && crate::date::parse_zone(&z.value).is_none() {
                        return Err(z.pos.err(format!("invalid time zone \"{}\"", z.value)));
                    }
                    Zone::Fixed(self.value(&z)?)
                } else {
                    Zone::Local
                };
                let m = self.matcher(&mut a, keys)?;
                let part = self.value(&part)?;
                match header {
                    Some(header) => Test::Date {
                        index: self.index(&mut a)?,
                        m,
                        zone,
                        header,
                        part,
                    },
                    None => Test::CurrentDate { m, zone, part },
                }
            }
            "mailboxexists" => {
                a.want_positional(1, "a mailbox list")?;
                let l = self.pos_list(&a, 0, "mailbox list")?;
                Test::MailboxExists(self.values(&l)?)
            }
            "duplicate" => {
                a.exclusive(&["header", "uniqueid"])?;
                a.want_positional(0, "no positional arguments")?;
                let source = if let Some(h) = a.str("header") {
                    DupSource::Header(self.header_names(std::slice::from_ref(&h))?.remove(0))
                } else if let Some(u) = a.str("uniqueid") {
                    DupSource::UniqueId(self.value(&u)?)
                } else {
                    DupSource::MessageId
                };
                Test::Duplicate {
                    handle: a.str("handle").map(|l| self.value(&l)).transpose()?,
                    source,
                    seconds: a.num("seconds"),
                    last: a.flag("last").is_some(),
                }
            }
            _ => return Err(t.pos.err(format!("unknown test \"{name}\""))),
        };
        Ok(test)
    }
}
