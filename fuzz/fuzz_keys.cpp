// Key encodings (crypto/keys.h): base64 as in config files and `wg`, hex as in the UAPI. Both
// decoders are strict, so each accepted text is the one canonical spelling of its key (hex up
// to case): decode then encode must give the text back. Any 32 bytes must encode and decode
// back, too.
#include <string>
#include <string_view>

#include "fuzz_support.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto copy = fuzz::exact_copy({data, size});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());

  if (auto k = crypto::key_from_base64(text)) FUZZ_CHECK(crypto::key_to_base64(*k) == text);
  if (auto k = crypto::key_from_hex(text)) {
    std::string lower(text);
    for (char& c : lower)
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    FUZZ_CHECK(crypto::key_to_hex(*k) == lower);
  }

  if (size >= 32) {
    crypto::Key key;
    std::copy_n(data, 32, key.begin());
    FUZZ_CHECK(crypto::key_from_base64(crypto::key_to_base64(key)) == key);
    FUZZ_CHECK(crypto::key_from_hex(crypto::key_to_hex(key)) == key);
  }
  return 0;
}
