//! Evaluation of tests: header/address/envelope extraction, body parts, dates, and the match
//! types over the extracted values (setting match variables on success).

use super::*;

impl Runner<'_, '_> {
    pub(super) fn test(&mut self, t: &Test) -> Result<bool, RuntimeError> {
        self.step(1)?;
        Ok(match t {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t)?,
            Test::AllOf(ts) => {
                for t in ts {
                    if !self.test(t)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(ts) => {
                for t in ts {
                    if self.test(t)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Address {
                m,
                part,
                headers,
                index,
            } => {
                let mut values = Vec::new();
                for h in self.expand_all(headers) {
                    for raw in select(self.msg.raw_values(&h).collect(), *index) {
                        for a in message::parse_addresses(raw) {
                            if let Some(p) = self.addr_part(&a, *part) {
                                values.push(p);
                            }
                        }
                    }
                }
                self.matches(m, &values)?
            }
            Test::Envelope { m, part, fields } => {
                let mut values = Vec::new();
                for f in self.expand_all(fields) {
                    let v = match f.to_ascii_lowercase().as_str() {
                        "from" => Some(self.envelope.from.clone()),
                        "to" => Some(self.envelope.to.clone()),
                        "auth" => self.envelope.auth.clone(),
                        _ => None,
                    };
                    let Some(v) = v else { continue };
                    if v.is_empty() {
                        // RFC 5228 §5.4: the null reverse-path matches as "" for any part
                        values.push(String::new());
                    } else if let Some(p) = self.addr_part(&v, *part) {
                        values.push(p);
                    }
                }
                self.matches(m, &values)?
            }
            Test::Header { m, headers, index } => {
                let mut values = Vec::new();
                for h in self.expand_all(headers) {
                    for raw in select(self.msg.raw_values(&h).collect(), *index) {
                        values.push(message::decode_unstructured(raw));
                    }
                }
                self.matches(m, &values)?
            }
            Test::Exists(names) => {
                let names = self.expand_all(names);
                names
                    .iter()
                    .all(|n| self.msg.raw_values(n).next().is_some())
            }
            Test::Size { over, limit } => {
                let size = self.msg.size() as u64;
                if *over { size > *limit } else { size < *limit }
            }
            Test::Str { m, sources } => {
                let mut values = self.expand_all(sources);
                if matches!(m.kind, MatchKind::Count(_)) {
                    // RFC 5229 §5: :count counts the non-empty strings
                    values.retain(|v| !v.is_empty());
                }
                self.matches(m, &values)?
            }
            Test::HasFlag { m, vars } => {
                let mut all = String::new();
                if vars.is_empty() {
                    all = self.s.internal_flags.clone();
                } else {
                    for v in vars {
                        if let Some(x) = self.s.vars.get(v) {
                            all.push(' ');
                            all.push_str(x);
                        }
                    }
                }
                let values = split_flags(&all);
                self.matches(m, &values)?
            }
            Test::Body { m, transform } => {
                let values = self.body_values(transform);
                self.step(values.iter().map(|v| v.len() as u64 / 64).sum())?;
                self.matches(m, &values)?
            }
            Test::Date {
                m,
                zone,
                header,
                part,
                index,
            } => {
                let h = self.expand(header);
                let part = self.expand(part);
                let mut values = Vec::new();
                let raws: Vec<&[u8]> = self.msg.raw_values(&h).collect();
                for raw in select(raws, *index) {
                    let text = String::from_utf8_lossy(raw);
                    let text = if h.eq_ignore_ascii_case("received") {
                        text.rsplit(';').next().unwrap_or("").to_string()
                    } else {
                        text.to_string()
                    };
                    let Some(d) = date::parse_rfc5322(&text) else {
                        continue;
                    };
                    let Some(d) = self.in_zone(d, zone) else {
                        continue;
                    };
                    if let Some(v) = d.part(&part) {
                        values.push(v);
                    }
                }
                self.matches(m, &values)?
            }
            Test::CurrentDate { m, zone, part } => {
                let part = self.expand(part);
                let now = self.env.now();
                let values: Vec<String> = self
                    .in_zone(now, zone)
                    .and_then(|d| d.part(&part))
                    .into_iter()
                    .collect();
                self.matches(m, &values)?
            }
            Test::MailboxExists(names) => {
                let names = self.expand_all(names);
                names.iter().all(|n| self.env.mailbox_exists(n))
            }
            Test::Duplicate {
                handle,
                source,
                seconds,
                last,
            } => {
                let id = match source {
                    DupSource::MessageId => self.msg.message_id(),
                    DupSource::Header(h) => {
                        let h = self.expand(h);
                        self.msg.header_texts(&h).into_iter().next()
                    }
                    DupSource::UniqueId(v) => Some(self.expand(v)),
                };
                let Some(id) = id.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) else {
                    return Ok(false);
                };
                let handle = handle.as_ref().map(|h| self.expand(h)).unwrap_or_default();
                let kind = match source {
                    DupSource::UniqueId(_) => "uniqueid".to_string(),
                    DupSource::MessageId => "header:message-id".to_string(),
                    DupSource::Header(h) => {
                        format!("header:{}", self.expand(h).to_ascii_lowercase())
                    }
                };
                let key = format!("{handle}\u{1f}{kind}\u{1f}{id}");
                let mut secs = seconds.unwrap_or(self.limits.duplicate_default_period_secs);
                if self.limits.duplicate_max_period_secs > 0 {
                    secs = secs.min(self.limits.duplicate_max_period_secs);
                }
                let period = Duration::from_secs(secs);
                if *last {
                    self.env.duplicate_check_last(&key, period)
                } else {
                    self.env.duplicate_check(&key, period)
                }
            }
        })
    }

    fn in_zone(&self, d: DateTime, zone: &Zone) -> Option<DateTime> {
        match zone {
            Zone::Original => Some(d),
            Zone::Local => Some(d.with_offset(self.env.now().offset_minutes)),
            Zone::Fixed(z) => date::parse_zone(&self.expand(z)).map(|o| d.with_offset(o)),
        }
    }

    fn addr_part(&self, a: &str, part: AddrPart) -> Option<String> {
        let (local, domain) = match a.rsplit_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (a, None),
        };
        let sep = self.limits.subaddress_separator.as_str();
        match part {
            AddrPart::All => Some(a.to_string()),
            AddrPart::Local => Some(local.to_string()),
            AddrPart::Domain => domain.map(str::to_string),
            AddrPart::User => Some(
                local
                    .split_once(sep)
                    .filter(|_| !sep.is_empty())
                    .map(|(u, _)| u)
                    .unwrap_or(local)
                    .to_string(),
            ),
            AddrPart::Detail => local
                .split_once(sep)
                .filter(|_| !sep.is_empty())
                .map(|(_, d)| d.to_string()),
        }
    }

    fn body_values(&self, t: &BodyTransform) -> Vec<String> {
        if let BodyTransform::Raw = t {
            let off = self.msg.body_offset().min(self.msg.raw().len());
            return vec![String::from_utf8_lossy(&self.msg.raw()[off..]).into_owned()];
        }
        let types: Vec<String> = match t {
            BodyTransform::Content(v) => self.expand_all(v),
            _ => vec!["text".to_string()],
        };
        crate::body::parts(self.msg, &types)
    }

    /// Applies a match type to the values; sets match variables on success.
    fn matches(&mut self, m: &Matcher, values: &[String]) -> Result<bool, RuntimeError> {
        let keys = self.expand_all(&m.keys);
        self.step((values.len() * keys.len().max(1)) as u64)?;
        match m.kind {
            MatchKind::Count(rel) => {
                let n = values.len().to_string();
                return Ok(keys
                    .iter()
                    .any(|k| matching::rel_holds(rel, matching::order(m.cmp, &n, k))));
            }
            MatchKind::Value(rel) => {
                return Ok(values.iter().any(|v| {
                    keys.iter()
                        .any(|k| matching::rel_holds(rel, matching::order(m.cmp, v, k)))
                }));
            }
            _ => {}
        }
        for v in values {
            for (ki, k) in keys.iter().enumerate() {
                match m.kind {
                    MatchKind::Is => {
                        if matching::equal(m.cmp, v, k) {
                            return Ok(true);
                        }
                    }
                    MatchKind::Contains => {
                        if matching::contains(m.cmp, v, k) {
                            return Ok(true);
                        }
                    }
                    MatchKind::Matches => {
                        let mut steps = 0;
                        let caps = matching::glob(m.cmp, v, k, &mut steps);
                        self.step(steps)?;
                        if let Some(caps) = caps {
                            self.set_match_vars(caps);
                            return Ok(true);
                        }
                    }
                    MatchKind::Regex => {
                        let compiled;
                        let re = match m.regex.get(ki).and_then(Option::as_ref) {
                            Some(r) => r,
                            None => match crate::validate::compile_regex(k, m.cmp) {
                                Ok(r) => {
                                    compiled = r;
                                    &compiled
                                }
                                Err(e) => {
                                    self.warnings
                                        .push(format!("bad regular expression {k:?}: {e}"));
                                    continue;
                                }
                            },
                        };
                        self.step(v.len() as u64 / 16 + 1)?;
                        if let Some(c) = re.captures(v) {
                            let caps = c
                                .iter()
                                .map(|g| g.map(|g| g.as_str().to_string()).unwrap_or_default())
                                .collect();
                            self.set_match_vars(caps);
                            return Ok(true);
                        }
                    }
                    MatchKind::Count(_) | MatchKind::Value(_) => unreachable!(),
                }
            }
        }
        Ok(false)
    }

    fn set_match_vars(&mut self, mut caps: Vec<String>) {
        caps.truncate(self.limits.max_match_vars);
        let max = self.limits.max_variable_len;
        self.s.match_vars = caps.into_iter().map(|c| truncate(c, max)).collect();
    }
}

/// `:index N [:last]` picks one field occurrence (RFC 5260 §6); none when out of range.
fn select(fields: Vec<&[u8]>, index: Option<Index>) -> Vec<&[u8]> {
    let Some(ix) = index else { return fields };
    let n = usize::try_from(ix.n).unwrap_or(usize::MAX);
    let pick = if ix.last {
        fields.len().checked_sub(n)
    } else {
        n.checked_sub(1)
    };
    pick.and_then(|i| fields.get(i).copied())
        .into_iter()
        .collect()
}
