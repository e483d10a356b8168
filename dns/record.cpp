#include "dns/record.h"

#include <algorithm>

namespace sluice::dns {

namespace {

uint16_t load16(std::span<const uint8_t> m, size_t at) { return static_cast<uint16_t>(m[at] << 8 | m[at + 1]); }
uint32_t load32(std::span<const uint8_t> m, size_t at) {
  return uint32_t{m[at]} << 24 | uint32_t{m[at + 1]} << 16 | uint32_t{m[at + 2]} << 8 | m[at + 3];
}

template <class T>
constexpr size_t index_of() {
  return rdata_index<T>;
}

// Reads a name that must lie inside the RDATA [.., end): its own bytes end by `end`.
WireError rdata_name(std::span<const uint8_t> m, size_t& pos, size_t end, Name& out, PriorLabels* prior) {
  size_t next = 0;
  WireError e = read_name(m, pos, end, out, next, prior);
  if (e != WireError::None) return e;
  pos = next;
  return WireError::None;
}

class Output {
 public:
  Output(std::span<uint8_t> m, size_t& offset) : m_(m), offset_(offset) {}
  bool u16(uint16_t v) {
    if (!room(2)) return false;
    m_[offset_++] = static_cast<uint8_t>(v >> 8);
    m_[offset_++] = static_cast<uint8_t>(v);
    return true;
  }
  bool u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)) && u16(static_cast<uint16_t>(v)); }
  bool bytes(std::span<const uint8_t> b) {
    if (!room(b.size())) return false;
    std::copy(b.begin(), b.end(), m_.begin() + static_cast<ptrdiff_t>(offset_));
    offset_ += b.size();
    return true;
  }

 private:
  bool room(size_t n) const { return offset_ <= m_.size() && m_.size() - offset_ >= n; }
  std::span<uint8_t> m_;
  size_t& offset_;
};

}  // namespace

size_t rdata_kind(RecordType type, RecordClass record_class) {
  bool in = record_class == RecordClass::IN;
  switch (type) {
    case RecordType::A: return in ? index_of<AData>() : index_of<OpaqueData>();
    case RecordType::AAAA: return in ? index_of<AaaaData>() : index_of<OpaqueData>();
    case RecordType::SRV: return in ? index_of<SrvData>() : index_of<OpaqueData>();
    case RecordType::NS: return index_of<NsData>();
    case RecordType::CNAME: return index_of<CnameData>();
    case RecordType::PTR: return index_of<PtrData>();
    case RecordType::MX: return index_of<MxData>();
    case RecordType::TXT: return index_of<TxtData>();
    case RecordType::SOA: return index_of<SoaData>();
    default: return index_of<OpaqueData>();
  }
}

bool ResourceRecord::operator==(const ResourceRecord& other) const {
  return name == other.name && type == other.type && record_class == other.record_class && ttl == other.ttl &&
         data == other.data;
}

ResourceRecord make_record(const Name& owner, uint32_t ttl, RData data, RecordType opaque_type) {
  static constexpr RecordType kTypes[] = {RecordType::A,   RecordType::AAAA, RecordType::NS,  RecordType::CNAME,
                                          RecordType::PTR, RecordType::MX,   RecordType::TXT, RecordType::SRV,
                                          RecordType::SOA};
  static_assert(std::variant_size_v<RData> == std::size(kTypes) + 1, "one type per typed alternative");
  ResourceRecord r;
  r.name = owner;
  r.ttl = ttl;
  r.type = data.index() < std::size(kTypes) ? kTypes[data.index()] : opaque_type;
  r.data = std::move(data);
  return r;
}

WireError read_rdata(std::span<const uint8_t> m, size_t offset, size_t length, RecordType type,
                     RecordClass record_class, RData& out, PriorLabels* prior) {
  if (offset > m.size() || m.size() - offset < length) return WireError::TruncatedRdata;
  const size_t end = offset + length;
  size_t pos = offset;
  WireError e = WireError::None;
  // Every branch leaves `pos` where its format ends; it must be exactly `end`.
  switch (rdata_kind(type, record_class)) {
    case index_of<AData>(): {
      if (length != 4) return WireError::BadRdata;
      AData a;
      std::copy_n(m.begin() + static_cast<ptrdiff_t>(pos), 4, a.address.begin());
      out = a;
      return WireError::None;
    }
    case index_of<AaaaData>(): {
      if (length != 16) return WireError::BadRdata;
      AaaaData a;
      std::copy_n(m.begin() + static_cast<ptrdiff_t>(pos), 16, a.address.begin());
      out = a;
      return WireError::None;
    }
    case index_of<NsData>(): {
      NsData d;
      if ((e = rdata_name(m, pos, end, d.host, prior)) != WireError::None) return e;
      if (pos != end) return WireError::BadRdata;
      out = d;
      return WireError::None;
    }
    case index_of<CnameData>(): {
      CnameData d;
      if ((e = rdata_name(m, pos, end, d.target, prior)) != WireError::None) return e;
      if (pos != end) return WireError::BadRdata;
      out = d;
      return WireError::None;
    }
    case index_of<PtrData>(): {
      PtrData d;
      if ((e = rdata_name(m, pos, end, d.target, prior)) != WireError::None) return e;
      if (pos != end) return WireError::BadRdata;
      out = d;
      return WireError::None;
    }
    case index_of<MxData>(): {
      if (length < 3) return WireError::BadRdata;
      MxData d;
      d.preference = load16(m, pos);
      pos += 2;
      if ((e = rdata_name(m, pos, end, d.exchange, prior)) != WireError::None) return e;
      if (pos != end) return WireError::BadRdata;
      out = d;
      return WireError::None;
    }
    case index_of<TxtData>(): {
      TxtData d;
      while (pos < end) {
        size_t n = m[pos++];
        if (end - pos < n) return WireError::BadRdata;
        d.strings.emplace_back(reinterpret_cast<const char*>(m.data() + pos), n);
        pos += n;
      }
      out = std::move(d);
      return WireError::None;
    }
    case index_of<SrvData>(): {
      if (length < 7) return WireError::BadRdata;
      SrvData d;
      d.priority = load16(m, pos);
      d.weight = load16(m, pos + 2);
      d.port = load16(m, pos + 4);
      pos += 6;
      if ((e = rdata_name(m, pos, end, d.target, prior)) != WireError::None) return e;
      if (pos != end) return WireError::BadRdata;
      out = d;
      return WireError::None;
    }
    case index_of<SoaData>(): {
      SoaData d;
      if ((e = rdata_name(m, pos, end, d.mname, prior)) != WireError::None) return e;
      if ((e = rdata_name(m, pos, end, d.rname, prior)) != WireError::None) return e;
      if (end - pos != 20) return WireError::BadRdata;
      d.serial = load32(m, pos);
      d.refresh = load32(m, pos + 4);
      d.retry = load32(m, pos + 8);
      d.expire = load32(m, pos + 12);
      d.minimum = load32(m, pos + 16);
      out = d;
      return WireError::None;
    }
    default: {
      OpaqueData d;
      d.bytes.assign(m.begin() + static_cast<ptrdiff_t>(offset), m.begin() + static_cast<ptrdiff_t>(end));
      out = std::move(d);
      return WireError::None;
    }
  }
}

WireError check_rdata(std::span<const uint8_t> m, size_t offset, size_t length, RecordType type,
                      RecordClass record_class, PriorLabels* prior) {
  if (offset > m.size() || m.size() - offset < length) return WireError::TruncatedRdata;
  switch (rdata_kind(type, record_class)) {
    case index_of<TxtData>(): {
      // Strings are only framed, never copied.
      for (size_t pos = offset, end = offset + length; pos < end;) {
        size_t n = m[pos++];
        if (end - pos < n) return WireError::BadRdata;
        pos += n;
      }
      return WireError::None;
    }
    case index_of<OpaqueData>():
      return WireError::None;
    default: {
      RData scratch;  // every other alternative holds its names inline: nothing is allocated
      return read_rdata(m, offset, length, type, record_class, scratch, prior);
    }
  }
}

WireError write_rdata(const ResourceRecord& record, std::span<uint8_t> m, size_t& offset, NameCompressor& names) {
  if (record.data.index() != rdata_kind(record.type, record.record_class)) return WireError::RdataMismatch;
  Output out(m, offset);
  auto name = [&](const Name& n, bool compress) { return names.write(n, m, offset, compress); };
  const WireError no_space = WireError::NoSpace;
  return std::visit(
      [&](const auto& d) -> WireError {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, AData> || std::is_same_v<T, AaaaData>) {
          return out.bytes(d.address) ? WireError::None : no_space;
        } else if constexpr (std::is_same_v<T, NsData>) {
          return name(d.host, true);
        } else if constexpr (std::is_same_v<T, CnameData> || std::is_same_v<T, PtrData>) {
          return name(d.target, true);
        } else if constexpr (std::is_same_v<T, MxData>) {
          if (!out.u16(d.preference)) return no_space;
          return name(d.exchange, true);
        } else if constexpr (std::is_same_v<T, TxtData>) {
          for (const std::string& s : d.strings) {
            if (s.size() > 255) return WireError::RdataTooLong;
            uint8_t n = static_cast<uint8_t>(s.size());
            if (!out.bytes({&n, 1}) || !out.bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()}))
              return no_space;
          }
          return WireError::None;
        } else if constexpr (std::is_same_v<T, SrvData>) {
          if (!out.u16(d.priority) || !out.u16(d.weight) || !out.u16(d.port)) return no_space;
          return name(d.target, false);
        } else if constexpr (std::is_same_v<T, SoaData>) {
          WireError e = name(d.mname, true);
          if (e == WireError::None) e = name(d.rname, true);
          if (e != WireError::None) return e;
          bool ok = out.u32(d.serial) && out.u32(d.refresh) && out.u32(d.retry) && out.u32(d.expire) &&
                    out.u32(d.minimum);
          return ok ? WireError::None : no_space;
        } else {
          return out.bytes(d.bytes) ? WireError::None : no_space;
        }
      },
      record.data);
}

}  // namespace sluice::dns
