// mac1, mac2 and cookie replies: WireGuard's defence against handshake floods (whitepaper
// §5.4.4, §5.4.7). mac1 proves the sender knows the receiver's public key, so a device never
// answers someone who does not. Under load a responder also requires mac2, keyed with a
// cookie it handed to the sender's IP address and port, proving the source is reachable there.
//
// Handshake messages are told apart by size (148 initiation, 92 response); any other size
// has no macs, fails every check and is left untouched.
//
// Neither class locks. Const members may run concurrently with each other; anything else
// needs the caller's lock (wireguard-go uses a read/write lock per object).
#pragma once

#include <cstdint>
#include <span>

#include "crypto/blake2s.h"
#include "crypto/keys.h"
#include "crypto/messages.h"

namespace sluice::crypto {

// COOKIE_SECRET_MAX_AGE (120 s): how long a responder's secret, and so a cookie, stays valid.
inline constexpr int64_t kCookieSecretMaxAgeNs = 120'000'000'000;

// Responder side, one per device. Times are the caller's monotonic clock in nanoseconds.
class CookieChecker {
 public:
  CookieChecker() = default;
  ~CookieChecker();
  CookieChecker(const CookieChecker&) = delete;
  CookieChecker& operator=(const CookieChecker&) = delete;

  // Derives the mac1 and cookie keys from our public key; call again when the private key
  // changes. The cookie secret is kept.
  void init(const PublicKey& local_public);

  // `msg` (caller-owned) is a whole initiation or response.
  bool check_mac1(std::span<const uint8_t> msg) const;
  // Is mac2 valid for this source? `source` = address bytes (4 or 16) then 2 port bytes, in
  // whatever fixed byte order the caller always uses. False once the secret that made the
  // cookie is 120 s old (or none was made yet).
  bool check_mac2(std::span<const uint8_t> msg, std::span<const uint8_t> source, int64_t now_ns);
  // Writes a cookie reply answering `msg` (whose mac1 becomes the reply's associated data)
  // into `out` (caller-owned). Rotates the secret if it is 120 s old. For a `msg` of neither
  // handshake size `out` is zeroed, which no peer accepts.
  void create_reply(std::span<const uint8_t> msg, uint32_t receiver_index, std::span<const uint8_t> source,
                    int64_t now_ns, std::span<uint8_t, kCookieReplySize> out);

 private:
  Mac make_cookie(std::span<const uint8_t> source) const;
  bool secret_valid(int64_t now_ns) const;

  Key mac1_key_{};
  Key cookie_key_{};
  Key secret_{};
  int64_t secret_birth_ns_ = 0;
  bool has_secret_ = false;
};

// Initiator side, one per peer.
class CookieMaker {
 public:
  CookieMaker() = default;
  ~CookieMaker();
  CookieMaker(const CookieMaker&) = delete;
  CookieMaker& operator=(const CookieMaker&) = delete;

  // Derives the keys from the peer's public key and forgets any cookie held for the old one.
  void init(const PublicKey& remote_public);

  // Fills mac1 and mac2 of an outgoing initiation or response in place (`msg` caller-owned).
  // mac2 is the cookie's MAC if one younger than 120 s is held, else zero. Remembers mac1 so
  // that a cookie reply to this message can be authenticated.
  void add_macs(std::span<uint8_t> msg, int64_t now_ns);

  // Decrypts a cookie reply, which must answer the last message we added macs to. True if
  // the cookie was stored; each mac1 can be answered once.
  bool consume_reply(std::span<const uint8_t, kCookieReplySize> reply, int64_t now_ns);

 private:
  Key mac1_key_{};
  Key cookie_key_{};
  Mac cookie_{};
  int64_t cookie_birth_ns_ = 0;
  bool has_cookie_ = false;
  Mac last_mac1_{};
  bool has_last_mac1_ = false;
};

}  // namespace sluice::crypto
