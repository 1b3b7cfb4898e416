//! `mailctl config check|defaults|reference`.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::ConfigAction;

pub(crate) fn run(path: &Path, action: ConfigAction) -> anyhow::Result<ExitCode> {
    match action {
        ConfigAction::Check => match mailstack_config::load(path) {
            Ok(_) => {
                println!("{}: ok", path.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!("{}: {} problem(s)", path.display(), e.problems.len());
                Ok(ExitCode::FAILURE)
            }
        },
        ConfigAction::Defaults => {
            print!("{}", mailstack_config::reference_toml());
            Ok(ExitCode::SUCCESS)
        }
        ConfigAction::Reference => {
            print!("{}", mailstack_config::reference_markdown());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Load the config or fail with every problem listed.
pub(crate) fn load(path: &Path) -> anyhow::Result<mailstack_config::Config> {
    mailstack_config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}
