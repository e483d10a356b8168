// A handshake flood for tests: real Noise initiations with a valid mac1 for the responder's
// public key (so they pass the first, cheap check and reach the under-load logic), from many
// local IPv4 addresses, at a fixed rate. It counts the cookie replies that answer them.
//
//   sluice_handshake_flood --responder PUBKEY --target ADDR:PORT --source-base ADDR
//                          --sources N --rate PER_SECOND --seconds S [--honour-cookies 1]
//
// With --honour-cookies each source address keeps resending one initiation and, once a cookie
// reply reached it, adds the valid mac2: the attacker a cookie cannot stop, whom the responder
// must rate limit per address instead.
//
// The N source addresses (source-base and the N-1 after it) must be configured on a local
// interface, so that cookie replies sent to them come back to our sockets. Prints one line:
//   sent=.. send_blocked=.. cookie_replies=.. cookies_consumed=.. other_replies=.. seconds=.. rate=..
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/noise.h"
#include "crypto/tai64n.h"
#include "crypto/x25519.h"

namespace {

using namespace sluice::crypto;

// Sender indices of our initiations; a cookie reply must name one of them.
constexpr uint32_t kIndexBase = 0x464c0000;  // "FL"
constexpr size_t kMessages = 512;            // distinct initiations, sent round robin
constexpr size_t kBatch = 32;                // datagrams per sendmmsg

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "handshake_flood: %s\n", why.c_str());
  std::exit(2);
}

struct Options {
  PublicKey responder{};
  sockaddr_in target{};
  in_addr source_base{};
  uint32_t sources = 0;
  uint32_t rate = 0;
  double seconds = 0;
  bool honour_cookies = false;
};

Options parse(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  const auto need = [&](const char* name) {
    auto it = args.find(name);
    if (it == args.end()) die(std::string("missing ") + name);
    return it->second;
  };
  Options o;
  auto key = key_from_base64(need("--responder"));
  if (!key) die("--responder is not a base64 key");
  o.responder = *key;
  const std::string target = need("--target");
  const size_t colon = target.rfind(':');
  o.target.sin_family = AF_INET;
  if (colon == std::string::npos || inet_pton(AF_INET, target.substr(0, colon).c_str(), &o.target.sin_addr) != 1)
    die("--target must be IPv4ADDR:PORT");
  o.target.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  if (inet_pton(AF_INET, need("--source-base").c_str(), &o.source_base) != 1) die("bad --source-base");
  o.sources = static_cast<uint32_t>(std::stoul(need("--sources")));
  o.rate = static_cast<uint32_t>(std::stoul(need("--rate")));
  o.seconds = std::stod(need("--seconds"));
  o.honour_cookies = args.count("--honour-cookies") != 0 && args["--honour-cookies"] == "1";
  if (o.sources == 0 || o.rate == 0 || o.seconds <= 0) die("--sources, --rate and --seconds must be > 0");
  return o;
}

// Initiations from random, unknown static keys: the responder cannot tell them from a real
// peer's before it does Diffie-Hellman, which is exactly what the cookie must spare it.
std::vector<std::vector<uint8_t>> build_initiations(const PublicKey& responder) {
  std::vector<std::vector<uint8_t>> messages;
  const int64_t wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  for (size_t i = 0; i < kMessages; ++i) {
    StaticIdentity self;
    self.private_key = generate_private_key();
    self.public_key = public_key_of(self.private_key);
    Key static_static{};
    if (!dh(static_static, self.private_key, responder)) die("zero DH with the responder's key");
    InitiatorHandshake state;
    std::vector<uint8_t> msg(kHandshakeInitiationSize);
    if (!create_initiation(self, responder, static_static, Key{}, kIndexBase + static_cast<uint32_t>(i),
                           tai64n_from_unix_ns(wall_ns), state,
                           std::span<uint8_t, kHandshakeInitiationSize>(msg.data(), msg.size())))
      die("create_initiation failed");
    CookieMaker macs;
    macs.init(responder);
    macs.add_macs(msg, 0);  // mac1 valid, mac2 zero: no cookie yet
    wipe(state);
    wipe(self);
    messages.push_back(std::move(msg));
  }
  return messages;
}

std::vector<int> open_sockets(const Options& o) {
  std::vector<int> fds;
  for (uint32_t i = 0; i < o.sources; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: " + std::string(std::strerror(errno)));
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(ntohl(o.source_base.s_addr) + i);
    if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      die("bind to source " + std::to_string(i) + ": " + std::strerror(errno) + " (is the address configured?)");
    if (connect(fd, reinterpret_cast<const sockaddr*>(&o.target), sizeof o.target) != 0)
      die("connect: " + std::string(std::strerror(errno)));
    fds.push_back(fd);
  }
  return fds;
}

struct Replies {
  uint64_t cookies = 0;
  uint64_t consumed = 0;
  uint64_t other = 0;
};

int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// In --honour-cookies mode, what one source address sends: its own initiation, whose mac2 its
// CookieMaker fills once a cookie arrived.
struct HonestSource {
  std::vector<uint8_t> message;
  CookieMaker macs;
};

void drain(const std::vector<int>& fds, std::vector<HonestSource>& honest, Replies& r) {
  uint8_t buffer[256];
  for (size_t s = 0; s < fds.size(); ++s) {
    for (;;) {
      const ssize_t n = recv(fds[s], buffer, sizeof buffer, MSG_DONTWAIT);
      if (n < 0) break;
      const std::span<const uint8_t> msg(buffer, static_cast<size_t>(n));
      if (classify_message(msg) != MessageType::CookieReply || receiver_index_of(msg) - kIndexBase >= kMessages) {
        ++r.other;
        continue;
      }
      ++r.cookies;
      if (!honest.empty() &&
          honest[s].macs.consume_reply(std::span<const uint8_t, kCookieReplySize>(buffer, kCookieReplySize), mono_ns()))
        ++r.consumed;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!crypto_init()) die("libsodium failed to initialise");
  const Options o = parse(argc, argv);
  const auto messages = build_initiations(o.responder);
  const std::vector<int> fds = open_sockets(o);
  std::vector<HonestSource> honest(o.honour_cookies ? fds.size() : 0);
  for (size_t s = 0; s < honest.size(); ++s) {
    honest[s].message = messages[s % kMessages];
    honest[s].macs.init(o.responder);
  }

  std::vector<mmsghdr> headers(kBatch);
  std::vector<iovec> iovs(kBatch);
  uint64_t sent = 0;
  uint64_t blocked = 0;
  size_t next_socket = 0;
  Replies replies;
  const auto start = std::chrono::steady_clock::now();
  auto next_drain = start;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    if (elapsed >= o.seconds) break;
    const uint64_t due = static_cast<uint64_t>(elapsed * o.rate);
    while (sent + blocked < due) {
      const size_t n = std::min<uint64_t>(kBatch, due - sent - blocked);
      // Each batch from the next source address, so every address sends at rate / sources.
      const size_t source = next_socket++ % fds.size();
      if (!honest.empty()) honest[source].macs.add_macs(honest[source].message, mono_ns());
      for (size_t i = 0; i < n; ++i) {
        const auto& m = honest.empty() ? messages[(sent + blocked + i) % kMessages] : honest[source].message;
        iovs[i] = {const_cast<uint8_t*>(m.data()), m.size()};
        headers[i] = {};
        headers[i].msg_hdr.msg_iov = &iovs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
      }
      const int fd = fds[source];
      const int done = sendmmsg(fd, headers.data(), static_cast<unsigned>(n), 0);
      const size_t ok = done > 0 ? static_cast<size_t>(done) : 0;
      sent += ok;
      blocked += n - ok;  // a full socket buffer: counted, not retried, to keep the rate honest
    }
    if (now >= next_drain) {
      drain(fds, honest, replies);
      next_drain = now + std::chrono::milliseconds(20);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // Replies still on their way.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  drain(fds, honest, replies);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent=%llu send_blocked=%llu cookie_replies=%llu cookies_consumed=%llu other_replies=%llu "
              "seconds=%.2f rate=%.0f\n",
              static_cast<unsigned long long>(sent), static_cast<unsigned long long>(blocked),
              static_cast<unsigned long long>(replies.cookies), static_cast<unsigned long long>(replies.consumed),
              static_cast<unsigned long long>(replies.other),
              seconds, static_cast<double>(sent) / o.seconds);
  for (int fd : fds) close(fd);
  return 0;
}
