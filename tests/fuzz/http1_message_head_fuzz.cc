// HTTP/1.x message heads (analyzer/protocols/http1/message_head.h) on arbitrary bytes.
//
// Input: one control byte, then the head bytes.
//   control bit 0: also parse as a request (set) / as a response (clear); both are always
//                  tried on the bytes up to the head end, this picks which one also gets the
//                  whole input including what follows the empty line
//   control bits 1-7: where the incremental start-line check is split (a fraction of the size)
// Besides not crashing, the parser must agree with itself: a head that parses is one that
// FindHeadEnd finds; the views it returns lie inside the bytes it was given; the start-line
// check gives the same answer whether the bytes arrive at once or in two parts.
#include <string_view>

#include "analyzer/protocols/http1/message_head.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::protocols::ParseState;
using ta::analyzer::protocols::http1::MessageHead;

bool Within(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

void CheckHead(std::string_view bytes, bool request) {
  const ta::fuzz::ExactBytes copy(bytes);
  MessageHead head;
  const ParseState state = request ? ta::analyzer::protocols::http1::ParseRequestHead(copy.view(),
                                                                                      &head)
                                   : ta::analyzer::protocols::http1::ParseResponseHead(
                                         copy.view(), &head);
  if (state != ParseState::kDone) return;
  TA_FUZZ_CHECK(Within(head.method, copy.view()));
  TA_FUZZ_CHECK(Within(head.target, copy.view()));
  if (request) {
    TA_FUZZ_CHECK(!head.method.empty());
    (void)ta::analyzer::protocols::http1::RequestBodyFraming(head);
  } else {
    TA_FUZZ_CHECK(head.status >= 100 && head.status <= 999);
    for (std::string_view method : {"GET", "HEAD", "CONNECT", "POST"}) {
      (void)ta::analyzer::protocols::http1::ResponseBodyFraming(head, method);
    }
  }
}

// The incremental start-line check must not depend on how the bytes arrived.
void CheckStartLineSplit(std::string_view bytes, size_t split, bool request) {
  using ta::analyzer::protocols::http1::CheckRequestLine;
  using ta::analyzer::protocols::http1::CheckStatusLine;
  auto check = [request](std::string_view so_far, size_t from) {
    return request ? CheckRequestLine(so_far, from) : CheckStatusLine(so_far, from);
  };
  const ta::fuzz::ExactBytes whole_copy(bytes);
  const ParseState whole = check(whole_copy.view(), 0);
  const ta::fuzz::ExactBytes first_copy(bytes.substr(0, split));
  const ParseState first = check(first_copy.view(), 0);
  if (first != ParseState::kNeedsMoreData) {
    // Decided on the prefix already: more bytes cannot change the verdict.
    TA_FUZZ_CHECK(first == whole);
    return;
  }
  // A stream resumes the check where it stopped; the parser's own callers pass the previous size.
  TA_FUZZ_CHECK(check(whole_copy.view(), split) == whole);
}

}  // namespace

TA_FUZZ_TARGET(http1_message_head) {
  ta::fuzz::FuzzInput in(data, size);
  const uint8_t control = in.TakeByte();
  const std::string_view bytes = ta::fuzz::AsText(in.TakeRest());
  const bool request_first = (control & 1) != 0;
  const size_t split = bytes.size() * (control >> 1) / 127;

  using ta::analyzer::protocols::http1::FindHeadEnd;
  const ta::fuzz::ExactBytes copy(bytes);
  const size_t end = FindHeadEnd(copy.view());
  if (end != std::string_view::npos) {
    TA_FUZZ_CHECK(end <= bytes.size());
    // A stream that searched the first `split` bytes in vain resumes from split - 2 (the
    // contract in message_head.h) and must find the same end.
    const ta::fuzz::ExactBytes prefix(bytes.substr(0, split));
    if (FindHeadEnd(prefix.view()) == std::string_view::npos) {
      TA_FUZZ_CHECK(FindHeadEnd(copy.view(), split >= 2 ? split - 2 : 0) == end);
    }
    CheckHead(bytes.substr(0, end), true);
    CheckHead(bytes.substr(0, end), false);
  } else {
    // No empty line: never a complete head.
    MessageHead head;
    TA_FUZZ_CHECK(ta::analyzer::protocols::http1::ParseRequestHead(copy.view(), &head) !=
                  ParseState::kDone);
    TA_FUZZ_CHECK(ta::analyzer::protocols::http1::ParseResponseHead(copy.view(), &head) !=
                  ParseState::kDone);
  }
  CheckHead(bytes, request_first);
  CheckStartLineSplit(bytes, split, request_first);
  CheckStartLineSplit(bytes, split, !request_first);
  (void)ta::analyzer::protocols::http1::StartsWithRequestLine(copy.view());
  (void)ta::analyzer::protocols::http1::StartsWithStatusLine(copy.view());
}
