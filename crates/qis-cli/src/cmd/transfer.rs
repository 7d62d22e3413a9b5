//! `qis export` and `qis import`: the store as JSON Lines, round trip lossless.
//!
//! One line per packet: `{"packet": {…}, "vector": […]}` (no `vector` when it has none). Import
//! also takes bare packet lines (`{"id": …, "agent": …}`), as other tools may write them.

use std::io::{BufRead, BufReader, BufWriter, Write};
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

/// The longest line `qis import` reads: a packet is at most 512 bytes encoded, and a vector of
/// 4,096 dimensions about 80 KB of JSON.
const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads line `number` into `buf` (without its line ending); `false` at the end of the input.
/// A line longer than [`MAX_LINE_BYTES`] is refused once that many bytes are read, so an input
/// that never ends a line (`/dev/zero`) costs no more memory than that.
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, number: usize) -> Result<bool> {
    buf.clear();
    // The line, its `\r\n`, and one byte more: enough to tell a line over the cap.
    let n = std::io::Read::take(&mut *reader, MAX_LINE_BYTES as u64 + 3)
        .read_until(b'\n', buf)
        .with_context(|| format!("line {number}: cannot read"))?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.len() > MAX_LINE_BYTES {
        bail!(
            "line {number}: longer than {MAX_LINE_BYTES} bytes, which no packet line is; nothing was imported"
        );
    }
    Ok(true)
}

pub async fn import(global: &Global, args: ImportArgs) -> Result<()> {
    let file = global.file()?;
    let router = store::open_router(&global.router_spec(&file)?)
        .await?
        .router;
    let from_stdin = args.file.as_os_str() == "-";
    let open = |path: &std::path::Path| -> Result<Box<dyn BufRead>> {
        Ok(Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )))
    };

    // Pass 1: every line must be a packet the router would take (its rules, its time, its
    // vector's dimension, one content per id) before anything is imported. Standard input,
    // which cannot be read twice, is copied to a temporary file as it is read.
    let spool = if from_stdin {
        Some(tempfile::NamedTempFile::new().context("cannot create a temporary file")?)
    } else {
        None
    };
    let mut input: Box<dyn BufRead> = if from_stdin {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        open(&args.file)?
    };
    let mut copy = match &spool {
        Some(f) => Some(BufWriter::new(
            f.as_file()
                .try_clone()
                .context("cannot write a temporary file")?,
        )),
        None => None,
    };
    let mut dimension = router.stats().await?.dimension;
    let now = qis::packet::now_ms();
    let mut ids: std::collections::HashMap<qis::packet::PacketId, (u128, usize)> =
        std::collections::HashMap::new();
    let (mut count, mut buf) = (0u64, Vec::new());
    let mut number = 0;
    while next_line(&mut input, &mut buf, number + 1)? {
        number += 1;
        if let Some(copy) = copy.as_mut() {
            copy.write_all(&buf)?;
            copy.write_all(b"\n")?;
        }
        let line = std::str::from_utf8(&buf)
            .with_context(|| format!("line {number}: not UTF-8 text; nothing was imported"))?;
        if line.trim().is_empty() {
            continue;
        }
        let routed =
            parse_line(number, line).map_err(|e| anyhow::anyhow!("{e:#}; nothing was imported"))?;
        dimension = match batch_dimension(std::slice::from_ref(&routed), dimension) {
            Ok(d) => d,
            Err(qis::Error::Dimension { expected, got }) => bail!(
                "line {number}: the vector has {got} dimensions but the store holds {expected}-dimensional vectors; nothing was imported"
            ),
            Err(e) => bail!("line {number}: {e}; nothing was imported"),
        };
        if let Err(e) = routed.admit(now) {
            bail!("line {number}: {e}; nothing was imported");
        }
        let hash = routed.digest();
        match ids.entry(routed.packet.id()) {
            std::collections::hash_map::Entry::Occupied(first) if first.get().0 != hash => bail!(
                "line {number}: packet {} is on line {} with other content (an id names one packet); nothing was imported",
                routed.packet.id(),
                first.get().1
            ),
            std::collections::hash_map::Entry::Occupied(_) => {}
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((hash, number));
            }
        }
        count += 1;
    }
    if let Some(copy) = copy {
        copy.into_inner()
            .map_err(|e| e.into_error())
            .context("cannot write the temporary copy of standard input")?;
    }
    drop(ids);

    // Pass 2: deposit in batches; each batch is durable when acknowledged.
    let progress = bar(Some(count), "importing");
    let (mut stored, mut seen, mut expired) = (0u64, 0u64, 0u64);
    let mut batch = Vec::with_capacity(args.batch as usize);
    let mut input = match &spool {
        Some(f) => open(f.path())?,
        None => open(&args.file)?,
    };
    let mut number = 0;
    loop {
        let more = next_line(&mut input, &mut buf, number + 1)?;
        if more {
            number += 1;
            let line = std::str::from_utf8(&buf).with_context(|| format!("line {number}"))?;
            if !line.trim().is_empty() {
                let routed = parse_line(number, line)?;
                // A TTL that ran out while the import ran: the store would refuse it, and
                // would purge it anyway. Left out and counted, not a reason to stop half way.
                if routed
                    .packet
                    .expires_at()
                    .is_some_and(|e| e <= qis::packet::now_ms())
                {
                    expired += 1;
                } else {
                    batch.push(routed);
                }
            }
        }
        if batch.len() == args.batch as usize || (!more && !batch.is_empty()) {
            let receipts = router.deposit(&batch).await.with_context(|| {
                format!(
                    "the batch ending at line {number}; the {seen} packets before it were imported"
                )
            })?;
            stored += receipts.iter().filter(|r| r.stored).count() as u64;
            seen += batch.len() as u64;
            batch.clear();
            progress.set_position(seen);
            if args.ack {
                println!("acknowledged {seen}");
                std::io::stdout().flush()?;
            }
        }
        if !more {
            break;
        }
    }
    progress.finish_and_clear();
    eprintln!(
        "imported {seen} packets ({stored} new, {} already stored{})",
        seen - stored,
        if expired > 0 {
            format!("; {expired} left out: their TTL ran out while the import ran")
        } else {
            String::new()
        }
    );
    Ok(())
}
