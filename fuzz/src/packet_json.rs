//! `Packet::from_json` on arbitrary text: never a panic; a packet it accepts encodes back to
//! JSON and MessagePack that decode to the same packet.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(packet) = qis::packet::Packet::from_json(text) {
            let again = qis::packet::Packet::from_json(&packet.to_json())
                .expect("a packet's own JSON decodes");
            assert_eq!(again, packet, "JSON round trip");
            let binary = qis::packet::Packet::from_msgpack(&packet.to_msgpack())
                .expect("a packet's own MessagePack decodes");
            assert_eq!(binary, packet, "MessagePack round trip");
        }
    });
}
