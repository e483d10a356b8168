// WireGuard's handshake: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with the WireGuard identifier
// as prologue, framed into the HandshakeInitiation and HandshakeResponse messages.
//
// Sequence:
//   initiator  create_initiation                  -> 148 bytes (cookie layer adds macs)
//   responder  decrypt_initiation_static           (find the peer by remote_static)
//              decrypt_initiation_timestamp        (with that peer's precomputed DH)
//              create_response                     -> 92 bytes + SessionKeys
//   initiator  consume_response                    -> SessionKeys
// Nothing here keeps per-peer state or checks timestamps for replay; the caller does.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "crypto/blake2s.h"
#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/tai64n.h"

namespace sluice::crypto {

inline constexpr std::string_view kNoiseConstruction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr std::string_view kWireGuardIdentifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";

struct StaticIdentity {
  PrivateKey private_key{};
  PublicKey public_key{};  // public_key_of(private_key)
};

// Transport keys of one session. Plain data: the owner wipes them when done.
struct SessionKeys {
  Key sending{};
  Key receiving{};
};

// Initiator state between sending the initiation and receiving the response. The owner
// wipes it once the response is consumed or the attempt is abandoned.
struct InitiatorHandshake {
  Hash hash{};
  Key chaining_key{};
  PrivateKey ephemeral_private{};
  uint32_t local_index = 0;
};

// Writes a complete initiation into `out` (caller-owned) with mac1/mac2 left zero (the
// cookie layer fills them) and fills `state`. `precomputed_static_static` = DH(local static,
// remote static). `preshared_key` is not used until the response (psk2) and is accepted here
// only for symmetry. Draws the ephemeral key from randombytes_buf. False if a DH result is
// zero, in which case `state` and `out` are wiped.
bool create_initiation(const StaticIdentity& local, const PublicKey& remote_static,
                       const Key& precomputed_static_static, const Key& preshared_key, uint32_t local_index,
                       const Tai64n& timestamp, InitiatorHandshake& state,
                       std::span<uint8_t, kHandshakeInitiationSize> out);

// Responder state between reading an initiation and answering it. hash and chaining_key are
// secret; create_response wipes them, and the owner wipes the struct if it gives up earlier.
struct ConsumedInitiation {
  Hash hash{};
  Key chaining_key{};
  PublicKey remote_ephemeral{};
  PublicKey remote_static{};
  uint32_t remote_index = 0;
  Tai64n timestamp{};
};

// Responder, step 1: authenticates and decrypts the initiator's static key so the caller can
// find the peer. `msg` (caller-owned, read only) must carry type 1 with zero reserved bytes;
// mac1 is the caller's to check first. nullopt on any failure.
std::optional<ConsumedInitiation> decrypt_initiation_static(const StaticIdentity& local,
                                                            std::span<const uint8_t, kHandshakeInitiationSize> msg);

// Responder, step 2: with the peer's precomputed DH(local static, remote static), decrypts the
// timestamp into `st`. False on authentication failure or a zero DH; `st` is then unchanged.
bool decrypt_initiation_timestamp(ConsumedInitiation& st, const Key& precomputed_static_static,
                                  std::span<const uint8_t, kHandshakeInitiationSize> msg);

// Responder: writes the response into `out` (caller-owned, macs zero) and returns the keys
// (responder's sending = initiator's receiving). Draws the ephemeral key from randombytes_buf.
// Wipes st.hash and st.chaining_key whatever the outcome; the identity fields stay.
std::optional<SessionKeys> create_response(ConsumedInitiation& st, const Key& preshared_key, uint32_t local_index,
                                           std::span<uint8_t, kHandshakeResponseSize> out);

// Initiator: verifies a response (type 2, reserved zero, receiver index = st.local_index) and
// returns the keys, or nullopt on any failure. `st` is never changed; on success the caller
// wipes it, on failure it stays valid for the genuine response.
std::optional<SessionKeys> consume_response(const InitiatorHandshake& st, const StaticIdentity& local,
                                            const Key& preshared_key,
                                            std::span<const uint8_t, kHandshakeResponseSize> msg);

}  // namespace sluice::crypto
