//! Browsing: which addresses a router holds, how many live packets each, and how recently one
//! was created there ([`Router::addresses`](super::Router::addresses)).
//!
//! Pages are ordered by activity, the newest packet's `created` first (ties by address, the
//! higher first), and continued with an opaque cursor: a page starts strictly after the
//! cursor's position, so a listing never repeats an address while the store is unchanged.
//! Expired packets do not count, and an address with none live is not listed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::packet::{Address, Millis};

/// Most addresses one page holds.
pub const MAX_ADDRESS_PAGE: usize = 1_000;
/// Addresses per page when none is asked.
pub const DEFAULT_ADDRESS_PAGE: usize = 50;

/// Which page of addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressQuery {
    /// At most this many (1 to [`MAX_ADDRESS_PAGE`]).
    #[serde(default = "default_page")]
    pub limit: usize,
    /// Continue after this cursor (a page's `next`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Only addresses whose newest packet is in this domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

fn default_page() -> usize {
    DEFAULT_ADDRESS_PAGE
}

impl Default for AddressQuery {
    fn default() -> Self {
        AddressQuery {
            limit: DEFAULT_ADDRESS_PAGE,
            cursor: None,
            domain: None,
        }
    }
}

/// One address of a page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressInfo {
    /// The address (hex).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub address: Address,
    /// Live packets there.
    pub packets: u64,
    /// When the newest was created (ms since the epoch).
    pub last: Millis,
    /// The newest packet's domain.
    pub domain: String,
}

/// A page of addresses, most recently active first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddressPage {
    /// The addresses.
    pub addresses: Vec<AddressInfo>,
    /// The cursor of the next page (`None`: this was the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Where a page stops: the activity and the address of its last entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The newest packet's `created`.
    pub last: Millis,
    /// The address.
    pub address: Address,
}

impl Position {
    /// The position of `info`.
    pub fn of(info: &AddressInfo) -> Position {
        Position {
            last: info.last,
            address: info.address,
        }
    }

    /// The cursor text: `<last>-<address hex>`.
    pub fn cursor(&self) -> String {
        format!("{}-{}", self.last, self.address.to_hex())
    }
}

/// Every address of `live` (each live packet's address, `created` and domain, in any order)
/// with its count, newest `created` and that packet's domain: for routers that read their
/// packets' metadata to list addresses.
pub fn tally<D: Into<String>>(
    live: impl IntoIterator<Item = (Address, Millis, D)>,
) -> Vec<AddressInfo> {
    let mut by: std::collections::HashMap<Address, AddressInfo> = std::collections::HashMap::new();
    for (address, created, domain) in live {
        let entry = by.entry(address).or_insert_with(|| AddressInfo {
            address,
            packets: 0,
            last: 0,
            domain: String::new(),
        });
        entry.packets += 1;
        if created >= entry.last {
            entry.last = created;
            entry.domain = domain.into();
        }
    }
    by.into_values().collect()
}

impl AddressQuery {
    /// Checks the limit and decodes the cursor. Errors: [`Error::Invalid`] naming `limit` or
    /// `cursor`.
    pub fn validate(&self) -> Result<Option<Position>> {
        if self.limit == 0 || self.limit > MAX_ADDRESS_PAGE {
            return Err(Error::invalid(
                "limit",
                format!("must be 1 to {MAX_ADDRESS_PAGE}, got {}", self.limit),
            ));
        }
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let bad = || {
            Error::invalid(
                "cursor",
                "not a cursor of this listing (use a page's `next`)",
            )
        };
        let (last, hex) = cursor.split_once('-').ok_or_else(bad)?;
        Ok(Some(Position {
            last: last.parse().map_err(|_| bad())?,
            address: Address::from_hex(hex).map_err(|_| bad())?,
        }))
    }

    /// The page of `all` (every address with its activity, in any order) this query asks for:
    /// sorted, filtered, cut after the cursor and to the limit. For routers that gather the
    /// whole list themselves.
    pub fn page(&self, mut all: Vec<AddressInfo>) -> Result<AddressPage> {
        let after = self.validate()?;
        all.retain(|a| self.domain.as_deref().is_none_or(|d| a.domain == d));
        all.sort_by(|a, b| Position::of(b).cmp(&Position::of(a)));
        let mut page: Vec<AddressInfo> = all
            .into_iter()
            .filter(|a| after.is_none_or(|p| Position::of(a) < p))
            .take(self.limit + 1)
            .collect();
        let next = (page.len() > self.limit).then(|| {
            page.truncate(self.limit);
            Position::of(page.last().expect("a full page")).cursor()
        });
        Ok(AddressPage {
            addresses: page,
            next,
        })
    }
}
