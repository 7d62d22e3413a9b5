//! The stream of a network: its name, the subjects under its prefix, and the metadata that marks
//! it as a qis network of this layout.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use super::{NatsConfig, NatsRouter, ROUTER};
use crate::error::{Error, Result};
use crate::packet::{Address, PacketId};

/// Stream metadata marking a stream as a qis network, and its layout version.
const SCHEMA_KEY: &str = "qis.schema";
const SCHEMA: &str = "1";
pub(super) const LSH_TABLES_KEY: &str = "qis.lsh_tables";
pub(super) const LSH_BITS_KEY: &str = "qis.lsh_bits";

impl NatsRouter {
    pub(super) fn address_subject(&self, address: &Address) -> String {
        format!("{}.a.{}", self.prefix, address.to_hex())
    }

    pub(super) fn id_subject(&self, id: PacketId) -> String {
        format!("{}.id.{}", self.prefix, id.as_uuid().simple())
    }

    pub(super) fn meta_subject(&self) -> String {
        format!("{}.meta", self.prefix)
    }

    pub(super) fn bucket_subject(&self, table: usize, code: u32) -> String {
        format!("{}.v.{table}.{code:x}", self.prefix)
    }
}

pub(super) fn stream_name(network: &str) -> String {
    format!("QIS_{network}")
}

pub(super) fn parse_meta(payload: &[u8]) -> Result<usize> {
    #[derive(serde::Deserialize)]
    struct Meta {
        dimension: usize,
    }
    serde_json::from_slice::<Meta>(payload)
        .map(|m| m.dimension)
        .map_err(|e| {
            Error::refused(
                ROUTER,
                format!("the network's meta record is not qis's: {e}"),
            )
        })
}

/// Opens the stream `name`, creating it if needed; refuses one that is not a qis network.
pub(super) async fn open_stream(
    js: &jetstream::Context,
    name: &str,
    prefix: &str,
    config: &NatsConfig,
) -> Result<stream::Stream> {
    let subjects = vec![format!("{prefix}.>")];
    let check = |s: stream::Stream| -> Result<stream::Stream> {
        let c = &s.cached_info().config;
        let schema = c.metadata.get(SCHEMA_KEY).map(String::as_str);
        if schema != Some(SCHEMA) || c.subjects != subjects {
            return Err(Error::refused(
                ROUTER,
                format!(
                    "stream {name} exists but is not a qis network of layout {SCHEMA} (subjects {:?}, {SCHEMA_KEY} {:?}); it was left unchanged",
                    c.subjects, schema
                ),
            ));
        }
        if !c.allow_direct || !c.allow_message_ttl {
            return Err(Error::refused(
                ROUTER,
                format!(
                    "stream {name} lacks direct gets or per-message TTLs; it was left unchanged"
                ),
            ));
        }
        Ok(s)
    };
    match js.get_stream(name).await {
        Ok(s) => return check(s),
        Err(e)
            if matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(_)
            ) =>
        {
            // Not found (or another JetStream error, which creating will report).
        }
        Err(e) => {
            return Err(Error::unavailable(
                ROUTER,
                format!("looking up stream {name}"),
                e,
            ));
        }
    }
    let metadata = HashMap::from([
        (SCHEMA_KEY.to_owned(), SCHEMA.to_owned()),
        (LSH_TABLES_KEY.to_owned(), config.lsh_tables.to_string()),
        (LSH_BITS_KEY.to_owned(), config.lsh_bits.to_string()),
    ]);
    let stream_config = stream::Config {
        name: name.to_owned(),
        description: Some(format!("qis network {}", config.network)),
        subjects: subjects.clone(),
        max_messages_per_subject: config.max_per_subject,
        max_age: config.max_age.unwrap_or(Duration::ZERO),
        num_replicas: config.replicas,
        storage: if config.memory_storage {
            stream::StorageType::Memory
        } else {
            stream::StorageType::File
        },
        discard: stream::DiscardPolicy::Old,
        duplicate_window: Duration::from_secs(120),
        allow_direct: true,
        allow_message_ttl: true,
        metadata,
        ..Default::default()
    };
    match js.create_stream(stream_config).await {
        Ok(s) => check(s),
        // Someone else created it meanwhile (perhaps with other settings): take theirs, if it is
        // a qis network.
        Err(create) => match js.get_stream(name).await {
            Ok(s) => check(s),
            Err(_) => Err(Error::unavailable(
                ROUTER,
                format!("creating stream {name}"),
                create,
            )),
        },
    }
}
