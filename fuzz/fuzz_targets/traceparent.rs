//! `traceparent`, as a client sends it: any bytes may come. A value the parser takes prints
//! back as the same header (version 00; a later version's extra fields are dropped), and
//! what it prints parses to the same context.
#![no_main]

use grpc_tour::production::layers::trace_context::TraceContext;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &[u8]| {
    let Some(context) = TraceContext::parse(value) else {
        return;
    };
    let printed = context.to_string();
    if value.starts_with(b"00-") {
        assert_eq!(printed.as_bytes(), value);
    } else {
        // A later version: its first four fields, read as version 00's.
        assert_eq!(printed.as_bytes()[3..], value[3..55]);
    }
    let again = TraceContext::parse(printed.as_bytes()).expect("what it prints parses");
    assert_eq!(again.to_string(), printed);
});
