//! The one place a config key is declared: [`config_section!`] generates the section struct,
//! its `Default`, serde support (unknown keys are errors) and the reference documentation that
//! `mailctl config defaults` and docs/config.md are made from. A key is therefore written once,
//! with its doc, type and default side by side (Postfix's `mail_params.h`).

/// One documented key of a section, as printed in the reference.
#[derive(Debug, Clone)]
pub struct KeyDoc {
    /// Key name inside its section.
    pub name: &'static str,
    /// Rust type, as written in the declaration (`ByteSize`, `Vec<String>`, ...).
    pub ty: &'static str,
    /// The default, rendered as a TOML value.
    pub default: String,
    /// The doc comment: meaning, unit, bounds.
    pub doc: String,
}

/// A config section: its TOML table name, its doc, and its keys.
pub trait Section: Default {
    /// The TOML table name (`lmtp_mda`).
    const NAME: &'static str;
    /// The section's doc comment.
    fn doc() -> String;
    /// Every key with type, default and doc, in declaration order.
    fn keys() -> Vec<KeyDoc>;
}

/// Join `#[doc]` lines into one paragraph-preserving string.
pub fn join_doc(lines: &[&str]) -> String {
    let mut out = String::new();
    for l in lines {
        let l = l.strip_prefix(' ').unwrap_or(l);
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(l);
    }
    out
}

/// Render a default value as TOML (`"text"`, `25`, `["a", "b"]`).
pub fn render_default<T: serde::Serialize>(value: &T) -> String {
    match toml::Value::try_from(value) {
        Ok(v) => v.to_string(),
        Err(_) => String::from("(none)"),
    }
}

/// Declare a config section: struct, defaults, serde and reference docs in one place.
///
/// ```
/// use mailstack_config::{Section, config_section};
/// config_section! {
///     /// Section doc.
///     pub struct ExampleConfig("example") {
///         /// Key doc.
///         pub max_recipients: usize = 1000,
///     }
/// }
/// assert_eq!(ExampleConfig::default().max_recipients, 1000);
/// assert_eq!(ExampleConfig::NAME, "example");
/// assert_eq!(ExampleConfig::keys()[0].default, "1000");
/// ```
#[macro_export]
macro_rules! config_section {
    (
        $(#[doc = $sdoc:literal])*
        pub struct $name:ident($table:literal) {
            $(
                $(#[doc = $kdoc:literal])*
                pub $key:ident : $ty:ty = $default:expr
            ),* $(,)?
        }
    ) => {
        $(#[doc = $sdoc])*
        #[derive(Debug, Clone, PartialEq, $crate::declare_support::serde::Deserialize, $crate::declare_support::serde::Serialize)]
        #[serde(crate = "mailstack_config::declare_support::serde", deny_unknown_fields, default)]
        pub struct $name {
            $(
                $(#[doc = $kdoc])*
                pub $key: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $key: $default, )* }
            }
        }

        impl $crate::Section for $name {
            const NAME: &'static str = $table;
            fn doc() -> String {
                $crate::declare_support::join_doc(&[$($sdoc),*])
            }
            fn keys() -> Vec<$crate::KeyDoc> {
                let d = Self::default();
                vec![
                    $(
                        $crate::KeyDoc {
                            name: stringify!($key),
                            ty: stringify!($ty),
                            default: $crate::declare_support::render_default(&d.$key),
                            doc: $crate::declare_support::join_doc(&[$($kdoc),*]),
                        },
                    )*
                ]
            }
        }
    };
}
