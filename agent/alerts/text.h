// Text building blocks the alert sinks share: UTF-8 repair, JSON strings and numbers (RFC 8259),
// and RFC 3339 timestamps. Every sink formats through these, so a route or explanation with odd
// bytes comes out the same (and valid) in a JSON line, an Alertmanager body and a syslog line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ta::agent::alerts {

// Length of the well-formed UTF-8 sequence at the start of `s` (1..4), or 0 when the first byte
// does not start one: the table of RFC 3629 §4 (no overlong forms, no surrogates D800..DFFF,
// nothing above U+10FFFF). `s` must not be empty.
size_t Utf8SequenceLength(std::string_view s);

// `s` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD (one
// replacement per bad byte), so the result is valid UTF-8 whatever the capture held.
std::string RepairUtf8(std::string_view s);

// Appends `s` as a JSON string literal (RFC 8259 §7): quotes; `"` and `\` escaped; \b \f \n \r
// \t for those controls and \u00XX for the other C0 controls and DEL; a byte that is not part of
// well-formed UTF-8 becomes \ufffd. Well-formed non-ASCII UTF-8 is copied as is.
void AppendJsonString(std::string& out, std::string_view s);

// Appends a JSON number in the shortest form that reads back to the same double ("412",
// "0.013", "1e+20"). NaN and infinities have no JSON form (RFC 8259 §6): they become null.
void AppendJsonNumber(std::string& out, double value);

// The same shortest round-trip form as text, for label, annotation and SD-PARAM values; NaN and
// infinities are "NaN", "+Inf", "-Inf" as Prometheus writes them.
std::string FormatNumber(double value);

// RFC 3339 §5.6 in UTC with milliseconds: "2026-11-24T23:30:35.123Z" for nanoseconds since the
// Unix epoch.
std::string FormatRfc3339Millis(uint64_t unix_ns);

}  // namespace ta::agent::alerts
