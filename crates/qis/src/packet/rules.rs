//! The wire rules every packet satisfies.

use super::{
    MAX_CREATED_MS, MAX_DERIVED_FROM, MAX_ENCODED_BYTES, MAX_LABEL_BYTES, MAX_NAME_BYTES,
    MAX_RESULT_ENTRIES, MAX_SUMMARY_CHARS, MAX_TAGS, MAX_TTL_SECS, Packet, PacketId, ResultValue,
};
use crate::error::{Error, Result};

impl Packet {
    /// Checks every wire rule; the one place they are checked.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        // Most packets are far below the budget: a cheap upper bound of the size settles them;
        // only a packet whose bound exceeds the budget is encoded (into a counter) to measure it.
        if self.encoded_len_bound() <= MAX_ENCODED_BYTES {
            return Ok(());
        }
        self.check_size(self.encoded_len() - self.signature_len())
    }

    /// Every rule but the size budget.
    pub(super) fn validate_fields(&self) -> Result<()> {
        PacketId::from_uuid(self.id.0)?;
        check_name("agent", &self.agent)?;
        check_name("domain", &self.domain)?;
        if !self.confidence.is_finite() || !(0.0..=1.0).contains(&self.confidence) {
            return Err(Error::invalid(
                "confidence",
                format!(
                    "must be a finite number from 0 to 1, got {}",
                    self.confidence
                ),
            ));
        }
        if self.result.len() > MAX_RESULT_ENTRIES {
            return Err(Error::invalid(
                "result",
                format!(
                    "at most {MAX_RESULT_ENTRIES} entries, got {}",
                    self.result.len()
                ),
            ));
        }
        for (key, value) in &self.result {
            check_label("result key", key)?;
            if let ResultValue::Number(x) = value
                && !x.is_finite()
            {
                return Err(Error::invalid(
                    format!("result.{key}"),
                    format!("numbers must be finite, got {x}"),
                ));
            }
            if let ResultValue::Text(t) = value
                && let Some(c) = control_char(t, false)
            {
                return Err(control_error(&format!("result.{key}"), c));
            }
        }
        // A character is at least one byte: only a long summary needs counting.
        let chars = if self.summary.len() <= MAX_SUMMARY_CHARS {
            0
        } else {
            self.summary.chars().count()
        };
        if chars > MAX_SUMMARY_CHARS {
            return Err(Error::invalid(
                "summary",
                format!("at most {MAX_SUMMARY_CHARS} characters, got {chars}"),
            ));
        }
        check_text("summary", &self.summary, true)?;
        if self.tags.len() > MAX_TAGS {
            return Err(Error::invalid(
                "tags",
                format!("at most {MAX_TAGS} tags, got {}", self.tags.len()),
            ));
        }
        for tag in &self.tags {
            check_label("tags", tag)?;
        }
        if let Some(problem) = &self.problem {
            if problem.trim().is_empty() {
                return Err(Error::invalid(
                    "problem",
                    "must not be blank when given (leave it out instead)",
                ));
            }
            check_text("problem", problem, true)?;
        }
        if self.created == 0 || self.created > MAX_CREATED_MS {
            return Err(Error::invalid(
                "created",
                format!(
                    "must be milliseconds since 1970 between 1 and {MAX_CREATED_MS}, got {}",
                    self.created
                ),
            ));
        }
        if let Some(ttl) = self.ttl
            && (ttl == 0 || ttl > MAX_TTL_SECS)
        {
            return Err(Error::invalid(
                "ttl",
                format!("must be 1 to {MAX_TTL_SECS} seconds, got {ttl}"),
            ));
        }
        if self.derived_from.len() > MAX_DERIVED_FROM {
            return Err(Error::invalid(
                "derived_from",
                format!(
                    "at most {MAX_DERIVED_FROM} ids, got {}",
                    self.derived_from.len()
                ),
            ));
        }
        for (i, source) in self.derived_from.iter().enumerate() {
            if source.0.get_version_num() != 7 {
                return Err(Error::invalid("derived_from", "ids must be UUID v7"));
            }
            if *source == self.id {
                return Err(Error::invalid(
                    "derived_from",
                    "a packet cannot be derived from itself",
                ));
            }
            if self.derived_from[..i].contains(source) {
                return Err(Error::invalid(
                    "derived_from",
                    format!("id {source} is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

fn check_name(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_NAME_BYTES} bytes, got {}", value.len()),
        ));
    }
    check_text(field, value, false)
}

fn check_label(field: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_LABEL_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "each must be 1 to {MAX_LABEL_BYTES} bytes, got {} ({value:?})",
                value.len()
            ),
        ));
    }
    check_text(field, value, false)
}

/// Control characters are refused (newlines and tabs only where `multiline`).
fn check_text(field: &str, value: &str, multiline: bool) -> Result<()> {
    match control_char(value, multiline) {
        None => Ok(()),
        Some(c) => Err(control_error(field, c)),
    }
}

/// The first control character in `value` (newlines and tabs allowed where `multiline`).
fn control_char(value: &str, multiline: bool) -> Option<char> {
    // Printable ASCII, by far the common case, is one range test per byte.
    if value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return None;
    }
    value
        .chars()
        .find(|&c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
}

fn control_error(field: &str, c: char) -> Error {
    Error::invalid(
        field,
        format!(
            "must not contain control characters, found U+{:04X}",
            c as u32
        ),
    )
}
