//! Conformance suite: the example scripts of the RFCs the interpreter implements, each run on a
//! message and envelope chosen to exercise it, with the expected action list (or the expected
//! compile error). Each case cites its RFC and section. Scripts are copied from the RFC text
//! (and, for RFC 5231/5233, cross-checked against Pigeonhole's rfc.svtest transcriptions);
//! comments inside scripts are kept where they explain the expectation.

mod common;

#[path = "rfc_examples/regex_draft.rs"]
mod regex_draft;
#[path = "rfc_examples/rfc3894_copy.rs"]
mod rfc3894_copy;
#[path = "rfc_examples/rfc5173_body.rs"]
mod rfc5173_body;
#[path = "rfc_examples/rfc5228_base.rs"]
mod rfc5228_base;
#[path = "rfc_examples/rfc5229_variables.rs"]
mod rfc5229_variables;
#[path = "rfc_examples/rfc5230_vacation.rs"]
mod rfc5230_vacation;
#[path = "rfc_examples/rfc5231_relational.rs"]
mod rfc5231_relational;
#[path = "rfc_examples/rfc5232_imap4flags.rs"]
mod rfc5232_imap4flags;
#[path = "rfc_examples/rfc5233_subaddress.rs"]
mod rfc5233_subaddress;
#[path = "rfc_examples/rfc5260_date_index.rs"]
mod rfc5260_date_index;
#[path = "rfc_examples/rfc5429_reject.rs"]
mod rfc5429_reject;
#[path = "rfc_examples/rfc5490_mailbox.rs"]
mod rfc5490_mailbox;
#[path = "rfc_examples/rfc7352_duplicate.rs"]
mod rfc7352_duplicate;
