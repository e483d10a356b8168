// Questions and resource records (RFC 1035 §4.1.2-4.1.3) and the RDATA of the types the
// interceptor reads or synthesises: A, AAAA (RFC 3596), CNAME, NS, PTR, MX, TXT, SRV
// (RFC 2782) and SOA. Every other type (HTTPS, SVCB, DNSKEY, ...) is carried as its raw RDATA
// bytes, as RFC 3597 asks of unknown types. OPT (RFC 6891) is not a record here but the
// message's Edns.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "dns/name.h"

namespace sluice::dns {

// Any 16-bit value is a valid RecordType; the named ones are those this layer knows about.
enum class RecordType : uint16_t {
  A = 1,
  NS = 2,
  CNAME = 5,
  SOA = 6,
  PTR = 12,
  MX = 15,
  TXT = 16,
  AAAA = 28,
  SRV = 33,
  OPT = 41,
  SVCB = 64,
  HTTPS = 65,
  ANY = 255,
};

enum class RecordClass : uint16_t { IN = 1, CH = 3, HS = 4, NONE = 254, ANY = 255 };

struct Question {
  Name name;
  RecordType type = RecordType::A;
  RecordClass record_class = RecordClass::IN;
  bool operator==(const Question&) const = default;
};

struct AData {
  std::array<uint8_t, 4> address{};
  bool operator==(const AData&) const = default;
};
struct AaaaData {
  std::array<uint8_t, 16> address{};
  bool operator==(const AaaaData&) const = default;
};
struct NsData {
  Name host;
  bool operator==(const NsData&) const = default;
};
struct CnameData {
  Name target;
  bool operator==(const CnameData&) const = default;
};
struct PtrData {
  Name target;
  bool operator==(const PtrData&) const = default;
};
struct MxData {
  uint16_t preference = 0;
  Name exchange;
  bool operator==(const MxData&) const = default;
};
// One or more <character-string>s, each at most 255 bytes of any value. An empty RDATA is
// accepted (seen in the wild) and kept as no strings.
struct TxtData {
  std::vector<std::string> strings;
  bool operator==(const TxtData&) const = default;
};
struct SrvData {
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  Name target;  // decompressed on read, never compressed on write (RFC 2782)
  bool operator==(const SrvData&) const = default;
};
struct SoaData {
  Name mname;
  Name rname;
  uint32_t serial = 0;
  uint32_t refresh = 0;
  uint32_t retry = 0;
  uint32_t expire = 0;
  uint32_t minimum = 0;  // the negative-caching TTL bound (RFC 2308 §4)
  bool operator==(const SoaData&) const = default;
};
// RDATA of any type not decoded above, byte for byte as received. It is written back
// unchanged, so it must not hold compression pointers: true of every type defined after
// RFC 1035 (RFC 3597 §4). The obsolete RFC 1035 types MD, MF, MB, MG, MR and MINFO, which
// could, are not decoded; a message carrying them compressed is only safe to pass on as its
// original bytes (the in-place functions in message.h do that).
struct OpaqueData {
  std::vector<uint8_t> bytes;
  bool operator==(const OpaqueData&) const = default;
};

using RData = std::variant<AData, AaaaData, NsData, CnameData, PtrData, MxData, TxtData, SrvData,
                           SoaData, OpaqueData>;

namespace detail {
template <class T, class... Ts>
constexpr size_t alternative_index(const std::variant<Ts...>*) {
  constexpr bool same[] = {std::is_same_v<T, Ts>...};
  for (size_t i = 0; i < sizeof...(Ts); ++i)
    if (same[i]) return i;
  return sizeof...(Ts);
}
}  // namespace detail

// The variant index of an RData alternative: rdata_index<SoaData> == 8.
template <class T>
inline constexpr size_t rdata_index = detail::alternative_index<T>(static_cast<const RData*>(nullptr));

// Which RData alternative (its variant index) a record of this type and class uses. A, AAAA
// and SRV mean something else outside class IN (RFC 3597 §4 calls them class-specific), so
// there they are opaque; OPT is never a record and maps to opaque too.
size_t rdata_kind(RecordType type, RecordClass record_class);

struct ResourceRecord {
  Name name;
  RecordType type = RecordType::A;
  RecordClass record_class = RecordClass::IN;
  uint32_t ttl = 0;  // as on the wire; RFC 2181 §8 reads values with the top bit set as 0
  RData data;
  // Where the TTL field sat in the message this record was parsed from, so a cache can
  // rewrite it in place; 0 for records built in code. Not part of the record's value.
  uint16_t ttl_offset = 0;

  // Compares owner (case-insensitively), type, class, TTL and RDATA; not ttl_offset.
  bool operator==(const ResourceRecord& other) const;
};

// A class-IN record whose type follows from `data` (AData is A, SoaData is SOA, ...). For
// OpaqueData, which says nothing about its type, pass `opaque_type`.
ResourceRecord make_record(const Name& owner, uint32_t ttl, RData data,
                           RecordType opaque_type = RecordType{0});

// Decodes the RDATA of one record: `length` bytes at `offset` in `message` (the whole
// message, borrowed for the call, since names inside RDATA may point anywhere before them).
// The RDATA must be exactly consumed by its format, or the result is BadRdata; names report
// their own errors, and with `prior` (borrowed) follow its rule (see read_name()) and are
// recorded in it. Fills `out` (which owns copies of everything) only on success.
WireError read_rdata(std::span<const uint8_t> message, size_t offset, size_t length, RecordType type,
                     RecordClass record_class, RData& out, PriorLabels* prior = nullptr);

// Gives the same answer as read_rdata() without allocating and without keeping anything: the
// readers that only walk a message use it, so that they accept exactly what the full parser
// accepts, and so that later pointers may lead to names inside RDATA.
WireError check_rdata(std::span<const uint8_t> message, size_t offset, size_t length, RecordType type,
                      RecordClass record_class, PriorLabels* prior = nullptr);

// Writes the RDATA of `record` (without RDLENGTH) into `message` (the message being built,
// borrowed for the call) at `offset`, advancing it. Names of the RFC 1035 types are compressed
// through `names`; the SRV target is not. Returns RdataMismatch if record.data is not the
// alternative rdata_kind() names, RdataTooLong for a TXT string over 255 bytes, NoSpace if it
// does not fit (then the bytes from `offset` on may have been overwritten).
WireError write_rdata(const ResourceRecord& record, std::span<uint8_t> message, size_t& offset,
                      NameCompressor& names);

}  // namespace sluice::dns
