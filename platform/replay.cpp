#include "platform/replay.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "crypto/messages.h"
#include "dns/reply_packet.h"
#include "platform/daemon_counters.h"
#include "platform/pcap_writer.h"
#include "platform/tunnel_daemon.h"
#include "tunnel/device.h"
#include "tunnel/pcap.h"
#include "tunnel/wg_quick_config.h"

namespace sluice::platform {

namespace {

constexpr size_t kPoolBuffers = 1024;
constexpr size_t kMaxCaptureBytes = size_t{1} << 36;

// A read-only mapping of the whole capture; unmapped when it goes.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error{"opening " + path + ": " + std::strerror(errno), errno};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return Error{path + " is not a regular file", EINVAL};
    }
    const auto size = static_cast<size_t>(st.st_size);
    if (size > kMaxCaptureBytes) {
      ::close(fd);
      return Error{path + " is larger than 64 GiB", EFBIG};
    }
    void* p = size == 0 ? nullptr : ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return Error{"mapping " + path + ": " + std::strerror(errno), errno};
    return MappedFile(static_cast<const uint8_t*>(p), size);
  }
  MappedFile(MappedFile&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  MappedFile(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  const uint8_t* data_;
  size_t size_;
};

Result<WgQuickConfig> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot open `" + path + "': " + std::strerror(errno), errno};
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxWgQuickConfigBytes)
    return Error{path + ": file larger than " + std::to_string(kMaxWgQuickConfigBytes) + " bytes", EFBIG};
  auto parsed = parse_wg_quick_config(text.str(), path);
  if (auto* error = std::get_if<ConfigError>(&parsed)) return Error{error->to_string(), EINVAL};
  return std::get<WgQuickConfig>(std::move(parsed));
}

class Replayer {
 public:
  Replayer(const WgQuickConfig& config, PcapWriter& inner, PcapWriter& outer, ReplayReport& report)
      : pool_(kPoolBuffers, buffer_capacity_for_mtu(config.mtu.value_or(1420))),
        device_(DeviceOptions{.log_prefix = "replay: ", .mtu = config.mtu.value_or(1420)}, pool_),
        inner_(inner), outer_(outer), report_(report), listen_port_(config.listen_port),
        frame_(dns::udp_headers_length(IpFamily::v6) + pool_.buffer_capacity()) {
    change_ = to_device_change(config);
    for (size_t i = 0; i < config.peers.size(); ++i) {
      if (config.peers[i].endpoint_host) {
        spdlog::warn("replay: peer {}'s endpoint {} is a host name and is not resolved in a replay",
                     i + 1, *config.peers[i].endpoint_host);
      }
    }
    out_.datagrams.reserve(2 * kPoolBuffers);
    out_.inner.reserve(2 * kPoolBuffers);
  }

  ~Replayer() { release_output(); }

  void feed(const PcapPacket& packet) {
    const Now t = clock(packet.timestamp_ns);
    if (!started_) {
      started_ = true;
      device_.apply(change_, t, out_);
      write_output(t);
    }
    run_timers_until(t);
    const dns::TransportView view = dns::read_transport(packet.ip);
    if (is_outer(view)) {
      note_local_address(view.flow.destination);
      ++report_.outer_in;
      PacketBuffer* b = copy(view.payload, /*inner=*/false);
      if (b == nullptr) return;
      const InboundDatagram d{Endpoint{view.flow.source, view.flow.source_port}, b};
      device_.handle_outer(std::span<const InboundDatagram>(&d, 1), t, out_);
    } else {
      ++report_.inner_in;
      PacketBuffer* b = copy(packet.ip, /*inner=*/true);
      if (b == nullptr) return;
      device_.handle_inner(std::span<PacketBuffer* const>(&b, 1), t, out_);
    }
    write_output(t);
    last_ns_ = t.mono_ns;
  }

  void finish() {
    report_.virtual_ns = started_ ? last_ns_ - kStartNs : 0;
    report_.counters = device_.counters();
  }

 private:
  // Virtual monotonic time starts at a fixed point so that "0" never looks like "never".
  static constexpr int64_t kStartNs = int64_t{1000} * 1000000000;

  Now clock(int64_t timestamp_ns) {
    if (!started_) first_wall_ns_ = timestamp_ns;
    // A capture may step back in time (merged files); virtual time never does.
    const int64_t mono = std::max(last_ns_, kStartNs + (timestamp_ns - first_wall_ns_));
    return Now{mono, first_wall_ns_ + (mono - kStartNs)};
  }

  void run_timers_until(const Now& t) {
    while (device_.next_deadline() <= t.mono_ns) {
      const int64_t due = std::max(device_.next_deadline(), last_ns_);
      const Now at{due, first_wall_ns_ + (due - kStartNs)};
      device_.handle_timers(at, out_);
      ++report_.timer_runs;
      write_output(at);
      last_ns_ = due;
      if (device_.next_deadline() <= due) break;  // a deadline that does not move is not ours to spin on
    }
  }

  bool is_outer(const dns::TransportView& view) const {
    if (view.kind != dns::TransportView::Kind::udp) return false;
    if (listen_port_) return view.flow.destination_port == *listen_port_;
    return crypto::classify_message(view.payload).has_value();
  }

  void note_local_address(const IpAddress& a) {
    (a.family == IpFamily::v4 ? local4_ : local6_) = a;
  }

  PacketBuffer* copy(std::span<const uint8_t> bytes, bool inner) {
    PacketBuffer* b = pool_.acquire();
    if (b == nullptr) return nullptr;  // cannot happen: everything goes back after each packet
    if (inner) {
      b->reset_for_inner();
    } else {
      b->reset_for_outer();
    }
    if (bytes.size() > b->room() - (inner ? PacketBuffer::kTailroom : 0)) {
      pool_.release(b);
      ++report_.truncated;
      return nullptr;
    }
    std::memcpy(b->data(), bytes.data(), bytes.size());
    b->set_size(bytes.size());
    return b;
  }

  void write_output(const Now& t) {
    for (PacketBuffer* b : out_.inner) {
      inner_.write(t.wall_ns, {b->data(), b->size()});
      ++report_.inner_out;
    }
    for (const OutboundDatagram& d : out_.datagrams) {
      const IpAddress& local = d.destination.address.family == IpFamily::v4 ? local4_ : local6_;
      const dns::UdpFlow flow{local, d.destination.address, device_.listen_port(), d.destination.port};
      const size_t header = dns::udp_headers_length(local.family);
      std::memcpy(frame_.data() + header, d.buffer->data(), d.buffer->size());
      const size_t length = dns::write_udp_packet(frame_, flow, d.buffer->size());
      if (length != 0) {
        outer_.write(t.wall_ns, std::span<const uint8_t>(frame_).first(length));
        ++report_.outer_out;
      }
    }
    release_output();
  }

  void release_output() {
    for (PacketBuffer* b : out_.inner) pool_.release(b);
    for (const OutboundDatagram& d : out_.datagrams) pool_.release(d.buffer);
    out_.clear();
  }

  BufferPool pool_;
  Device device_;
  PcapWriter& inner_;
  PcapWriter& outer_;
  ReplayReport& report_;
  std::optional<uint16_t> listen_port_;
  DeviceChange change_;
  DeviceOutput out_;
  std::vector<uint8_t> frame_;
  IpAddress local4_ = *IpAddress::parse("192.0.2.1");
  IpAddress local6_ = *IpAddress::parse("2001:db8::1");
  bool started_ = false;
  int64_t first_wall_ns_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace

Result<ReplayReport> replay_capture(const ReplayOptions& options) {
  auto config = load_config(options.config_path);
  if (!config) return config.error();
  auto capture = MappedFile::open(options.capture_path);
  if (!capture) return capture.error();
  PcapReader reader(capture->bytes());
  if (!reader.error().empty()) return Error{options.capture_path + ": " + reader.error(), EINVAL};

  ReplayReport report;
  report.inner_path = options.output_prefix + "-inner.pcap";
  report.outer_path = options.output_prefix + "-outer.pcap";
  auto inner = PcapWriter::create(report.inner_path, 0);
  if (!inner) return inner.error();
  auto outer = PcapWriter::create(report.outer_path, 0);
  if (!outer) return outer.error();
  {
    Replayer replayer(*config, **inner, **outer, report);
    while (auto packet = reader.next()) {
      if (packet->truncated()) {
        ++report.truncated;
        continue;
      }
      replayer.feed(*packet);
    }
    replayer.finish();
  }
  if (!reader.error().empty()) return Error{options.capture_path + ": " + reader.error(), EINVAL};
  report.records = reader.records();
  report.not_ip = reader.skipped();
  for (PcapWriter* w : {inner->get(), outer->get()}) {
    if (!w->flush()) return Error{"writing " + w->path() + ": " + w->error(), EIO};
  }
  return report;
}

std::string format_replay_report(const ReplayReport& r) {
  std::string out;
  append_stat(out, "records", r.records);
  append_stat(out, "records_not_ip", r.not_ip);
  append_stat(out, "packets_truncated", r.truncated);
  append_stat(out, "inner_in", r.inner_in);
  append_stat(out, "outer_in", r.outer_in);
  append_stat(out, "inner_out", r.inner_out);
  append_stat(out, "outer_out", r.outer_out);
  append_stat(out, "timer_runs", r.timer_runs);
  append_stat(out, "virtual_ms", static_cast<uint64_t>(r.virtual_ns / 1000000));
  append_stat(out, "handshakes_completed", r.counters.handshakes_completed);
  append_stat(out, "handshake_initiations_sent", r.counters.handshake_initiations_sent);
  append_stat(out, "handshake_responses_sent", r.counters.handshake_responses_sent);
  append_stat(out, "cookie_replies_sent", r.counters.cookie_replies_sent);
  for (size_t i = 0; i < static_cast<size_t>(DropReason::Count); ++i) {
    const auto reason = static_cast<DropReason>(i);
    append_stat(out, "drop_" + std::string(drop_reason_name(reason)), r.counters.dropped(reason));
  }
  out += "inner_pcap=" + r.inner_path + "\nouter_pcap=" + r.outer_path + "\n";
  return out;
}

}  // namespace sluice::platform
