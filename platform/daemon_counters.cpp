#include "platform/daemon_counters.h"

#include <string_view>

namespace sluice::platform {

std::string BatchHistogram::bucket_name(size_t i) {
  const size_t low = size_t{1} << i;
  if (i + 1 == kBuckets) return std::to_string(low) + "+";
  if (low == 1) return "1";
  return std::to_string(low) + "-" + std::to_string(2 * low - 1);
}

void append_stat(std::string& out, std::string_view key, uint64_t value) {
  out.append(key);
  out += '=';
  out += std::to_string(value);
  out += '\n';
}

void append_histogram(std::string& out, std::string_view prefix, const BatchHistogram& h) {
  std::string key(prefix);
  append_stat(out, key + "_batches", h.batches());
  append_stat(out, key + "_packets", h.items());
  for (size_t i = 0; i < BatchHistogram::kBuckets; ++i)
    append_stat(out, key + "_batch_" + BatchHistogram::bucket_name(i), h.bucket(i));
}

}  // namespace sluice::platform
