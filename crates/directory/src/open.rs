//! Opening the backend the `[directory]` section names: the one place every service and
//! `mailctl` turn configuration into a [`Directory`].

use std::path::PathBuf;
use std::sync::Arc;

use mailstack_config::DirectoryConfig;

use crate::static_file::StaticDirectory;
use crate::{Directory, DirectoryError};

/// Open the directory backend `[directory]` names. An LDAP directory whose servers are all down
/// still opens: it answers "unavailable" (4xx) until one is reachable.
pub async fn open(d: &DirectoryConfig) -> Result<Arc<dyn Directory>, DirectoryError> {
    match d.backend.as_str() {
        "static" => Ok(Arc::new(StaticDirectory::open(
            PathBuf::from(&d.users_file),
            d.subaddress_delimiter.clone(),
        )?)),
        "ldap" => {
            use crate::ldap::{AuthMethod, LdapDirectory, LdapOptions, Preset};
            let bind_password = if d.ldap_bind_password_file.is_empty() {
                std::env::var("MAILSTACK_LDAP_BIND_PASSWORD").unwrap_or_default()
            } else {
                std::fs::read_to_string(&d.ldap_bind_password_file)
                    .map_err(|e| {
                        DirectoryError::Setting(format!(
                            "directory.ldap_bind_password_file: cannot read {}: {e}",
                            d.ldap_bind_password_file
                        ))
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            };
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
            let opts = LdapOptions {
                urls: d.ldap_urls.clone(),
                bind_dn: d.ldap_bind_dn.clone(),
                bind_password,
                base_dn: d.ldap_base_dn.clone(),
                preset: if d.ldap_preset == "active-directory" {
                    Preset::ActiveDirectory
                } else {
                    Preset::OpenLdap
                },
                user_filter: non_empty(&d.ldap_user_filter),
                group_filter: non_empty(&d.ldap_group_filter),
                alias_attributes: (!d.ldap_alias_attributes.is_empty())
                    .then(|| d.ldap_alias_attributes.clone()),
                auth: if d.ldap_auth == "compare" {
                    AuthMethod::Compare
                } else {
                    AuthMethod::Bind
                },
                starttls: d.ldap_starttls,
                ca_file: non_empty(&d.ldap_ca_file).map(PathBuf::from),
                timeout: d.ldap_timeout.get(),
                pool_size: d.ldap_pool_size,
                cache_ttl: d.ldap_cache_ttl.get(),
                negative_cache_ttl: d.ldap_negative_cache_ttl.get(),
                local_domains: d.local_domains.clone(),
                subaddress_delimiters: d.subaddress_delimiter.clone(),
            };
            Ok(Arc::new(LdapDirectory::connect(opts).await?))
        }
        other => Err(DirectoryError::Setting(format!(
            "unknown directory backend {other:?}"
        ))),
    }
}
