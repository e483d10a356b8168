#include "tunnel/counters.h"

namespace sluice {

std::string_view drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::InvalidInnerPacket: return "invalid_inner_packet";
    case DropReason::NoRouteToPeer: return "no_route_to_peer";
    case DropReason::NoEndpoint: return "no_endpoint";
    case DropReason::StagedQueueFull: return "staged_queue_full";
    case DropReason::HandshakeTimeout: return "handshake_timeout";
    case DropReason::InvalidMessage: return "invalid_message";
    case DropReason::BadMac1: return "bad_mac1";
    case DropReason::CookieRequired: return "cookie_required";
    case DropReason::RateLimited: return "rate_limited";
    case DropReason::HandshakeFailed: return "handshake_failed";
    case DropReason::UnknownPeer: return "unknown_peer";
    case DropReason::ReplayedHandshake: return "replayed_handshake";
    case DropReason::HandshakeFlood: return "handshake_flood";
    case DropReason::UnknownReceiverIndex: return "unknown_receiver_index";
    case DropReason::KeypairExpired: return "keypair_expired";
    case DropReason::DecryptionFailed: return "decryption_failed";
    case DropReason::ReplayedCounter: return "replayed_counter";
    case DropReason::SourceNotAllowed: return "source_not_allowed";
    case DropReason::InvalidDecrypted: return "invalid_decrypted";
    case DropReason::NoPrivateKey: return "no_private_key";
    case DropReason::BufferPoolEmpty: return "buffer_pool_empty";
    case DropReason::Count: break;
  }
  return "unknown";
}

}  // namespace sluice
