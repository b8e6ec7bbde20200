//! The framing shared by beanscan's files (bundles, references):
//! `MAGIC (8) | format version u32 LE | payload length u64 LE | payload | CRC-32 u32 LE`,
//! the CRC covering everything before it. Each file type words its own errors.

/// Bytes before the payload: magic, version, length.
pub const HEADER_LEN: usize = 8 + 4 + 8;

/// What is wrong with a frame, checked in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    TooShort(usize),
    Magic,
    Version(u32),
    /// The header announces `expected` bytes; the file has `actual`.
    Length {
        expected: u64,
        actual: usize,
    },
    Checksum,
}

/// `payload` framed with `magic` and `version`.
pub fn frame(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The payload of a frame written by [`frame`] with the same `magic` and `version`.
pub fn unframe<'a>(magic: &[u8; 8], version: u32, bytes: &'a [u8]) -> Result<&'a [u8], FrameError> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(FrameError::TooShort(bytes.len()));
    }
    if &bytes[..8] != magic {
        return Err(FrameError::Magic);
    }
    let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if found != version {
        return Err(FrameError::Version(found));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected = (HEADER_LEN as u64).saturating_add(len).saturating_add(4);
    if expected != bytes.len() as u64 {
        return Err(FrameError::Length { expected, actual: bytes.len() });
    }
    let body_end = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[body_end..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body_end]) != stored {
        return Err(FrameError::Checksum);
    }
    Ok(&bytes[HEADER_LEN..body_end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_refusal() {
        let framed = frame(b"TESTFILE", 3, b"payload");
        assert_eq!(unframe(b"TESTFILE", 3, &framed), Ok(&b"payload"[..]));
        assert_eq!(unframe(b"TESTFILE", 3, &framed[..10]), Err(FrameError::TooShort(10)));
        assert_eq!(unframe(b"OTHERONE", 3, &framed), Err(FrameError::Magic));
        assert_eq!(unframe(b"TESTFILE", 4, &framed), Err(FrameError::Version(3)));
        let long = [framed.clone(), vec![0]].concat();
        assert!(matches!(unframe(b"TESTFILE", 3, &long), Err(FrameError::Length { .. })));
        let mut flipped = framed;
        flipped[21] ^= 1;
        assert_eq!(unframe(b"TESTFILE", 3, &flipped), Err(FrameError::Checksum));
    }
}
