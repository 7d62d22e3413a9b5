//! Live subscriptions: Server-Sent Events of the packets stored at an address from now on.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use qis::packet::{Address, Packet};
use tokio::sync::broadcast::error::RecvError;

use super::{AddressPath, Segments};
use crate::error::ApiError;
use crate::network::Net;
use crate::server::AppState;

/// Counts an open stream in the metrics while it lives.
struct Subscribed(AppState);

impl Drop for Subscribed {
    fn drop(&mut self) {
        self.0
            .shared()
            .metrics
            .subscribers
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Server-Sent Events: one `packet` event (data: the packet's JSON, id: its id) per packet
/// stored at the address of this network through this node from now on; `lagged` (data: how many were missed)
/// when the client reads too slowly. The stream ends when the node shuts down.
#[utoipa::path(get, path = "/v1/addresses/{address}/events", tag = "packets",
    params(("address" = String, Path, description = "Address, hex"),
           ("access_token" = Option<String>, Query, description = "The bearer token, for EventSource clients that cannot set headers")),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"),
              (status = 422, description = "`invalid_field`: a malformed address", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    net: Net,
    Segments(AddressPath { address }): Segments<AddressPath>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let address: Address = super::path_address(&address)?;
    let rx = net.activity.subscribe();
    let shutdown = state.shared().shutdown.clone();
    state
        .shared()
        .metrics
        .subscribers
        .fetch_add(1, Ordering::Relaxed);
    let guard = Subscribed(state);
    let stream = futures::stream::unfold(
        (rx, shutdown, guard),
        move |(mut rx, shutdown, guard)| async move {
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    next = rx.recv() => next,
                };
                let event = match next {
                    Ok(p) if *p.address() == address => packet_event(&p),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => {
                        Event::default().event("lagged").data(n.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, shutdown, guard)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn packet_event(p: &Arc<Packet>) -> Event {
    Event::default()
        .event("packet")
        .id(p.id().to_string())
        .data(p.to_json())
}
