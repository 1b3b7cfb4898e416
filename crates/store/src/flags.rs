//! IMAP system flags and their Maildir letters.

/// An IMAP system flag (RFC 3501 §2.3.2), except `\Recent` which is a
/// session property.
///
/// Maildir letters: `D` Draft, `F` Flagged, `R` Replied (Answered),
/// `S` Seen, `T` Trashed (Deleted). Maildir's `P` (passed) is not a system
/// flag: like Dovecot it is the keyword [`FORWARDED_KEYWORD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`, Maildir `S`.
    Seen,
    /// `\Answered`, Maildir `R`.
    Answered,
    /// `\Flagged`, Maildir `F`.
    Flagged,
    /// `\Deleted`, Maildir `T`.
    Deleted,
    /// `\Draft`, Maildir `D`.
    Draft,
}

/// The keyword stored as Maildir letter `P` (passed).
pub const FORWARDED_KEYWORD: &str = "$Forwarded";

impl Flag {
    /// All flags, in Maildir letter order (D F R S T).
    pub const ALL: [Flag; 5] = [
        Flag::Draft,
        Flag::Flagged,
        Flag::Answered,
        Flag::Seen,
        Flag::Deleted,
    ];

    /// The Maildir info letter of this flag.
    pub fn maildir_letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }

    /// The flag for a Maildir info letter (`P` is not a flag, see
    /// [`FORWARDED_KEYWORD`]).
    pub fn from_maildir_letter(c: char) -> Option<Flag> {
        Some(match c {
            'D' => Flag::Draft,
            'F' => Flag::Flagged,
            'R' => Flag::Answered,
            'S' => Flag::Seen,
            'T' => Flag::Deleted,
            _ => return None,
        })
    }

    /// The IMAP spelling (`\Seen`, ...).
    pub fn imap_name(self) -> &'static str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
        }
    }
}

/// Letters of the system flags, sorted, deduplicated (index storage form).
pub(crate) fn flags_to_letters(flags: &[Flag]) -> String {
    let mut v: Vec<char> = flags.iter().map(|f| f.maildir_letter()).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().collect()
}

/// Parse the index storage form back (unknown letters are ignored).
pub(crate) fn letters_to_flags(s: &str) -> Vec<Flag> {
    let mut v: Vec<Flag> = s.chars().filter_map(Flag::from_maildir_letter).collect();
    v.sort_unstable();
    v.dedup();
    v
}
