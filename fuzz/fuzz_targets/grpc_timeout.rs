//! `grpc-timeout`: any bytes may come, and none panics the parser. Every deadline tonic
//! sends comes back as tonic meant it: tonic writes at most 8 digits, in the finest unit
//! that fits, so what is read is at most the deadline and short of it by less than one of
//! that unit, and by less than a 100,000th of the deadline.
#![no_main]

use std::time::Duration;

use grpc_tour::protocol::timeout;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], u64)| {
    let (value, nanos) = input;
    let _ = timeout::parse(value);

    let deadline = Duration::from_nanos(nanos);
    let mut request = tonic::Request::new(());
    request.set_timeout(deadline);
    let sent = request
        .metadata()
        .get("grpc-timeout")
        .expect("tonic sends it");
    let read = timeout::parse(sent.as_bytes()).expect("what tonic sends parses");
    assert!(read <= deadline, "{sent:?}: {read:?} > {deadline:?}");
    let lost = deadline - read;
    // The unit tonic chose: the finest in which the deadline fits 8 digits.
    let unit = match sent.as_bytes().last() {
        Some(b'n') => Duration::from_nanos(1),
        Some(b'u') => Duration::from_micros(1),
        Some(b'm') => Duration::from_millis(1),
        Some(b'S') => Duration::from_secs(1),
        Some(b'M') => Duration::from_secs(60),
        Some(b'H') => Duration::from_secs(3600),
        _ => panic!("{sent:?} has no unit"),
    };
    assert!(lost < unit, "{sent:?}: {read:?} for {deadline:?}");
    // A coarser unit is taken only when the finer one needs more than 8 digits, so the
    // value has at least 6 (a thousand times fewer) and less than a 100,000th is lost.
    assert!(
        unit == Duration::from_nanos(1) || lost <= deadline / 100_000,
        "{sent:?}: {read:?} for {deadline:?}"
    );
});
