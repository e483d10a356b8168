// The address vocabulary (tunnel/ip_address.h) and the UAPI's stricter readers of it
// (tunnel/uapi_values.h). Text that parses must print back to text that parses to the same
// value, since UAPI get, wg-quick and the logs all print what was parsed. The first input
// byte picks text or binary: binary inputs build an address from raw bytes and check that
// its printed form reads back, which covers formatting of every address, not only those a
// mutator happens to spell.
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "tunnel/ip_address.h"
#include "tunnel/uapi_values.h"

using namespace sluice;

namespace {

void check_address(const IpAddress& a) {
  auto back = IpAddress::parse(a.to_string());
  FUZZ_CHECK(back && *back == a);
}

void check_prefix(const IpPrefix& p) {
  FUZZ_CHECK(p.length <= p.address.max_prefix());
  FUZZ_CHECK(p == p.masked());  // host bits are cleared by every parser
  FUZZ_CHECK(p.contains(p.address));
  const std::string text = p.to_string();
  auto back = IpPrefix::parse(text);
  FUZZ_CHECK(back && *back == p);
  auto uapi_back = uapi::parse_prefix(text);  // what UAPI get prints, UAPI set must read
  FUZZ_CHECK(uapi_back && *uapi_back == p);
}

void check_endpoint(const Endpoint& e) {
  const std::string text = e.to_string();
  auto back = Endpoint::parse(text);
  FUZZ_CHECK(back && *back == e);
  auto uapi_back = uapi::parse_endpoint(text);
  FUZZ_CHECK(uapi_back && *uapi_back == e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] == 0xff) {
    // Binary: ff | 16 address bytes | family | prefix length | port (2).
    fuzz::Reader in(data + 1, size - 1);
    uint8_t raw[16] = {};
    auto b = in.bytes(16);
    std::copy(b.begin(), b.end(), raw);
    const bool v6 = in.u8() & 1;
    const IpAddress a = v6 ? IpAddress::v6(raw) : IpAddress::v4(raw);
    check_address(a);
    check_prefix(IpPrefix{a, static_cast<uint8_t>(in.u8() % (a.max_prefix() + 1))}.masked());
    check_endpoint(Endpoint{a, in.u16()});
    return 0;
  }

  // Text: an exact-size copy, so a read past the end of the view is caught.
  auto copy = fuzz::exact_copy({data, size});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());
  if (auto a = IpAddress::parse(text)) check_address(*a);
  if (auto p = IpPrefix::parse(text)) check_prefix(*p);
  if (auto e = Endpoint::parse(text)) check_endpoint(*e);
  // The UAPI readers differ from the ones above on purpose (uapi_values.h), so they are not
  // compared with them; only their own round trip is checked.
  if (auto p = uapi::parse_prefix(text)) check_prefix(*p);
  if (auto e = uapi::parse_endpoint(text)) check_endpoint(*e);
  return 0;
}
