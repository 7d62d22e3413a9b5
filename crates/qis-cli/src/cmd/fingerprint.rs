//! `qis fingerprint`: the address of a problem.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::ValueEnum;

use crate::config::{FileConfig, Global};
use qis::fingerprint::{Context, Fingerprint, FingerprintSpec, Scheme as SpecScheme};

/// Fingerprint schemes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Scheme {
    /// Seed-compatible: SHA-256 of the domain and the sorted context keys (values ignored).
    Keys,
    /// An expert routing schema (TOML, `--schema`) decides which fields route and how.
    Fields,
}

/// How a problem maps to its address.
#[derive(Debug, Clone, clap::Args)]
pub struct FingerprintArgs {
    /// The fingerprint scheme [default: keys, or `scheme` in qis.toml].
    #[arg(long, value_enum)]
    pub scheme: Option<Scheme>,
    /// The routing schema (TOML) for `--scheme fields`.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Name of an environment variable holding the network secret: makes keyed (HMAC) addresses.
    #[arg(long, value_name = "VAR")]
    pub secret_env: Option<String>,
}

impl FingerprintArgs {
    /// The fingerprint spec these flags (over `[fingerprint]` in qis.toml) describe.
    pub fn spec(&self, file: &FileConfig) -> Result<FingerprintSpec> {
        let base = &file.fingerprint;
        if self.scheme.is_none() && self.schema.is_none() && self.secret_env.is_none() {
            return Ok(base.clone());
        }
        let (file_scheme, file_schema) = match &base.scheme {
            SpecScheme::Fields { schema } => ("fields", Some(schema.clone())),
            _ => ("keys", None),
        };
        let scheme = match self.scheme {
            Some(Scheme::Keys) => "keys",
            Some(Scheme::Fields) => "fields",
            None => file_scheme,
        };
        let schema = match (&self.schema, scheme) {
            (Some(s), _) => Some(s.clone()),
            (None, "fields") => file_schema,
            (None, _) => None,
        };
        let secret_env = self.secret_env.clone().or(base.secret_env.clone());
        FingerprintSpec::from_parts(Some(scheme), schema, secret_env).context(
            "the fingerprint settings (--scheme, --schema, --secret-env, or [fingerprint] in qis.toml)",
        )
    }

    /// The fingerprint these flags describe.
    pub fn build(&self, file: &FileConfig) -> Result<Arc<dyn Fingerprint>> {
        Ok(self.spec(file)?.open()?)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    fingerprint: FingerprintArgs,
    /// The problem's domain (e.g. `clinical_trial`).
    #[arg(long)]
    domain: String,
    /// The problem's context as a JSON object, e.g. '{"condition": "T2D"}'; `-` reads stdin.
    #[arg(long)]
    context: String,
}

/// Parses `--context` (a JSON object, or `-` for stdin).
pub fn parse_context(text: &str) -> Result<Context> {
    let text = if text == "-" {
        std::io::read_to_string(std::io::stdin()).context("--context -: cannot read stdin")?
    } else {
        text.to_owned()
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).context("--context: not valid JSON")?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => bail!("--context: must be a JSON object, got {}", kind(&other)),
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

pub fn run(global: &Global, args: Args) -> Result<()> {
    let file = global.file()?;
    let context = parse_context(&args.context)?;
    let fingerprint = args.fingerprint.build(&file)?;
    let address = fingerprint.address(&args.domain, &context)?;
    println!("{address}");
    Ok(())
}
