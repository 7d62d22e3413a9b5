//! `qis keygen`: make an agent's ed25519 signing key.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use qis::sign::AgentKey;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent the key signs for (only printed in the key-ring line).
    #[arg(long, env = "QIS_AGENT")]
    agent: String,
    /// Where to write the secret key (64 hex digits; readable by its owner only).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let key = AgentKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    // Never overwrite a key: a lost key cannot be recovered, and peers trust the old one.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&args.out) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already exists; keygen never overwrites a key (remove it first if you mean to)",
            args.out.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", args.out.display())),
    };
    writeln!(file, "{}", key.to_hex())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote the secret key of {:?} to {} (keep it private); its line for a key ring (--agent-keys):",
        args.agent,
        args.out.display()
    );
    println!("{} = \"{}\"", toml_key(&args.agent), key.public());
    Ok(())
}

/// `agent` as a TOML key: bare when it can be, quoted otherwise.
fn toml_key(agent: &str) -> String {
    if !agent.is_empty()
        && agent
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        agent.to_owned()
    } else {
        serde_json::to_string(agent).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::toml_key;

    #[test]
    fn key_ring_lines_parse_back_for_any_agent_id() {
        let key = qis::sign::AgentKey::generate().unwrap();
        for agent in ["site_01", "site 07", "a\"b\\c", "café", "x=y"] {
            let line = format!("{} = \"{}\"", toml_key(agent), key.public());
            let ring = qis::sign::KeyRing::from_toml(&line).unwrap();
            assert_eq!(ring.get(agent), Some(&key.public()), "{line}");
        }
    }
}
