//! The bytes the authenticating front ([`super::front`]) reads and writes: the HTTP upgrade
//! request and its answer (RFC 6455 §4), WebSocket frame headers (§5.2), and the one
//! burn-remote message the front decodes itself, the client's session `Init` with its token.
//! Everything here is pure and bounded: a parser never allocates more than its input.

/// The WebSocket GUID appended to a client's key before hashing (RFC 6455 §1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The only path the front serves: burn-remote's session route. Its `/data` route (tensor
/// transfers between servers, which the workbench never uses) is not reachable from outside.
pub(crate) const SESSION_PATH: &str = "/session";
/// The opcodes of RFC 6455 §5.2 (every other value is reserved).
pub(crate) const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;
/// Close codes the front sends (RFC 6455 §7.4.1).
pub(crate) const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub(crate) const CLOSE_POLICY: u16 = 1008;
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;
pub(crate) const CLOSE_TRY_LATER: u16 = 1013;

/// SHA-1 (FIPS 180-4). Used only to answer the WebSocket handshake (the accept key is defined
/// with it); nothing here relies on SHA-1 for security.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4).
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `Sec-WebSocket-Accept` value answering a client's `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &str) -> String {
    base64(&sha1(format!("{key}{WEBSOCKET_GUID}").as_bytes()))
}

/// Why an HTTP request is not a session upgrade: the status line to answer with and the
/// reason to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpRefusal {
    /// Status code and text, e.g. `404 Not Found`.
    pub status: &'static str,
    /// What was wrong, for the server's log.
    pub reason: String,
}

/// Checks a complete request head (up to and including the blank line) for a WebSocket upgrade
/// of [`SESSION_PATH`] and returns the client's key.
pub(crate) fn parse_upgrade(head: &[u8]) -> Result<String, HttpRefusal> {
    let bad = |reason: String| HttpRefusal {
        status: "400 Bad Request",
        reason,
    };
    let text = std::str::from_utf8(head).map_err(|_| bad("the request is not text".into()))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, path, version) = (parts.next(), parts.next(), parts.next());
    let shown: String = request_line.chars().take(80).collect();
    if parts.next().is_some() || version.is_none_or(|v| !v.starts_with("HTTP/1.")) {
        return Err(bad(format!("not an HTTP/1.1 request: {shown:?}")));
    }
    if method != Some("GET") {
        return Err(HttpRefusal {
            status: "405 Method Not Allowed",
            reason: format!("not a WebSocket upgrade: {shown:?}"),
        });
    }
    if path != Some(SESSION_PATH) {
        return Err(HttpRefusal {
            status: "404 Not Found",
            reason: format!("asked for {:?}, which is not served", path.unwrap_or_default()),
        });
    }
    let (mut upgrade, mut connection, mut version, mut key) = (false, false, false, None);
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| {
            bad(format!(
                "malformed header line {:?}",
                line.chars().take(80).collect::<String>()
            ))
        })?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "upgrade" => upgrade = value.eq_ignore_ascii_case("websocket"),
            "connection" => {
                connection = value.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
            }
            "sec-websocket-version" => version = value == "13",
            "sec-websocket-key" => key = Some(value.to_string()),
            _ => {}
        }
    }
    if !(upgrade && connection) {
        return Err(bad("not a WebSocket upgrade (Upgrade/Connection headers)".into()));
    }
    if !version {
        return Err(bad("not WebSocket version 13".into()));
    }
    match key {
        Some(key) if !key.is_empty() && key.len() <= 64 && key.is_ascii() => Ok(key),
        _ => Err(bad("missing or malformed Sec-WebSocket-Key".into())),
    }
}

/// The answer to a refused HTTP request; the connection is closed after it.
pub(crate) fn http_refusal(status: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

/// The answer that switches an accepted request to WebSocket.
pub(crate) fn http_switching(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

/// The upgrade request the front sends burn-remote's own server on the internal port.
pub(crate) fn http_upgrade_request(host: &str, key: &str) -> Vec<u8> {
    format!(
        "GET {SESSION_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    )
    .into_bytes()
}

/// Where a request or response head ends (just past its blank line), if it is complete.
pub(crate) fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A parsed WebSocket frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    /// The last frame of its message.
    pub fin: bool,
    /// RSV1-3; non-zero only with an extension, and none is ever agreed.
    pub rsv: u8,
    /// The opcode (low four bits): 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong.
    pub opcode: u8,
    /// The masking key, which every client-to-server frame carries.
    pub mask: Option<[u8; 4]>,
    /// Payload bytes the header declares.
    pub len: u64,
    /// Bytes of the header itself (2 to 14).
    pub header_len: usize,
}

/// Bytes of a frame header whose second byte is `second` (mask bit and 7-bit length).
pub(crate) fn frame_header_len(second: u8) -> usize {
    let extended = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + extended + if second & 0x80 != 0 { 4 } else { 0 }
}

/// The header at the start of `bytes`: `Ok(None)` while it is incomplete, an error when its
/// 64-bit length has the top bit set (RFC 6455 §5.2).
pub(crate) fn parse_frame_header(bytes: &[u8]) -> Result<Option<FrameHeader>, String> {
    let [b0, b1, ..] = *bytes else { return Ok(None) };
    let masked = b1 & 0x80 != 0;
    let header_len = frame_header_len(b1);
    if bytes.len() < header_len {
        return Ok(None);
    }
    let ext = header_len - 2 - if masked { 4 } else { 0 };
    let len = match ext {
        0 => u64::from(b1 & 0x7F),
        _ => bytes[2..2 + ext]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
    };
    if len >> 63 != 0 {
        return Err("a frame length with its top bit set".into());
    }
    let mask = masked.then(|| {
        let m = &bytes[2 + ext..2 + ext + 4];
        [m[0], m[1], m[2], m[3]]
    });
    Ok(Some(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0F,
        mask,
        len,
        header_len,
    }))
}

/// Follows a WebSocket byte stream frame by frame without holding any payload, refusing what
/// RFC 6455 forbids (reserved opcodes and bits, unmasked client frames, fragmented or long
/// control frames, stray continuations) and any message over a size limit before its payload
/// is passed on.
#[derive(Debug)]
pub(crate) struct FrameScanner {
    from_client: bool,
    max_message: u64,
    header: [u8; 14],
    have: usize,
    remaining: u64,
    message: u64,
    in_message: bool,
}

impl FrameScanner {
    /// A scanner for frames sent by a client (`from_client`: masked) or a server (unmasked),
    /// allowing data messages of at most `max_message` payload bytes.
    pub(crate) fn new(from_client: bool, max_message: u64) -> Self {
        Self {
            from_client,
            max_message,
            header: [0; 14],
            have: 0,
            remaining: 0,
            message: 0,
            in_message: false,
        }
    }

    /// Whether the stream stands between two frames (a control frame may be inserted here).
    pub(crate) fn at_boundary(&self) -> bool {
        self.have == 0 && self.remaining == 0
    }

    /// Follows `bytes`, the next part of the stream; an error says what the stream broke.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(bytes.len() as u64);
                self.remaining -= take;
                bytes = &bytes[take as usize..];
                continue;
            }
            // Header bytes, one at a time up to what the header needs.
            self.header[self.have] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if let Some(header) = parse_frame_header(&self.header[..self.have])? {
                self.have = 0;
                self.check(&header)?;
                self.remaining = header.len;
            }
        }
        Ok(())
    }

    fn check(&mut self, h: &FrameHeader) -> Result<(), String> {
        if h.rsv != 0 {
            return Err("reserved bits set in a frame (no extension was agreed)".into());
        }
        if h.mask.is_some() != self.from_client {
            return Err(if self.from_client {
                "an unmasked client frame"
            } else {
                "a masked server frame"
            }
            .into());
        }
        match h.opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !h.fin || h.len > 125 {
                    return Err("a fragmented or oversized control frame".into());
                }
                return Ok(());
            }
            OP_CONTINUATION if !self.in_message => return Err("a continuation frame with no message".into()),
            OP_TEXT | OP_BINARY if self.in_message => {
                return Err("a new message inside a fragmented one".into());
            }
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
            reserved => return Err(format!("reserved opcode {reserved:#x}")),
        }
        self.message = self.message.saturating_add(h.len);
        if self.message > self.max_message {
            return Err(format!(
                "a message of {} or more (the limit is {})",
                crate::fsutil::human_bytes(self.message),
                crate::fsutil::human_bytes(self.max_message)
            ));
        }
        self.in_message = !h.fin;
        if h.fin {
            self.message = 0;
        }
        Ok(())
    }
}

/// One unmasked, final frame from the server side.
pub(crate) fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame from the server side with `code` and a short `reason`.
pub(crate) fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend(reason.bytes().take(120));
    server_frame(OP_CLOSE, &payload)
}

/// burn-remote's answer to a refused token: the MessagePack of
/// `TaskResponse { content: InitRefused(Unauthorized), id: 0 }` (struct as an array, enum as a
/// one-entry map), so a client reports "refused the token" rather than a closed stream.
pub(crate) fn unauthorized_reply() -> Vec<u8> {
    let mut payload = vec![0x92, 0x81, 0xA0 | 11];
    payload.extend_from_slice(b"InitRefused");
    payload.push(0xA0 | 12);
    payload.extend_from_slice(b"Unauthorized");
    payload.push(0x00);
    server_frame(OP_BINARY, &payload)
}

/// The fields of a session `Init` the front needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Init<'a> {
    /// burn-remote's protocol version.
    pub version: u64,
    /// The device the client asks for.
    pub device_index: u64,
    /// The token the client presents (empty when it sets none).
    pub credential: &'a [u8],
}

/// Decodes a client's first message, the MessagePack of `vec![RemoteMessage::Init(SessionInit
/// { version, session_id: SessionId { id }, device_index, authorization })]`, strictly: any
/// other shape, or bytes after it, is an error.
pub(crate) fn parse_init(bytes: &[u8]) -> Result<Init<'_>, String> {
    let mut r = Reader { bytes, pos: 0 };
    r.expect_array(1)?;
    if r.map_len()? != 1 || r.str()? != "Init" {
        return Err("not a session Init".into());
    }
    r.expect_array(4)?;
    let version = r.uint()?;
    r.expect_array(1)?;
    r.uint()?;
    let device_index = r.uint()?;
    let credential = r.bin()?;
    if r.pos != bytes.len() {
        return Err("bytes after the session Init".into());
    }
    Ok(Init {
        version,
        device_index,
        credential,
    })
}

/// A bounds-checked MessagePack reader for [`parse_init`].
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or("a truncated session Init")?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn expect_array(&mut self, n: u64) -> Result<(), String> {
        let len = match self.byte()? {
            b @ 0x90..=0x9F => u64::from(b & 0x0F),
            0xDC => self.be(2)?,
            0xDD => self.be(4)?,
            _ => return Err("a session Init of another shape".into()),
        };
        if len == n {
            Ok(())
        } else {
            Err("a session Init of another shape".into())
        }
    }

    fn map_len(&mut self) -> Result<u64, String> {
        match self.byte()? {
            b @ 0x80..=0x8F => Ok(u64::from(b & 0x0F)),
            _ => Err("a session Init of another shape".into()),
        }
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let len = match self.byte()? {
            b @ 0xA0..=0xBF => usize::from(b & 0x1F),
            0xD9 => self.be(1)? as usize,
            _ => return Err("a session Init of another shape".into()),
        };
        std::str::from_utf8(self.take(len)?).map_err(|_| "a session Init of another shape".into())
    }

    fn uint(&mut self) -> Result<u64, String> {
        match self.byte()? {
            b @ 0x00..=0x7F => Ok(u64::from(b)),
            0xCC => self.be(1),
            0xCD => self.be(2),
            0xCE => self.be(4),
            0xCF => self.be(8),
            _ => Err("a session Init of another shape".into()),
        }
    }

    fn bin(&mut self) -> Result<&'a [u8], String> {
        let len = match self.byte()? {
            0xC4 => self.be(1)?,
            0xC5 => self.be(2)?,
            0xC6 => self.be(4)?,
            _ => return Err("a session Init of another shape".into()),
        };
        self.take(usize::try_from(len).map_err(|_| "a truncated session Init")?)
    }
}

/// Whether `given` equals `expected`, in a time that depends only on `expected`'s length.
pub(crate) fn token_matches(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= std::hint::black_box(given.get(i).copied().unwrap_or(!e) ^ e);
    }
    diff == 0
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
