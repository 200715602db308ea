//! Tests of the front's wire formats against published vectors and burn-remote's encoding.

use super::*;

#[test]
fn sha1_and_base64_match_published_vectors() {
    let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(hex(sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    // Two blocks of padding.
    let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assert_eq!(hex(sha1(long)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    // RFC 6455 §1.3's example.
    assert_eq!(
        accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

fn request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: abc==\r\n{extra}\r\n"
    )
}

#[test]
fn only_a_websocket_upgrade_of_the_session_route_is_accepted() {
    assert_eq!(
        parse_upgrade(request("/session", "").as_bytes()),
        Ok("abc==".to_string())
    );
    let refused = |head: &str| parse_upgrade(head.as_bytes()).unwrap_err();
    assert_eq!(refused(&request("/data", "")).status, "404 Not Found");
    assert_eq!(
        refused("POST /session HTTP/1.1\r\n\r\n").status,
        "405 Method Not Allowed"
    );
    assert_eq!(
        refused("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        "404 Not Found"
    );
    assert_eq!(
        refused("GET /session HTTP/1.1\r\nHost: x\r\n\r\n").status,
        "400 Bad Request"
    );
    assert_eq!(refused("\u{1}\u{2}garbage").status, "400 Bad Request");
    let no_key = request("/session", "").replace("Sec-WebSocket-Key: abc==\r\n", "");
    assert!(refused(&no_key).reason.contains("Sec-WebSocket-Key"));
    let old = request("/session", "").replace("Version: 13", "Version: 8");
    assert!(refused(&old).reason.contains("version 13"));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
}

/// A masked client frame (all-zero mask, so the payload reads as is).
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = server_frame(b0 & 0x0F, payload);
    frame[0] = b0;
    frame[1] |= 0x80;
    let at = frame.len() - payload.len();
    frame.splice(at..at, [0, 0, 0, 0]);
    frame
}

#[test]
fn the_scanner_follows_frames_split_anywhere_and_refuses_what_rfc_6455_forbids() {
    let mut stream = client_frame(0x82, &[7; 300]); // 16-bit length
    stream.extend(client_frame(0x89, b"hi")); // ping
    stream.extend(client_frame(0x01, b"part")); // fragmented text...
    stream.extend(client_frame(0x8A, b"")); // ...a pong between fragments...
    stream.extend(client_frame(0x80, b"end")); // ...and its last fragment
    for split in [1, 2, 3, 7, 64, stream.len()] {
        let mut scanner = FrameScanner::new(true, 1000);
        for chunk in stream.chunks(split) {
            scanner.feed(chunk).unwrap();
        }
        assert!(scanner.at_boundary(), "split {split}");
    }
    let refusal = |bytes: &[u8], limit: u64| FrameScanner::new(true, limit).feed(bytes).unwrap_err();
    assert!(refusal(&client_frame(0x83, b""), 10).contains("reserved opcode"));
    assert!(refusal(&client_frame(0x8B, b""), 10).contains("reserved opcode"));
    assert!(refusal(&client_frame(0xC2, b""), 10).contains("reserved bits"));
    assert!(refusal(&server_frame(OP_BINARY, b"x"), 10).contains("unmasked"));
    assert!(refusal(&client_frame(0x09, b""), 10).contains("control frame"));
    assert!(refusal(&client_frame(0x80, b""), 10).contains("continuation"));
    assert!(refusal(&client_frame(0x82, &[0; 11]), 10).contains("limit is 10 bytes"));
    // A declared gigabyte is refused from its header alone.
    let huge = [0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4];
    assert!(refusal(&huge, 1 << 20).contains("1.0 GiB"));
    let top_bit = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert!(refusal(&top_bit, u64::MAX).contains("top bit"));
    // Fragments count towards one message.
    let mut two = client_frame(0x02, &[0; 6]);
    two.extend(client_frame(0x80, &[0; 6]));
    assert!(refusal(&two, 10).contains("message"));
    // Server frames are unmasked.
    let mut down = FrameScanner::new(false, u64::MAX);
    down.feed(&server_frame(OP_BINARY, &[1; 70_000])[..100]).unwrap();
    assert!(!down.at_boundary());
    assert!(
        down.feed(&client_frame(0x82, b"")).is_ok(),
        "payload bytes are not headers"
    );
}

#[test]
fn the_init_decoder_reads_burn_remotes_encoding_and_nothing_else() {
    // vec![RemoteMessage::Init(SessionInit { version: 2, session_id: SessionId { id }, device_index: 0, authorization })]
    let encode = |id: &[u8], token: &[u8]| {
        let mut b = vec![0x91, 0x81, 0xA4];
        b.extend_from_slice(b"Init");
        b.extend([0x94, 0x02, 0x91]);
        b.extend_from_slice(id);
        b.extend([0x00, 0xC4, token.len() as u8]);
        b.extend_from_slice(token);
        b
    };
    let bytes = encode(&[0xCF, 1, 2, 3, 4, 5, 6, 7, 8], b"secret");
    let init = parse_init(&bytes).unwrap();
    assert_eq!(
        (init.version, init.device_index, init.credential),
        (2, 0, &b"secret"[..])
    );
    assert_eq!(parse_init(&encode(&[0x05], b"")).unwrap().credential, b"");
    for cut in 0..bytes.len() {
        assert!(parse_init(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(parse_init(&trailing).is_err());
    assert!(parse_init(b"\x91\x81\xA5Close\x91\x05").is_err());
    assert!(parse_init(&[0xDD, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    assert!(token_matches(b"secret", b"secret"));
    assert!(!token_matches(b"secreT", b"secret"));
    assert!(!token_matches(b"secret-and-more", b"secret"));
    assert!(!token_matches(b"", b"secret"));
    assert!(!token_matches(b"secre", b"secret"));
}

#[test]
fn server_frames_carry_their_length_and_the_refusal_is_burn_remotes() {
    assert_eq!(server_frame(OP_PING, b""), vec![0x89, 0]);
    let mid = server_frame(OP_BINARY, &[0; 300]);
    assert_eq!(&mid[..4], &[0x82, 126, 1, 44]);
    let close = close_frame(CLOSE_TOO_BIG, "too big");
    assert_eq!(&close[..4], &[0x88, 9, 0x03, 0xF1]);
    let reply = unauthorized_reply();
    let header = parse_frame_header(&reply).unwrap().unwrap();
    assert_eq!(header.len as usize, reply.len() - 2);
    assert_eq!(&reply[2..5], &[0x92, 0x81, 0xAB]);
}
