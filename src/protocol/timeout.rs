//! The `grpc-timeout` header: a call's deadline as the client sends it, up to 8 digits and
//! a unit (`H`, `M`, `S`, `m`, `u`, `n`), as gRPC over HTTP/2 defines it. tonic has a
//! parser, but it is private; the production server's cutoff reads the header with this one.

use std::time::Duration;

/// The duration in a `grpc-timeout` value, or `None` if it is not one the spec allows.
pub fn parse(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?;
    let (digits, unit) = text.split_at_checked(text.len().checked_sub(1)?)?;
    // Digits only: `u64::from_str` would also take a leading `+`.
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}
