//! Signed packets: an agent signs what it deposits with its ed25519 key, and anyone holding the
//! agent's public key can check that a packet is that agent's and unchanged — whichever router,
//! node or relay it passed through.
//!
//! What is signed is [`Packet::signed_message`]: a domain-separation prefix, then the packet's
//! MessagePack encoding without its signature. Every field is covered, the id and the address
//! included, so a signature cannot be moved to another packet, agent or address. ed25519
//! signatures are deterministic: signing the same packet twice gives the same bytes, so a retried
//! deposit of a signed packet is still idempotent.
//!
//! Keys travel as hex: a secret key is 64 hex digits (its 32-byte seed), a public key 64 hex
//! digits, a signature 128. A key ring (who may sign as whom) is TOML, one line per agent:
//!
//! ```toml
//! site_01 = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
//! ```
//!
//! ```
//! use qis::packet::{Address, Packet};
//! use qis::sign::{AgentKey, KeyRing};
//!
//! let key = AgentKey::generate()?;
//! let packet = Packet::builder("site_01", "demo", Address::from_hex("1dd96c30c27fe860")?).build()?;
//! let signed = key.sign(packet);
//!
//! let mut ring = KeyRing::new();
//! ring.insert("site_01", key.public())?;
//! ring.verify(&signed)?;
//! # Ok::<(), qis::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

pub use crate::error::SignatureFault;
use crate::error::{Error, Result};
use crate::packet::Packet;
pub use crate::packet::{SIGNATURE_BYTES, Signature};

/// An agent's secret signing key. Its `Debug` form shows the public key only.
#[derive(Clone)]
pub struct AgentKey(SigningKey);

impl AgentKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::Config(format!("no randomness to make a key from: {e}")))?;
        Ok(AgentKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from its 32-byte seed as 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|e| {
            Error::Config(format!(
                "a secret key is 64 hex digits (an ed25519 seed): {e}"
            ))
        })?;
        Ok(AgentKey(SigningKey::from_bytes(&seed)))
    }

    /// Reads a key written by [`AgentKey::to_hex`] (as `qis keygen` writes it).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read the key file {}: {e}", path.display()))
        })?;
        Self::from_hex(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// The seed as 64 hex digits: keep it secret.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key that checks this key's signatures.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// `packet`, signed (replacing any signature it had).
    pub fn sign(&self, packet: Packet) -> Packet {
        let signature = self.0.sign(&packet.signed_message());
        packet.with_signature(Signature::new(signature.to_bytes()))
    }
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentKey(public {})", self.public())
    }
}

/// An agent's public key: checks the signatures of its packets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// A public key from 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut raw = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut raw)
            .map_err(|e| Error::Config(format!("an ed25519 public key is 64 hex digits: {e}")))?;
        VerifyingKey::from_bytes(&raw)
            .map(PublicKey)
            .map_err(|_| Error::Config("not an ed25519 public key (not a curve point)".into()))
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Whether `signature` is this key's signature of `packet`.
    pub fn verifies(&self, packet: &Packet, signature: &Signature) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(signature.as_bytes());
        // `verify_strict` refuses weak keys and malleable signatures.
        self.0
            .verify_strict(&packet.signed_message(), &signature)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl FromStr for PublicKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::from_hex(s)
    }
}

/// Who may sign as whom: agent ids and their public keys.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: HashMap<String, PublicKey>,
}

impl KeyRing {
    /// No keys yet.
    pub fn new() -> Self {
        KeyRing::default()
    }

    /// Trusts `key` for `agent`. Errors: an agent listed twice.
    pub fn insert(&mut self, agent: impl Into<String>, key: PublicKey) -> Result<()> {
        let agent = agent.into();
        if self.keys.contains_key(&agent) {
            return Err(Error::Config(format!(
                "agent {agent:?} is listed twice in the key ring"
            )));
        }
        self.keys.insert(agent, key);
        Ok(())
    }

    /// Reads a key ring: TOML, `agent = "public key hex"` per line.
    pub fn from_toml(text: &str) -> Result<Self> {
        let table: HashMap<String, String> = toml::from_str(text).map_err(|e| {
            Error::Config(format!(
                "a key ring holds `agent = \"<64 hex digits>\"` lines: {e}"
            ))
        })?;
        let mut ring = KeyRing::new();
        for (agent, key) in table {
            let key = PublicKey::from_hex(&key)
                .map_err(|e| Error::Config(format!("the key of agent {agent:?}: {e}")))?;
            ring.insert(agent, key)?;
        }
        Ok(ring)
    }

    /// Reads the key ring at `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!("cannot read the key ring {}: {e}", path.display()))
        })?;
        Self::from_toml(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }

    /// The public key of `agent`.
    pub fn get(&self, agent: &str) -> Option<&PublicKey> {
        self.keys.get(agent)
    }

    /// How many agents have a key.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no agent has a key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks that `packet` carries its agent's signature.
    pub fn check(&self, packet: &Packet) -> std::result::Result<(), SignatureFault> {
        let signature = packet.signature().ok_or(SignatureFault::Missing)?;
        let key = self
            .get(packet.agent())
            .ok_or(SignatureFault::UnknownSigner)?;
        if key.verifies(packet, signature) {
            Ok(())
        } else {
            Err(SignatureFault::Invalid)
        }
    }

    /// Like [`KeyRing::check`], as an [`Error::Signature`].
    pub fn verify(&self, packet: &Packet) -> Result<()> {
        self.check(packet).map_err(|fault| Error::Signature {
            id: packet.id().to_string(),
            agent: packet.agent().to_owned(),
            fault,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Address, Outcome};

    fn packet(agent: &str) -> Packet {
        Packet::builder(
            agent,
            "demo",
            Address::from_hex("1dd96c30c27fe860").unwrap(),
        )
        .outcome(Outcome::Resolved)
        .confidence(0.8)
        .result("protocol", "B")
        .build()
        .unwrap()
    }

    fn ring(agent: &str, key: &AgentKey) -> KeyRing {
        let mut ring = KeyRing::new();
        ring.insert(agent, key.public()).unwrap();
        ring
    }

    #[test]
    fn a_signed_packet_verifies_and_survives_both_encodings() {
        let key = AgentKey::generate().unwrap();
        let signed = key.sign(packet("a1"));
        let ring = ring("a1", &key);
        assert_eq!(ring.check(&signed), Ok(()));
        let from_msgpack = Packet::from_msgpack(&signed.to_msgpack()).unwrap();
        let from_own = Packet::from_own_msgpack(&signed.to_msgpack()).unwrap();
        let from_json = Packet::from_json(&signed.to_json()).unwrap();
        for decoded in [from_msgpack, from_own, from_json] {
            assert_eq!(decoded, signed);
            assert_eq!(ring.check(&decoded), Ok(()));
        }
        // Deterministic: signing again gives the same bytes.
        assert_eq!(key.sign(signed.clone()), signed);
    }

    #[test]
    fn every_fault_is_told_apart() {
        let key = AgentKey::generate().unwrap();
        let other = AgentKey::generate().unwrap();
        let ring = ring("a1", &key);
        assert_eq!(ring.check(&packet("a1")), Err(SignatureFault::Missing));
        assert_eq!(
            ring.check(&key.sign(packet("a2"))),
            Err(SignatureFault::UnknownSigner)
        );
        // Signed by someone else's key under a1's name.
        assert_eq!(
            ring.check(&other.sign(packet("a1"))),
            Err(SignatureFault::Invalid)
        );
        // A signature moved onto another packet of the same agent.
        let stolen = *key.sign(packet("a1")).signature().unwrap();
        let moved = packet("a1").with_signature(stolen);
        assert_eq!(ring.check(&moved), Err(SignatureFault::Invalid));
    }

    #[test]
    fn altering_any_signed_byte_breaks_the_signature() {
        let key = AgentKey::generate().unwrap();
        let ring = ring("a1", &key);
        let signed = key.sign(packet("a1"));
        // Change the result value in the JSON form and decode it again.
        let tampered = Packet::from_json(&signed.to_json().replace("\"B\"", "\"C\"")).unwrap();
        assert_ne!(tampered, signed);
        assert_eq!(ring.check(&tampered), Err(SignatureFault::Invalid));
    }

    #[test]
    fn the_signature_rides_outside_the_size_budget() {
        let key = AgentKey::generate().unwrap();
        let unsigned = packet("a1");
        let signed = key.sign(unsigned.clone());
        assert_eq!(
            signed.encoded_len() - unsigned.encoded_len(),
            crate::packet::SIGNATURE_WIRE_BYTES
        );
        assert_eq!(signed.to_msgpack().len(), signed.encoded_len());

        // A packet right at the budget stays valid once signed, in every decoder.
        let mut tags = Vec::new();
        let full = loop {
            let next: Vec<String> = tags
                .iter()
                .cloned()
                .chain([format!("{:-<60}", tags.len())])
                .collect();
            let attempt =
                Packet::builder("a1", "demo", Address::from_hex("1dd96c30c27fe860").unwrap())
                    .summary("x".repeat(150))
                    .tags(next.clone())
                    .build();
            match attempt {
                Ok(_) => tags = next,
                Err(_) => {
                    break Packet::builder(
                        "a1",
                        "demo",
                        Address::from_hex("1dd96c30c27fe860").unwrap(),
                    )
                    .summary("x".repeat(150))
                    .tags(tags.clone())
                    .build()
                    .unwrap();
                }
            }
        };
        assert!(
            full.encoded_len() > crate::packet::MAX_ENCODED_BYTES - 64,
            "{}",
            full.encoded_len()
        );
        let signed = key.sign(full);
        assert!(signed.encoded_len() > crate::packet::MAX_ENCODED_BYTES);
        assert_eq!(Packet::from_msgpack(&signed.to_msgpack()).unwrap(), signed);
        assert_eq!(
            Packet::from_own_msgpack(&signed.to_msgpack()).unwrap(),
            signed
        );
        assert_eq!(Packet::from_json(&signed.to_json()).unwrap(), signed);
    }

    #[test]
    fn keys_round_trip_as_hex_and_secrets_stay_out_of_debug() {
        let key = AgentKey::generate().unwrap();
        let again = AgentKey::from_hex(&format!("{}\n", key.to_hex())).unwrap();
        assert_eq!(again.public(), key.public());
        assert_eq!(
            PublicKey::from_hex(&key.public().to_hex()).unwrap(),
            key.public()
        );
        assert!(!format!("{key:?}").contains(&key.to_hex()));
        let text = format!("a1 = \"{}\"\n", key.public());
        assert_eq!(
            KeyRing::from_toml(&text).unwrap().get("a1"),
            Some(&key.public())
        );
        let err = KeyRing::from_toml("a1 = \"zz\"").unwrap_err().to_string();
        assert!(err.contains("a1") && err.contains("64 hex digits"), "{err}");
    }
}
