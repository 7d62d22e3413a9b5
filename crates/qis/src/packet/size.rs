//! The size budget: the exact MessagePack size, a cheap upper bound of it, and the check.

use std::io;

use serde::Serialize;

use super::{MAX_ENCODED_BYTES, Packet, ResultValue};
use crate::error::{Error, Result};

impl Packet {
    /// The size of [`Packet::to_msgpack`] in bytes, without allocating.
    pub fn encoded_len(&self) -> usize {
        let mut counter = CountingWriter(0);
        // Writing to a counter cannot fail for this type.
        let _ = rmp_serde::encode::write_named(&mut counter, self);
        counter.0
    }

    /// Encoded size of each field (key and value), largest first; the three largest.
    fn largest_fields(&self) -> Vec<(String, usize)> {
        fn len<T: Serialize + ?Sized>(name: &str, value: &T) -> (String, usize) {
            let mut counter = CountingWriter(0);
            let _ = rmp_serde::encode::write_named(&mut counter, value);
            let mut key = CountingWriter(0);
            let _ = rmp_serde::encode::write_named(&mut key, name);
            (name.to_owned(), counter.0 + key.0)
        }
        let mut sizes = vec![
            len("id", &self.id),
            len("agent", &self.agent),
            len("domain", &self.domain),
            len("address", &self.address),
            len("result", &self.result),
            len("summary", &self.summary),
            len("tags", &self.tags),
            len("problem", &self.problem),
            len("derived_from", &self.derived_from),
        ];
        sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sizes.truncate(3);
        sizes
    }

    /// An upper bound of [`Packet::encoded_len`], by arithmetic: every field name and value at
    /// the widest MessagePack form its type can take (strings and binaries with a 5-byte header,
    /// numbers as 9 bytes).
    pub(super) fn encoded_len_bound(&self) -> usize {
        const STR: usize = 5; // the widest string, binary, array or map header
        const NUM: usize = 9; // the widest number
        let text = |s: &str| STR + s.len();
        // The map header, then the 13 field names (109 bytes with their headers, at most).
        let mut n = STR + 109;
        n +=
            STR + 16 + text(&self.agent) + text(&self.domain) + STR + self.address.as_bytes().len();
        n += text(self.outcome.as_str()) + NUM;
        n += STR;
        for (key, value) in &self.result {
            n += text(key)
                + match value {
                    ResultValue::Number(_) => NUM,
                    ResultValue::Text(t) => text(t),
                    ResultValue::Bool(_) => 1,
                };
        }
        n += text(&self.summary);
        n += STR + self.tags.iter().map(|t| text(t)).sum::<usize>();
        n += self.problem.as_deref().map_or(1, text);
        n += NUM + NUM;
        n += STR + self.derived_from.len() * (STR + 16);
        n
    }

    pub(super) fn check_size(&self, size: usize) -> Result<()> {
        if size > MAX_ENCODED_BYTES {
            return Err(Error::TooLarge {
                size,
                limit: MAX_ENCODED_BYTES,
                largest: self.largest_fields(),
            });
        }
        Ok(())
    }
}

struct CountingWriter(usize);

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Address, MAX_DERIVED_FROM, MAX_RESULT_ENTRIES, MAX_TAGS, PacketId};
    use super::*;

    /// Packets of every shape, from empty to every field at its widest.
    fn shapes() -> Vec<Packet> {
        let wide = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
        let mut out = Vec::new();
        for n in [0usize, 1, 8, 31, 32, 33, 64, 200, 255, 256, 300] {
            let mut p = Packet::builder(
                wide(n.clamp(1, 64), 'a'),
                wide(n.clamp(1, 32), 'é'),
                Address::from_bytes(&[7; 32]).unwrap(),
            )
            .build()
            .expect("a valid base packet");
            p.summary = wide(n.min(200), '√');
            p.problem = (n > 0).then(|| wide(n, 'x'));
            p.ttl = (n > 0).then_some(u64::MAX);
            p.created = u64::MAX;
            p.confidence = 0.123_456_79;
            for i in 0..n.min(MAX_RESULT_ENTRIES) {
                let value = match i % 3 {
                    0 => ResultValue::Number(f64::MAX),
                    1 => ResultValue::Text(wide(n.min(64), '𝄞')),
                    _ => ResultValue::Bool(true),
                };
                p.result
                    .insert(format!("{}{i}", wide(n.min(60), 'k')), value);
            }
            p.tags = (0..n.min(MAX_TAGS))
                .map(|i| format!("{}{i}", wide(n.min(60), 't')))
                .collect();
            p.derived_from = (0..n.min(MAX_DERIVED_FROM))
                .map(|_| PacketId::new())
                .collect();
            out.push(p);
        }
        out
    }

    #[test]
    fn the_size_bound_is_never_below_the_encoded_size() {
        for p in shapes() {
            let (exact, bound) = (p.encoded_len(), p.encoded_len_bound());
            assert_eq!(exact, p.to_msgpack().len());
            assert!(bound >= exact, "bound {bound} < encoded {exact}");
            // The shortcut never accepts what the exact count refuses.
            assert_eq!(
                p.validate().is_ok(),
                p.validate_fields().is_ok() && exact <= MAX_ENCODED_BYTES
            );
        }
    }
}
