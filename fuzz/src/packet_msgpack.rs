//! `Packet::from_msgpack` on arbitrary bytes: never a panic; a packet it accepts is within the
//! size budget and encodes back to MessagePack and JSON that decode to the same packet.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(packet) = qis::packet::Packet::from_msgpack(data) {
            let bytes = packet.to_msgpack();
            assert!(
                bytes.len() <= qis::packet::MAX_ENCODED_BYTES,
                "within the budget"
            );
            let again = qis::packet::Packet::from_msgpack(&bytes)
                .expect("a packet's own MessagePack decodes");
            assert_eq!(again, packet, "MessagePack round trip");
            let text = qis::packet::Packet::from_json(&packet.to_json())
                .expect("a packet's own JSON decodes");
            assert_eq!(text, packet, "JSON round trip");
        }
    });
}
