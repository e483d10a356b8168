#include "dns/query_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace sluice::dns {

std::string_view query_action_name(QueryAction action) {
  switch (action) {
    case QueryAction::cached: return "cached";
    case QueryAction::forwarded: return "forwarded";
    case QueryAction::blocked: return "blocked";
    case QueryAction::overridden: return "overridden";
    case QueryAction::servfail: return "servfail";
    case QueryAction::formerr: return "formerr";
    case QueryAction::notimp: return "notimp";
    case QueryAction::badvers: return "badvers";
  }
  return "unknown";
}

std::string_view record_type_name(uint16_t type, std::span<char, 16> scratch) {
  switch (type) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 255: return "ANY";
    default: {
      const int n = std::snprintf(scratch.data(), scratch.size(), "TYPE%u", unsigned{type});
      return {scratch.data(), static_cast<size_t>(n)};
    }
  }
}

std::string_view rcode_name(uint16_t rcode, std::span<char, 16> scratch) {
  switch (rcode) {
    case 0: return "NOERROR";
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    case 16: return "BADVERS";
    default: {
      const int n = std::snprintf(scratch.data(), scratch.size(), "RCODE%u", unsigned{rcode});
      return {scratch.data(), static_cast<size_t>(n)};
    }
  }
}

void format_query_log_line(const QueryLogRecord& r, std::string& out) {
  char time_text[40];
  const int64_t seconds = r.wall_ns / 1'000'000'000;
  const auto millis = static_cast<int>((r.wall_ns % 1'000'000'000) / 1'000'000);
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const size_t n = std::strftime(time_text, sizeof time_text, "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(time_text, n);
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, ".%03dZ ", millis < 0 ? 0 : millis);
  out.append(buffer);
  if (r.tcp) {
    out.append("tcp#").append(std::to_string(r.connection)).append(" tcp ");
  } else {
    out.append(Endpoint{r.client.source, r.client.source_port}.to_string()).append(" udp ");
  }
  std::array<char, kMaxNameTextLength> name_text{};
  if (auto len = r.name.write_text(name_text)) {
    out.append(name_text.data(), *len);
  } else {
    out.append("?");
  }
  std::array<char, 16> scratch{};
  out.append(" ").append(record_type_name(r.type, scratch));
  out.append(" ").append(query_action_name(r.action));
  out.append(" ").append(rcode_name(r.rcode, scratch));
  std::snprintf(buffer, sizeof buffer, " %.3fms\n", static_cast<double>(r.latency_ns) / 1e6);
  out.append(buffer);
}

std::variant<std::unique_ptr<QueryLog>, std::string> QueryLog::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return "query log " + path + ": " + std::strerror(errno);
  return std::unique_ptr<QueryLog>(new QueryLog(path, fd));
}

QueryLog::QueryLog(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
  buffer_.reserve(kBufferBytes + 1024);
}

QueryLog::~QueryLog() {
  flush();
  if (fd_ >= 0) ::close(fd_);
}

void QueryLog::write(std::span<const QueryLogRecord> records) {
  for (const QueryLogRecord& r : records) {
    format_query_log_line(r, buffer_);
    if (buffer_.size() >= kBufferBytes) flush();
  }
}

bool QueryLog::flush() {
  size_t done = 0;
  bool ok = true;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A full disk must not grow the buffer without bound: the unwritten lines are lost.
      ++write_errors_;
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
  return ok;
}

}  // namespace sluice::dns
