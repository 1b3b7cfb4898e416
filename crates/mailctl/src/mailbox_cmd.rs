//! `mailctl mailbox status|messages`: what the store holds for a user, read through the same
//! index the services use (opening a mailbox syncs it with the Maildir, and rebuilds a missing
//! or corrupt index).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::MailboxAction;

pub(crate) fn run(config: &Path, action: MailboxAction) -> anyhow::Result<ExitCode> {
    let cfg = crate::config_cmd::load(config)?;
    let store = mailstack_smtp::service::open_store(&cfg)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let address = match &action {
            MailboxAction::Status { address } | MailboxAction::Messages { address, .. } => address,
        };
        let Some((local, domain)) = mailstack_directory::split_address(address) else {
            bail!("{address:?} is not an address (local@domain)");
        };
        let user = store.user(domain, local)?;
        if !user.maildir_path().exists() {
            bail!("{address} has no mailbox in {}", store.root().display());
        }
        match action {
            MailboxAction::Status { .. } => {
                println!("mailbox\tmessages\tuidvalidity\tuidnext\thighestmodseq");
                for info in user.list_mailboxes().await? {
                    let mb = user
                        .open(&info.name)
                        .await
                        .with_context(|| format!("opening {}", info.name))?;
                    let n = mb.messages().await?.len();
                    println!(
                        "{}\t{n}\t{}\t{}\t{}",
                        info.name,
                        mb.uidvalidity(),
                        mb.uidnext(),
                        mb.highest_modseq()
                    );
                }
            }
            MailboxAction::Messages { folder, .. } => {
                let mb = user.open(&folder).await?;
                println!("uid\tflags\tsize\tfile");
                for m in mb.messages().await? {
                    let mut flags: Vec<String> =
                        m.flags.iter().map(|f| f.imap_name().to_string()).collect();
                    flags.extend(m.keywords.iter().cloned());
                    println!(
                        "{}\t{}\t{}\t{}",
                        m.uid,
                        flags.join(" "),
                        m.size,
                        m.path.display()
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
