//! `qis export` and `qis import`: the store as JSON Lines, round trip lossless.
//!
//! One line per packet: `{"packet": {…}, "vector": […]}` (no `vector` when it has none). Import
//! also takes bare packet lines (`{"id": …, "agent": …}`), as other tools may write them.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use qis::packet::Packet;
use qis::router::{Routed, Router, batch_dimension};
use serde::{Deserialize, Serialize};

use crate::config::Global;
use crate::store;

/// One exported line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    packet: Packet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vector: Option<Vec<f32>>,
}

fn bar(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} packets ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write here instead of standard output.
    #[arg(long, short)]
    out: Option<PathBuf>,
}

pub async fn export(global: &Global, args: ExportArgs) -> Result<()> {
    let file = global.file()?;
    let opened = store::open_router(&global.router_spec(&file)?).await?;
    let Some(router) = opened.embedded.clone() else {
        bail!(
            "export reads the embedded store (--router file:DIR or --data DIR); {} cannot list its packets",
            opened.label
        );
    };
    let total = router.stats().await?.packets;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let progress = bar(Some(total), "exporting");
    let mut cursor = 0;
    let mut written = 0u64;
    loop {
        let (page, next) = router.scan(cursor, 1000).await?;
        for routed in page {
            let line = Line {
                packet: (*routed.packet).clone(),
                vector: routed.vector.map(|v| v.to_vec()),
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        progress.set_position(written);
        match next {
            Some(c) => cursor = c,
            None => break,
        }
    }
    out.flush()?;
    progress.finish_and_clear();
    eprintln!("exported {written} packets");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A JSON Lines file (`-` reads standard input).
    file: PathBuf,
    /// Packets per transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,
    /// Print `acknowledged N` after each batch is durable (for scripts that must know).
    #[arg(long)]
    ack: bool,
}

/// Parses line `number` (1-based) into a routed packet.
fn parse_line(number: usize, text: &str) -> Result<Routed> {
    let value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("line {number}: not JSON"))?;
    let routed = if value.get("packet").is_some() {
        let line: Line = serde_json::from_value(value).with_context(|| format!("line {number}"))?;
        match line.vector {
            Some(v) => {
                Routed::with_vector(line.packet, &v).with_context(|| format!("line {number}"))?
            }
            None => Routed::new(line.packet),
        }
    } else {
        Routed::new(Packet::from_json(text).with_context(|| format!("line {number}"))?)
    };
    Ok(routed)
}

/// The lines of `path` (read fully first for standard input, which cannot be read twice).
fn open_lines(path: &PathBuf, stdin_copy: &Option<String>) -> Result<Box<dyn BufRead>> {
    Ok(match stdin_copy {
        Some(text) => Box::new(std::io::Cursor::new(text.clone().into_bytes())),
        None => Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
    })
}

pub async fn import(global: &Global, args: ImportArgs) -> Result<()> {
    let file = global.file()?;
    let router = store::open_router(&global.router_spec(&file)?)
        .await?
        .router;
    let stdin_copy = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        Some(text)
    } else {
        None
    };

    // Pass 1: every line must be a valid packet, with vectors of the store's dimension, before
    // anything is imported.
    let mut dimension = router.stats().await?.dimension;
    let mut count = 0u64;
    for (i, line) in open_lines(&args.file, &stdin_copy)?.lines().enumerate() {
        let line = line.with_context(|| format!("line {}: cannot read", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let routed = parse_line(i + 1, &line)?;
        dimension = match batch_dimension(std::slice::from_ref(&routed), dimension) {
            Ok(d) => d,
            Err(qis::Error::Dimension { expected, got }) => bail!(
                "line {}: the vector has {got} dimensions but the store holds {expected}-dimensional vectors; nothing was imported",
                i + 1
            ),
            Err(e) => bail!("line {}: {e}; nothing was imported", i + 1),
        };
        count += 1;
    }

    // Pass 2: deposit in batches; each batch is durable when acknowledged.
    let progress = bar(Some(count), "importing");
    let (mut stored, mut seen) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(args.batch as usize);
    let mut lines = open_lines(&args.file, &stdin_copy)?.lines().enumerate();
    loop {
        let next = lines.next();
        if let Some((i, line)) = &next {
            let line = line
                .as_ref()
                .map_err(|e| anyhow::anyhow!("line {}: {e}", i + 1))?;
            if !line.trim().is_empty() {
                batch.push(parse_line(i + 1, line)?);
            }
        }
        if batch.len() == args.batch as usize || (next.is_none() && !batch.is_empty()) {
            let receipts = router
                .deposit(&batch)
                .await
                .with_context(|| format!("after {seen} packets were imported"))?;
            stored += receipts.iter().filter(|r| r.stored).count() as u64;
            seen += batch.len() as u64;
            batch.clear();
            progress.set_position(seen);
            if args.ack {
                println!("acknowledged {seen}");
                std::io::stdout().flush()?;
            }
        }
        if next.is_none() {
            break;
        }
    }
    progress.finish_and_clear();
    eprintln!(
        "imported {seen} packets ({stored} new, {} already stored)",
        seen - stored
    );
    Ok(())
}
